"""Host probes: NVML on a host without the driver, and the PyTorch micro-probe on the CPU."""

import json
import subprocess
import sys

import pytest

from planner import PlannerError, estimate, get_gpu
from planner.profiling.nvml import NoNvidiaGpu, catalog_warnings, local_gpus
from planner.profiling.torch_probe import HardwareProfile, apply_hardware_profile, load_hardware_profile, save_hardware_profile
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


def test_hardware_profile_replaces_datasheet_peaks(tmp_path):
    hw = HardwareProfile(
        gpu="H100-SXM",
        device="NVIDIA H100 80GB HBM3",
        tflops={"bf16": 700.0, "fp32": 50.0},
        memory_bandwidth_tb_s=2.9,
        matrix_size=8192,
        created="x",
        command="t",
        environment={},
    )
    path = save_hardware_profile(hw, tmp_path / "h.json")
    spec = apply_hardware_profile(get_gpu("H100"), load_hardware_profile(path))
    assert spec.tflops["bf16"] == 700.0 and spec.tflops["fp8"] == get_gpu("H100").tflops["fp8"] and "fp32" not in spec.tflops
    assert spec.memory_bandwidth_tb_s == 2.9
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="bf16", isl=1024, osl=256, profile="none")
    slower = estimate(hardware=path, **kw)
    assert slower.itl_ms > estimate(**kw).itl_ms


def test_bad_hardware_profile(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "hardware", "tflops": {}}))
    with pytest.raises(PlannerError, match="bad.json: invalid hardware profile"):
        load_hardware_profile(bad)
