"""Host probes: NVML on a host without the driver, and the PyTorch micro-probe on the CPU."""

import json
import subprocess
import sys

import pytest

from planner import PlannerError, estimate, get_gpu
from planner.profiling.nvml import NoNvidiaGpu, catalog_warnings, local_gpus
from planner.profiling.torch_probe import (
    REFERENCE_PROBE,
    HardwareProfile,
    apply_hardware_profile,
    load_hardware_profile,
    reference_fractions,
    save_hardware_profile,
)
from tests.conftest import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=ROOT)


def _has_nvidia() -> bool:
    try:
        local_gpus()
    except NoNvidiaGpu:
        return False
    return True


@pytest.mark.skipif(_has_nvidia(), reason="this host has an NVIDIA driver")
def test_gpus_local_without_driver_is_one_line_and_exit_0():
    r = run("gpus", "--local")
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 1
    assert r.stdout.startswith(("no NVIDIA driver found", "nvidia-ml-py is not installed"))


def test_catalog_warnings_name_the_difference():
    rec = {"name": "NVIDIA H100 PCIe", "catalog_id": "H100-PCIe", "sm_clock_max_mhz": 1755, "memory_total_gib": 79.1}
    warnings = catalog_warnings(rec, "H100-SXM")
    assert any("does not match catalog entry H100-SXM" in w for w in warnings)
    assert any("max SM clock 1755 MHz differs" in w for w in warnings)
    ok = {"name": "NVIDIA H100 80GB HBM3", "catalog_id": "H100-SXM", "sm_clock_max_mhz": 1980, "memory_total_gib": 79.1}
    assert catalog_warnings(ok, "H100-SXM") == []


def test_cpu_probe_writes_a_usable_hardware_profile(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "hw.json"
    r = run("probe", "--device", "cpu", "--size", "256", "--out", str(out))
    assert r.returncode == 0, r.stderr
    hw = load_hardware_profile(out)
    assert hw.device.startswith("CPU") and hw.gpu is None and hw.memory_bandwidth_tb_s > 0
    assert hw.tflops["fp32"] > 0 and hw.command.startswith("python -m planner probe")
    assert json.loads(out.read_text())["kind"] == "hardware"


def _probe(gpu, **kw):
    base = dict(gpu=gpu, device=gpu, tflops={}, memory_bandwidth_tb_s=1.0, matrix_size=8192, created="x", command="t", environment={})
    return HardwareProfile(**{**base, **kw})


def test_reference_probe_is_a_measured_h200():
    # shipped data: `python -m planner probe` on an H200 SXM at its datasheet clocks (1980 MHz, 700 W)
    ref = load_hardware_profile(REFERENCE_PROBE)
    assert ref.gpu == "H200-SXM" and ref.device == "NVIDIA H200" and ref.environment["torch"].startswith("2.")
    frac = reference_fractions()
    # a real kernel reaches a share of the datasheet, never more
    assert 0.6 < frac["bf16"] < 0.9 and 0.6 < frac["fp8"] < 0.9 and 0.8 < frac["memory"] < 0.95


def test_probe_of_a_nominal_gpu_leaves_the_estimate_as_it_is():
    # the reference probe applied to its own GPU: every peak unchanged, so the same estimate
    spec = apply_hardware_profile(get_gpu("H200"), load_hardware_profile(REFERENCE_PROBE))
    sheet = get_gpu("H200")
    assert spec.tflops == pytest.approx(sheet.tflops, rel=1e-12) and spec.memory_bandwidth_tb_s == pytest.approx(sheet.memory_bandwidth_tb_s, rel=1e-12)
    kw = dict(model="llama-3.1-8b", gpu="H200", precision="fp8", isl=1024, osl=256, profile="none")
    assert estimate(hardware=REFERENCE_PROBE, **kw).output_tok_s == pytest.approx(estimate(**kw).output_tok_s, rel=1e-9)


def test_slower_probe_scales_every_precision(tmp_path):
    # a power-capped H100: the probe reaches 80 % of what the reference reaches in bf16, 90 % of its copy rate
    frac, sheet = reference_fractions(), get_gpu("H100")
    hw = _probe(
        "H100-SXM",
        tflops={"bf16": 0.8 * frac["bf16"] * sheet.tflops["bf16"], "fp32": 40.0},
        memory_bandwidth_tb_s=0.9 * frac["memory"] * sheet.memory_bandwidth_tb_s,
    )
    path = save_hardware_profile(hw, tmp_path / "h.json")
    spec = apply_hardware_profile(sheet, load_hardware_profile(path))
    # fp8 was not measured: clocks and power move it like bf16
    assert spec.tflops["bf16"] == pytest.approx(0.8 * sheet.tflops["bf16"]) and spec.tflops["fp8"] == pytest.approx(0.8 * sheet.tflops["fp8"])
    assert "fp32" not in spec.tflops and spec.memory_bandwidth_tb_s == pytest.approx(0.9 * sheet.memory_bandwidth_tb_s)
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="bf16", isl=1024, osl=256, profile="none")
    assert estimate(hardware=path, **kw).itl_ms > estimate(**kw).itl_ms


def test_probe_of_another_gpu_or_a_cpu_is_refused(tmp_path):
    h200 = save_hardware_profile(_probe("H200-SXM", tflops={"bf16": 700.0}), tmp_path / "h200.json")
    with pytest.raises(PlannerError, match="h200.json: measured on H200-SXM, not H100-SXM"):
        estimate(model="llama-3.1-8b", gpu="H100", hardware=h200, profile="none")
    cpu = save_hardware_profile(_probe(None, device="CPU (x86_64)", tflops={"fp32": 1.0}), tmp_path / "cpu.json")
    with pytest.raises(PlannerError, match="cpu.json: measured on 'CPU \\(x86_64\\)', which matches no catalog GPU"):
        estimate(model="llama-3.1-8b", gpu="H100", hardware=cpu, profile="none")


def test_bad_hardware_profile(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "hardware", "tflops": {}}))
    with pytest.raises(PlannerError, match="bad.json: invalid hardware profile"):
        load_hardware_profile(bad)
