"""The GPU kernel measurements kept as data (`bench/results/h200_kernels.csv`) and their comparison script."""

import subprocess
import sys

import pandas as pd

from tests.conftest import ROOT

RESULTS = ROOT / "bench" / "results" / "h200_kernels.csv"


def test_kernel_fit_reads_the_measured_file():
    r = subprocess.run([sys.executable, "bench/kernel_fit.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "NVIDIA H200 (catalog H200-SXM" in r.stdout and "measured time / modelled time" in r.stdout
    for regime in ("compute-bound", "memory-bound", "near the ridge"):
        assert regime in r.stdout


def test_grouped_gemms_run_as_efficiently_as_dense_ones():
    # what bench/results/README.md reports: at the MoE models' expert shapes a grouped GEMM reaches
    # about the rate of a dense GEMM, compute-bound (large M) and weight-streaming (small M) alike
    df = pd.read_csv(RESULTS)
    bf16 = df[df["dtype"] == "bf16"]
    rate = bf16["flops"] / bf16["seconds"]
    dense_best = rate[bf16["kind"] == "gemm"].max()
    grouped_best = rate[bf16["kind"] == "grouped"].max()
    assert 0.8 < grouped_best / dense_best <= 1.05
    stream = (bf16["bytes"] / bf16["seconds"])[bf16["m"] <= 64]
    assert 0.8 < stream[bf16["kind"] == "grouped"].max() / stream[bf16["kind"] == "gemm"].max() < 1.2
    assert set(df["device"]) == {"NVIDIA H200"}
