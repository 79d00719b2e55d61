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


def test_reference_fractions_hold_on_another_hopper_part():
    # the H100's probe (bench/results/h100_probe.json) reaches the same fractions of its datasheet
    # as the shipped H200 reference does of its own, so scaling by the reference carries over
    from planner import get_gpu
    from planner.profiling.torch_probe import load_hardware_profile, reference_fractions

    ref = reference_fractions()
    h100 = load_hardware_profile(ROOT / "bench" / "results" / "h100_probe.json")
    sheet = get_gpu(h100.gpu)
    assert h100.gpu == "H100-SXM"
    for key in ("bf16", "fp8"):
        assert abs(h100.tflops[key] / sheet.tflops[key] - ref[key]) < 0.03, key
    assert abs(h100.memory_bandwidth_tb_s / sheet.memory_bandwidth_tb_s - ref["memory"]) < 0.03
