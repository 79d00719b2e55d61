"""Measure, on a GPU host, what one decode step of a Gated DeltaNet layer costs per sequence.

The planner prices a hybrid model's linear-attention layers (Qwen3-Next, Qwen3.5) at decode as
their float32 recurrent state read and written once per running sequence, at memory bandwidth
(`planner/roofline.py`, `state_bytes_per_seq`). This script checks that assumption: a fused
Triton kernel runs the gated delta rule's decode update for B sequences and H value heads of
128 x 128 (decay, delta-rule write, read-out: S <- g S + k (beta (v - S^T k))^T, o = S^T q), and
a device-to-device copy moves the same bytes. If the update is bandwidth-bound, as engines'
kernels are written to be, its time is close to the copy's.

Shapes: Qwen3.5-397B-A17B's layer per GPU at TP 8 (8 value heads, 2 key heads) and at TP 2 (32
and 8), for 32 to 1024 running sequences. The Triton result is checked against a PyTorch
reference before it is timed.

    python bench/gdn_state_probe.py --out gdn_state.json

Needs PyTorch with CUDA and Triton (which PyTorch's CUDA wheels bring); runs in under a minute.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_kernels import timed  # noqa: E402

DK = DV = 128  # Qwen3.5 / Qwen3-Next linear_key_head_dim, linear_value_head_dim
SHAPES = {"qwen3.5_tp8": (8, 2), "qwen3.5_tp2": (32, 8)}  # value heads, key heads per GPU
BATCHES = [32, 128, 512, 1024]


def reference(torch, s, q, k, v, g, beta, heads, key_heads):
    """The gated delta rule's decode step in PyTorch (float32): updates `s` in place, returns o."""
    rep = heads // key_heads
    kk = k.float().repeat_interleave(rep, dim=1)  # [B, H, DK]
    qq = q.float().repeat_interleave(rep, dim=1)
    s.mul_(g[..., None, None])
    kv = torch.einsum("bhkv,bhk->bhv", s, kk)
    delta = (v.float() - kv) * beta[..., None]
    s.add_(kk[..., :, None] * delta[..., None, :])
    return torch.einsum("bhkv,bhk->bhv", s, qq)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args(argv)
    try:
        import torch
        import triton
        import triton.language as tl
    except ImportError as exc:
        raise SystemExit(f"error: needs PyTorch and Triton: {exc}") from None
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device")

    @triton.jit
    def gdn_decode(S, Q, K, V, G, BETA, OUT, H: tl.constexpr, HK: tl.constexpr, D_K: tl.constexpr, D_V: tl.constexpr, BV: tl.constexpr):
        b, h, vb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        hk = h // (H // HK)
        rk = tl.arange(0, D_K)
        rv = vb * BV + tl.arange(0, BV)
        s_ptr = S + (b * H + h) * D_K * D_V + rk[:, None] * D_V + rv[None, :]
        s = tl.load(s_ptr)
        kk = tl.load(K + (b * HK + hk) * D_K + rk).to(tl.float32)
        qq = tl.load(Q + (b * HK + hk) * D_K + rk).to(tl.float32)
        vv = tl.load(V + (b * H + h) * D_V + rv).to(tl.float32)
        g = tl.load(G + b * H + h)
        beta = tl.load(BETA + b * H + h)
        s = s * g
        kv = tl.sum(s * kk[:, None], axis=0)
        s = s + kk[:, None] * ((vv - kv) * beta)[None, :]
        tl.store(s_ptr, s)
        tl.store(OUT + (b * H + h) * D_V + rv, tl.sum(s * qq[:, None], axis=0).to(tl.bfloat16))

    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    rows = []
    for name, (heads, key_heads) in SHAPES.items():
        for batch in BATCHES:
            gen = torch.Generator(device=dev).manual_seed(0)
            s = torch.randn(batch, heads, DK, DV, device=dev, generator=gen) * 0.1
            q = torch.randn(batch, key_heads, DK, device=dev, dtype=torch.bfloat16, generator=gen) / DK**0.5
            k = torch.nn.functional.normalize(torch.randn(batch, key_heads, DK, device=dev, generator=gen), dim=-1).bfloat16()
            v = torch.randn(batch, heads, DV, device=dev, dtype=torch.bfloat16, generator=gen)
            g = torch.rand(batch, heads, device=dev, generator=gen) * 0.1 + 0.9
            beta = torch.rand(batch, heads, device=dev, generator=gen)
            o = torch.empty(batch, heads, DV, device=dev, dtype=torch.bfloat16)
            grid = (batch, heads, DV // 32)

            def step(s=s, q=q, k=k, v=v, g=g, beta=beta, o=o, grid=grid, heads=heads, key_heads=key_heads):
                gdn_decode[grid](s, q, k, v, g, beta, o, H=heads, HK=key_heads, D_K=DK, D_V=DV, BV=32)

            check = s.clone()
            expected = reference(torch, check, q, k, v, g, beta, heads, key_heads)
            step()
            torch.cuda.synchronize()
            err_state = float((s - check).abs().max())
            err_out = float((o.float() - expected).abs().max() / expected.abs().max())
            if err_state > 1e-3 or err_out > 2e-2:
                raise SystemExit(f"error: Triton kernel disagrees with the reference ({name}, B={batch}): state {err_state:.2e}, output {err_out:.2e}")
            state_bytes = s.numel() * s.element_size()
            src, dst = s.clone(), torch.empty_like(s)
            t_kernel = timed(torch, step, repeats=50)
            t_copy = timed(torch, lambda src=src, dst=dst: dst.copy_(src), repeats=50)
            rows.append(
                {
                    "shape": name,
                    "value_heads": heads,
                    "key_heads": key_heads,
                    "batch": batch,
                    "state_mib": round(state_bytes / 2**20, 1),
                    "kernel_us": round(t_kernel * 1e6, 2),
                    "copy_us": round(t_copy * 1e6, 2),
                    "kernel_tb_s": round(2 * state_bytes / t_kernel / 1e12, 3),
                    "copy_tb_s": round(2 * state_bytes / t_copy / 1e12, 3),
                    "kernel_over_copy": round(t_kernel / t_copy, 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    info = {
        "gpu": props.name,
        "memory_mib": props.total_memory // 2**20,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "command": "python bench/gdn_state_probe.py --out " + args.out.rsplit("/", 1)[-1],
    }
    with open(args.out, "w") as fh:
        json.dump({"machine": info, "rows": rows}, fh, indent=1)
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
