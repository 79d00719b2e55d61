"""How far the closed-form latency approximation (used by sweeps and `recommend`) is from the
discrete-event simulation it stands in for.

For a spread of deployments (dense and MoE, TP 1-8, the three engines' schedulers, fixed and
distributed lengths, long prompts with short answers) at 20%, 40%, 60% and 80% of each one's simulated sustainable rate: the
absolute percentage difference of the approximation from the simulation, median and p90 over
all points, per metric, and per load. Also the closed-loop closed form (`serving.concurrency`,
what `sweep` without --rates and calibration's concurrency rows use) against the simulated
benchmark run at 4, 32 and 128 clients, whose clients all start at once (the burst is part of
what such a run measures). The closed form is for equal lengths, as a sweep's grid points and a
benchmark's rows have them; the deployments with length distributions give it their mean lengths
and are not expected to match it (their clients do not move in groups).

    python bench/serving.py [--requests N]

The last line is a `key=value` summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog import get_gpu, get_model  # noqa: E402
from planner.defaults import DEFAULT_EFFICIENCIES  # noqa: E402
from planner.load import RateModel, simulate_load, sustainable_rate  # noqa: E402
from planner.serving import concurrency, prepare  # noqa: E402
from planner.specs import DEFAULT_KV, EngineSettings, Precision  # noqa: E402
from planner.workload import parse_workload  # noqa: E402

CASES = [
    ("meta-llama/Llama-3.1-8B", "H100", "fp8", 1, "trtllm", "isl=1024;osl=256"),
    ("meta-llama/Llama-3.1-8B", "L40S", "fp8", 1, "vllm", "isl=lognormal:median=600,sigma=0.8;osl=lognormal:median=150,sigma=0.6"),
    ("meta-llama/Llama-3.1-8B", "A100-SXM-80GB", "fp16", 1, "sglang", "isl=2048;osl=128"),
    ("meta-llama/Llama-3.1-70B", "H100", "fp8", 4, "trtllm", "isl=2048;osl=512"),
    ("meta-llama/Llama-3.1-70B", "H100", "fp8", 4, "vllm", "isl=lognormal:median=800,sigma=0.8;osl=lognormal:median=200,sigma=0.7"),
    ("meta-llama/Llama-3.1-70B", "H200", "fp8", 2, "trtllm", "isl=normal:mean=4000,std=1000;osl=uniform:low=100,high=600"),
    ("mistralai/Mixtral-8x7B-v0.1", "H100", "fp8", 2, "trtllm", "isl=512;osl=512"),
    ("Qwen/Qwen3-235B-A22B-FP8", "H200", "fp8", 4, "vllm", "isl=4000;osl=500"),  # 128 experts: a prompt touches them all, a decode step few
    ("deepseek-ai/DeepSeek-V3", "H200", "fp8", 8, "trtllm", "isl=lognormal:median=2000,sigma=0.7;osl=lognormal:median=300,sigma=0.6"),
    ("Qwen/Qwen3-32B", "B200", "fp8", 1, "vllm", "isl=1024;osl=1024"),
    ("openai/gpt-oss-120b", "B200", "mxfp4", 1, "sglang", "isl=2000;osl=500"),
    ("openai/gpt-oss-120b", "B200", "mxfp4", 1, "sglang", "isl=2000;osl=500", 8),
    # long prompts, short answers (retrieval, summaries): the prompts pace the engine
    ("meta-llama/Llama-3.1-8B", "H100", "fp8", 1, "vllm", "isl=4096;osl=16"),
    ("Qwen/Qwen3-32B", "H100", "fp8", 2, "trtllm", "isl=lognormal:median=8000,sigma=0.5;osl=lognormal:median=64,sigma=0.5"),
]
LOADS = (0.2, 0.4, 0.6, 0.8)
CLIENTS = (4, 32, 128)
METRICS = [("ttft", 50), ("ttft", 90), ("ttft", 99), ("itl", 50), ("itl", 90), ("itl", 99)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000, help="simulated requests per point (default 3000)")
    args = ap.parse_args(argv)
    rows = []
    t0 = time.perf_counter()
    for model, gpu, prec, tp, engine, spec, *dp in CASES:
        p = Precision(prec)
        adp = dp[0] if dp else 1  # attention data parallelism (with expert parallelism over the same GPUs)
        eng = EngineSettings(engine=engine)
        s = prepare(get_model(model), [get_gpu(gpu)], [p], [DEFAULT_KV[p]], [tp], [1], eng, DEFAULT_EFFICIENCIES, attention_dp=adp, ep=adp)
        mix = parse_workload(spec)
        plan = s.plan(round(mix.mean_isl), round(mix.mean_osl))
        mu = sustainable_rate(s, plan, mix)
        approx = RateModel(s, plan, mix)
        rows.append(
            {
                "case": f"{model.split('/')[1]} {gpu} {prec} TP{tp}{f' DEP{adp}' if adp > 1 else ''} {engine}",
                "load": "capacity",
                "metric": "sustainable rps",
                "sim": mu,
                "approx": float(approx.mu[0]),
            }
        )
        for load in LOADS:
            sim = simulate_load(s, plan, mix, rate=load * mu, num_requests=args.requests)
            a = approx.at(load * mu)
            for m, q in METRICS:
                rows.append({"case": rows[-1]["case"], "load": load, "metric": f"{m} p{q}", "sim": sim.percentile(m, q), "approx": float(a.quantiles[m][q][0])})
            rows.append({"case": rows[-1]["case"], "load": load, "metric": "mean batch", "sim": sim.mean_batch, "approx": float(a.batch[0])})
        for clients in CLIENTS:  # the closed-loop approximation the concurrency sweep uses (steady state)
            sim = simulate_load(s, plan, mix, concurrency=clients, num_requests=max(10 * clients, 500))
            point = concurrency(s, mix.mean_isl, mix.mean_osl, clients)
            case = rows[-1]["case"]
            rows.append({"case": case, "load": f"{clients} clients", "metric": "closed-loop itl mean", "sim": sim.mean("itl"), "approx": float(point.itl_s[0])})
            rows.append(
                {"case": case, "load": f"{clients} clients", "metric": "closed-loop ttft mean", "sim": sim.mean("ttft"), "approx": float(point.ttft_s[0])}
            )
    frame = pd.DataFrame(rows)
    # a load the simulation serves and the approximation calls saturated (no latency) is counted apart
    refused = frame.approx.isna() & frame.sim.notna()
    frame = frame[~refused]
    frame["ape"] = 100.0 * (frame.approx - frame.sim).abs() / frame.sim
    frame["signed"] = 100.0 * (frame.approx / frame.sim - 1.0)
    print(f"{len(CASES)} deployments x {len(LOADS)} loads, {args.requests} simulated requests each ({time.perf_counter() - t0:.1f} s)\n")
    print(f"points the simulation serves and the approximation calls saturated: {int(refused.sum())}\n")
    print("approximation vs simulation, absolute % difference (signed median: + = approximation higher)")
    print(f"{'metric':18s} {'median':>8s} {'p90':>8s} {'signed':>8s}")
    for metric, g in frame.groupby("metric", sort=False):
        print(f"{metric:18s} {np.median(g.ape):7.1f}% {np.percentile(g.ape, 90):7.1f}% {np.median(g.signed):+7.1f}%")
    print("\nby load (share of the sustainable rate), all latency metrics:")
    lat = frame[frame.metric.str.startswith(("ttft", "itl"))]
    for load, g in lat.groupby("load", sort=False):
        print(f"  {load!s:9s} median {np.median(g.ape):5.1f}%  p90 {np.percentile(g.ape, 90):5.1f}%")
    print(
        "\nby deployment, signed % (+ = approximation higher): sustainable rate; median ITL p50 under Poisson load; closed-loop ITL mean, then TTFT mean, at 4 / 32 / 128 clients"
    )
    for case, g in frame.groupby("case", sort=False):
        closed = [g[g.metric == f"closed-loop {m} mean"].set_index("load").signed for m in ("itl", "ttft")]
        rate = float(g[g.metric == "sustainable rps"].signed.iloc[0])
        print(
            f"  {case:52s} {rate:+6.1f}% {np.median(g[g.metric == 'itl p50'].signed):+7.1f}%   "
            + "   ".join(" / ".join(f"{v:+.0f}%" for v in c) for c in closed)
        )
    summary = {}
    for key, metric in (("ttft_p90", "ttft p90"), ("itl_p90", "itl p90"), ("itl_p50", "itl p50"), ("capacity", "sustainable rps")):
        g = frame[frame.metric == metric].ape
        summary[f"{key}_median_ape"] = round(float(np.median(g)), 1)
        summary[f"{key}_p90_ape"] = round(float(np.percentile(g, 90)), 1)
    summary["saturated_by_approximation"] = int(refused.sum())
    print()
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
