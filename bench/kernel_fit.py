"""Compare measured GEMM and grouped-GEMM times (`bench/gpu_kernels.py`) with the step-time model's
pricing of the same work.

The model (`planner/roofline.py`) prices a GEMM of F FLOPs that moves B bytes at
`(F / (peak x eta_compute))^n + (B / (bandwidth x eta_memory))^n)^(1/n)` with the default
efficiencies (`planner/defaults.py`) and the catalog's datasheet peaks; n = 1 (`overlap_exponent`).
For each measured row this prints measured / modelled time, with n = 1 and with the roofline max
(n -> infinity), per kind (dense, grouped), precision and regime (M below, near or above the
ridge point), and the achieved fractions of the datasheet.

    python bench/kernel_fit.py [bench/results/h200_kernels.csv]

A whole model step holds more than its GEMMs (attention, norms, activations, launches), so the
efficiencies are not expected to equal a lone GEMM's; this shows how far apart the two are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog import get_gpu  # noqa: E402
from planner.defaults import DEFAULT_EFFICIENCIES as EFF  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "h200_kernels.csv"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, default=RESULTS)
    ap.add_argument("--gpu", default=None, help="catalog GPU the file was measured on (default: from its device column)")
    args = ap.parse_args(argv)
    df = pd.read_csv(args.results)
    gpu = get_gpu(args.gpu or str(df["device"].iloc[0]))
    bw = gpu.memory_bandwidth_tb_s * 1e12
    print(f"{args.results.name}: {df['device'].iloc[0]} (catalog {gpu.id}: {bw / 1e12:.2f} TB/s, {gpu.tflops})")
    for kind in ("copy", "read"):
        r = df[df["kind"] == kind]
        if len(r):
            ach = (r["bytes"] / r["seconds"]).median()
            print(f"  {kind:5s} {ach / 1e12:.2f} TB/s = {ach / bw:.2f} of the datasheet (model's eta_memory: {EFF.eta_memory})")
    g = df[df["kind"].isin(["gemm", "grouped"])].copy()
    peak = g["dtype"].map(lambda d: gpu.tflops[d] * 1e12)
    eta = g["dtype"].map(lambda d: EFF.eta_compute[d])
    t_c = g["flops"] / (peak * eta)
    t_m = g["bytes"] / (bw * EFF.eta_memory)
    g["sum"] = g["seconds"] / (t_c + t_m)
    g["max"] = g["seconds"] / np.maximum(t_c, t_m)
    g["frac_peak"] = g["flops"] / g["seconds"] / peak
    g["frac_bw"] = g["bytes"] / g["seconds"] / bw
    # the ridge of the model's own rates: compute time equals memory time
    ratio = t_c / t_m
    g["regime"] = np.where(ratio < 0.5, "memory-bound", np.where(ratio > 2.0, "compute-bound", "near the ridge"))
    table = g.groupby(["kind", "dtype", "regime"]).agg(
        rows=("seconds", "size"),
        measured_over_sum=("sum", "median"),
        measured_over_max=("max", "median"),
        frac_of_peak=("frac_peak", "median"),
        frac_of_bandwidth=("frac_bw", "median"),
    )
    print("\nmeasured time / modelled time (median; below 1: faster than the model prices it)")
    print(table.round(2).to_string())
    best = g[g["kind"] == "gemm"].groupby("dtype")["frac_peak"].max()
    print("\nbest dense GEMM, fraction of the datasheet peak: " + ", ".join(f"{k} {v:.2f} (eta_compute {EFF.eta_compute[k]})" for k, v in best.items()))
    mem = g[(g["regime"] == "memory-bound")].groupby(["kind", "dtype"])["frac_bw"].median()
    print("weight streaming (memory-bound rows), fraction of the datasheet bandwidth: " + ", ".join(f"{' '.join(k)} {v:.2f}" for k, v in mem.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
