"""Checks that need a real NVIDIA GPU: NVML's view of it against the catalog, the PyTorch probe on
CUDA, and `--hardware` with that probe. Skipped where there is none (CI has none); run them on a
GPU host with `python -m pytest tests/test_gpu.py`.
"""

import json
import subprocess
import sys

import pytest

from planner import estimate, get_gpu
from planner.profiling.nvml import NoNvidiaGpu, catalog_warnings, local_gpus
from tests.conftest import ROOT


def _gpus():
    try:
        return local_gpus()
    except NoNvidiaGpu as exc:
        pytest.skip(f"no NVIDIA GPU here: {exc}")


def _cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    return torch


def test_nvml_finds_the_gpu_in_the_catalog():
    rec = _gpus()[0]
    assert rec["catalog_id"] is not None, f"{rec['name']!r} matches no catalog entry"
    # the catalog entry's memory, clocks and name agree with the device
    assert catalog_warnings(rec, rec["catalog_id"]) == []
    assert rec["memory_total_gib"] > 0 and rec["driver"]


def test_catalog_memory_is_what_cuda_can_allocate():
    # the catalog's usable memory (what the KV budget starts from) against what the CUDA runtime
    # reports as the device's total on this host
    torch = _cuda()
    rec = _gpus()[0]
    spec = get_gpu(rec["catalog_id"])
    total_gib = torch.cuda.get_device_properties(0).total_memory / 1024**3
    assert spec.memory_gib == pytest.approx(total_gib, rel=0.01), f"catalog {spec.memory_gib} GiB, CUDA reports {total_gib:.2f} GiB"


def test_cuda_probe_is_a_fraction_of_the_datasheet_and_a_usable_hardware_profile(tmp_path):
    _cuda()
    rec = _gpus()[0]
    out = tmp_path / "probe.json"
    r = subprocess.run([sys.executable, "-m", "planner", "probe", "--device", "cuda", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    hw = json.loads(out.read_text())
    spec = get_gpu(rec["catalog_id"])
    assert hw["gpu"] == spec.id
    # a real GEMM and copy reach a share of the datasheet, never more
    assert 0.4 < hw["tflops"]["bf16"] / spec.tflops["bf16"] < 1.0
    assert 0.5 < hw["memory_bandwidth_tb_s"] / spec.memory_bandwidth_tb_s < 1.0
    kw = dict(model="llama-3.1-8b", gpu=spec.id, precision="bf16", isl=1024, osl=256, profile="none")
    with_probe, sheet = estimate(hardware=out, **kw), estimate(**kw)
    # a GPU at its datasheet clocks plans within a few percent of the datasheet estimate
    assert with_probe.output_tok_s == pytest.approx(sheet.output_tok_s, rel=0.15)
