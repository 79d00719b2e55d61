"""Measure, on a GPU host, the kernel rates the analytic step-time model assumes.

The step-time model (`planner/roofline.py`) prices a layer's GEMMs by their FLOPs over
`peak x eta_compute` plus (overlap exponent 1) their weight bytes over `bandwidth x eta_memory`,
and a MoE layer's experts as the same GEMMs spread over the experts. This script times what
those assumptions describe, with PyTorch only (no TensorRT-LLM):

- `gemm`: one layer's projections at decode and prefill batch sizes M (Llama-3.1-8B's fused QKV,
  gate+up and down shapes), in BF16 and FP8 (`torch._scaled_mm`), with the weights rotated
  through enough copies that they stream from HBM as in a real step, not from L2;
- `grouped`: a MoE layer's two expert GEMMs (`torch._grouped_mm`, BF16) for T tokens routed
  evenly to top-k of E experts, at Qwen3-30B-A3B's and Mixtral-8x7B's shapes;
- `copy` / `read`: device-to-device copy and a read-only reduction over 2 GiB.

Each row has the time (median of CUDA-event-timed repeats), the FLOPs and the bytes that must
move (weights once, activations in and out), so the achieved fraction of any peak follows.

    python bench/gpu_kernels.py --out kernels.csv

Runs in about two minutes on an H100/H200. `bench/kernel_fit.py` compares a result file with
the model's assumptions.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time

LAYERS = {  # name: (N, K) of y[M, N] = x[M, K] @ W[K, N]
    "llama8b_qkv": (6144, 4096),
    "llama8b_gate_up": (28672, 4096),
    "llama8b_down": (4096, 14336),
}
MOE = {  # name: (experts, top-k, hidden, expert intermediate)
    "qwen3_30b_a3b": (128, 8, 2048, 768),
    "mixtral_8x7b": (8, 2, 4096, 14336),
}
M_VALUES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384]
ROTATE_BYTES = 1 << 30  # weight copies to cycle through: far more than any L2


def timed(torch, fn, repeats: int = 30) -> float:
    """Median seconds of `fn()` over `repeats` CUDA-event-timed calls, after warm-up."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def rotating(torch, make, nbytes: int):
    """Enough independent copies of a tensor that cycling through them defeats the L2 cache."""
    copies = max(2, min(64, ROTATE_BYTES // max(nbytes, 1)))
    return [make() for _ in range(copies)]


def gemm_rows(torch, dev):
    rows = []
    for name, (n, k) in LAYERS.items():
        for dtype in ("bf16", "fp8"):
            wbytes = n * k * (2 if dtype == "bf16" else 1)
            if dtype == "bf16":
                ws = rotating(torch, lambda k=k, n=n: torch.randn(k, n, device=dev, dtype=torch.bfloat16), wbytes)
            else:  # column-major [K, N] as _scaled_mm wants it
                ws = rotating(torch, lambda k=k, n=n: torch.randn(n, k, device=dev).to(torch.float8_e4m3fn).t(), wbytes)
            one = torch.ones((), device=dev, dtype=torch.float32)
            for m in M_VALUES:
                if dtype == "bf16":
                    x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
                    it = iter(range(10**9))

                    def fn(x=x, ws=ws, it=it):
                        return x @ ws[next(it) % len(ws)]
                else:
                    x = torch.randn(m, k, device=dev).to(torch.float8_e4m3fn)
                    it = iter(range(10**9))

                    def fn(x=x, ws=ws, it=it, one=one):
                        return torch._scaled_mm(x, ws[next(it) % len(ws)], scale_a=one, scale_b=one, out_dtype=torch.bfloat16)

                try:
                    t = timed(torch, fn)
                except (RuntimeError, TypeError) as exc:
                    print(f"gemm {name} {dtype} M={m}: {str(exc).splitlines()[0]}", file=sys.stderr)
                    continue
                act = m * k * (2 if dtype == "bf16" else 1) + m * n * 2
                rows.append(
                    dict(kind="gemm", name=name, dtype=dtype, m=m, n=n, k=k, experts=1, top_k=1, tokens=m, seconds=t, flops=2.0 * m * n * k, bytes=wbytes + act)
                )
            del ws
            torch.cuda.empty_cache()
    return rows


def grouped_rows(torch, dev):
    rows = []
    if not hasattr(torch, "_grouped_mm"):
        print("torch._grouped_mm not available: grouped GEMMs skipped", file=sys.stderr)
        return rows
    for name, (e, top_k, h, inter) in MOE.items():
        for gemm, (k, n) in (("gate_up", (h, 2 * inter)), ("down", (inter, h))):
            wbytes = e * k * n * 2
            ws = rotating(torch, lambda k=k, n=n, e=e: torch.randn(e, n, k, device=dev, dtype=torch.bfloat16).transpose(1, 2), wbytes)
            for tokens in TOKENS:
                slots = tokens * top_k
                base, extra = divmod(slots, e)
                sizes = [base + (1 if i < extra else 0) for i in range(e)]
                touched = sum(1 for s in sizes if s)
                offs = torch.tensor(sizes, device=dev, dtype=torch.int32).cumsum(0).to(torch.int32)
                x = torch.randn(slots, k, device=dev, dtype=torch.bfloat16)
                it = iter(range(10**9))

                def fn(x=x, ws=ws, offs=offs, it=it):
                    return torch._grouped_mm(x, ws[next(it) % len(ws)], offs=offs, out_dtype=torch.bfloat16)

                try:
                    t = timed(torch, fn)
                except (RuntimeError, TypeError) as exc:
                    print(f"grouped {name} {gemm} T={tokens}: {str(exc).splitlines()[0]}", file=sys.stderr)
                    continue
                moved = touched * k * n * 2 + slots * (k + n) * 2
                rows.append(
                    dict(
                        kind="grouped",
                        name=f"{name}_{gemm}",
                        dtype="bf16",
                        m=slots,
                        n=n,
                        k=k,
                        experts=e,
                        top_k=top_k,
                        tokens=tokens,
                        seconds=t,
                        flops=2.0 * slots * n * k,
                        bytes=moved,
                    )
                )
            del ws
            torch.cuda.empty_cache()
    return rows


def bandwidth_rows(torch, dev):
    n = (2 << 30) // 4
    src = torch.empty(n, device=dev, dtype=torch.float32).normal_()
    dst = torch.empty_like(src)
    t_copy = timed(torch, lambda: dst.copy_(src), repeats=20)
    t_read = timed(torch, lambda: src.sum(), repeats=20)
    return [
        dict(kind="copy", name="copy_2GiB", dtype="fp32", m=0, n=0, k=0, experts=0, top_k=0, tokens=0, seconds=t_copy, flops=0.0, bytes=2.0 * n * 4),
        dict(kind="read", name="sum_2GiB", dtype="fp32", m=0, n=0, k=0, experts=0, top_k=0, tokens=0, seconds=t_read, flops=0.0, bytes=1.0 * n * 4),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="CSV file to write")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("error: this script needs a CUDA GPU")
    dev = "cuda"
    props = torch.cuda.get_device_properties(0)
    started = time.time()
    rows = bandwidth_rows(torch, dev) + gemm_rows(torch, dev) + grouped_rows(torch, dev) + bandwidth_rows(torch, dev)
    for r in rows:
        r.update(device=props.name, torch=torch.__version__, cuda=str(torch.version.cuda), sms=props.multi_processor_count)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        tf = r["flops"] / r["seconds"] / 1e12
        bw = r["bytes"] / r["seconds"] / 1e12
        print(f"{r['kind']:8s} {r['name']:26s} {r['dtype']:5s} T={r['tokens']:6d} M={r['m']:7d} {r['seconds'] * 1e6:10.1f} us {tf:8.1f} TFLOP/s {bw:6.2f} TB/s")
    print(f"{len(rows)} rows in {time.time() - started:.0f} s on {props.name} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
