"""Optional PyTorch micro-probe: achievable GEMM TFLOP/s per dtype and memory-copy bandwidth.

`pip install -r requirements-probe.txt`, then `python -m planner probe` (CUDA when present, else
the CPU). It takes well under a minute and writes a *hardware profile*
(`profiles/hardware/<gpu>.json`) that `estimate(..., hardware=FILE)` / `--hardware FILE` uses to
say how this device compares with its datasheet: a GPU whose clocks, power cap or memory differ
carries that difference into every estimate.

The analytic efficiencies (`planner.defaults.Efficiencies`) are fractions of the *datasheet* peaks,
and already hold the gap between a datasheet peak and what a real kernel reaches. A probe's rates
therefore do not replace the peaks (that counts the gap twice: on the measured H200 rows of
`../shared/data/measured/`, median error v0.13 offline 9.1 % -> 22.5 %, v1.0 offline 16.3 % -> 30.4 %,
`python bench/hardware_probe.py`).
They scale them: each peak is multiplied by the probe's rate over the rate the same probe reaches
on a GPU at its datasheet clocks and power limit. That reference is a probe file shipped with the
planner (`REFERENCE_PROBE`, an H200 SXM at 1980 MHz and 700 W), so a probe of a nominal part leaves
the estimates as they are.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from ..catalog import get_gpu
from ..errors import PlannerError, validation_line
from ..fileio import atomic_write_text, read_json
from ..specs import GpuSpec

#: our precision key -> torch dtype name
DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


class HardwareProfile(BaseModel):
    """Measured peaks of one device (the analytic model's datasheet figures, replaced)."""

    schema_version: Literal[1] = 1
    kind: Literal["hardware"] = "hardware"
    gpu: str | None = Field(description="Catalog GPU id the measurement applies to (None: no match, e.g. a CPU)")
    device: str = Field(description="What torch reported: the CUDA device name, or the CPU")
    tflops: dict[str, float] = Field(description="Achieved dense GEMM TFLOP/s per precision key")
    memory_bandwidth_tb_s: float = Field(gt=0, description="Achieved device-to-device copy bandwidth (read + write, TB/s)")
    matrix_size: int
    created: str
    command: str
    environment: dict[str, str]


def _timed(fn, sync, repeats: int) -> float:
    fn()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def probe(device: str = "auto", size: int | None = None, copy_mib: int | None = None, gpu: str | None = None, command: str = "") -> HardwareProfile:
    """Measure GEMM TFLOP/s (fp16, bf16, fp32; fp8 on GPUs that have it) and copy bandwidth."""
    try:
        import torch
    except ImportError:
        raise PlannerError("the probe needs PyTorch: pip install -r requirements-probe.txt") from None
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise PlannerError("device cuda: PyTorch sees no CUDA device (use --device cpu)")
    if device not in ("cuda", "cpu"):
        raise PlannerError(f"device {device!r} is not one of: auto, cuda, cpu")
    on_gpu = device == "cuda"
    n = size or (8192 if on_gpu else 512)
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    tflops = {}
    for key, name in DTYPES.items():
        dtype = getattr(torch, name)
        try:
            a = torch.randn(n, n, device=device).to(dtype)
            b = torch.randn(n, n, device=device).to(dtype)
            t = _timed(lambda a=a, b=b: a @ b, sync, repeats=20 if on_gpu else 3)
        except (RuntimeError, TypeError):  # a dtype this device cannot multiply
            continue
        tflops[key] = 2.0 * n**3 / t / 1e12
    if on_gpu and hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm") and torch.cuda.get_device_capability() >= (8, 9):
        try:
            a = torch.randn(n, n, device=device).to(torch.float8_e4m3fn)
            b = torch.randn(n, n, device=device).to(torch.float8_e4m3fn).t()
            one = torch.ones((), device=device)
            t = _timed(lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16), sync, repeats=20)
            tflops["fp8"] = 2.0 * n**3 / t / 1e12
        except (RuntimeError, TypeError):
            pass
    mib = copy_mib or (2048 if on_gpu else 64)
    src = torch.empty(mib * 1024 * 1024 // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    t = _timed(lambda: dst.copy_(src), sync, repeats=20 if on_gpu else 5)
    bandwidth = 2.0 * src.numel() * 4 / t / 1e12
    name = torch.cuda.get_device_name() if on_gpu else f"CPU ({platform.processor() or platform.machine()})"
    gpu_id = None
    if gpu:
        gpu_id = get_gpu(gpu).id
    elif on_gpu:
        try:
            gpu_id = get_gpu(name).id
        except PlannerError:
            gpu_id = None
    env = {"torch": torch.__version__, "python": platform.python_version()}
    if on_gpu:
        env["cuda"] = str(torch.version.cuda)
    return HardwareProfile(
        gpu=gpu_id,
        device=name,
        tflops={k: round(v, 4) for k, v in tflops.items()},
        memory_bandwidth_tb_s=round(bandwidth, 6),
        matrix_size=n,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        command=command,
        environment=env,
    )


def save_hardware_profile(profile: HardwareProfile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(profile.model_dump(), indent=1) + "\n")


def load_hardware_profile(path: str | Path) -> HardwareProfile:
    path = Path(path)
    data = read_json(path, "hardware profile")
    try:
        return HardwareProfile.model_validate(data)
    except ValidationError as exc:
        raise PlannerError(f"{path}: invalid hardware profile: {validation_line(exc)}") from None


#: The probe of a GPU at its datasheet clocks and power limit that other probes are compared with.
REFERENCE_PROBE = Path(__file__).resolve().parents[2] / "profiles" / "hardware" / "reference-H200-SXM.json"


def reference_fractions() -> dict[str, float]:
    """Fractions of the datasheet figures the probe reaches on the reference GPU (`REFERENCE_PROBE`):
    one per measured tensor precision, and `"memory"` for the copy bandwidth."""
    return dict(_reference_fractions())


@lru_cache(maxsize=1)
def _reference_fractions() -> dict[str, float]:
    ref = load_hardware_profile(REFERENCE_PROBE)
    sheet = get_gpu(ref.gpu)
    out = {k: v / sheet.tflops[k] for k, v in ref.tflops.items() if k in sheet.tflops}
    out["memory"] = ref.memory_bandwidth_tb_s / sheet.memory_bandwidth_tb_s
    return out


def apply_hardware_profile(gpu: GpuSpec, hw: HardwareProfile, source: str = "hardware profile") -> GpuSpec:
    """The GPU spec with its datasheet peaks scaled by what the probe measured on this device,
    relative to what the same probe reaches on the reference GPU (`reference_fractions`).

    Each measured precision scales by its own ratio; the precisions the probe did not measure
    (FP4, INT8, FP8 where torch has no FP8 GEMM) by the 16-bit ratio, since clocks and power caps
    move every tensor precision alike. Refused when the profile was measured on another GPU, or
    on a device that matches no catalog GPU (a CPU).
    """
    if hw.gpu is None:
        raise PlannerError(f"{source}: measured on {hw.device!r}, which matches no catalog GPU; probe a GPU, naming it with --gpu ID")
    if hw.gpu != gpu.id:
        raise PlannerError(f"{source}: measured on {hw.gpu}, not {gpu.id}; probe this GPU or plan for {hw.gpu}")
    ref = reference_fractions()
    ratios = {k: v / (gpu.tflops[k] * ref[k]) for k, v in hw.tflops.items() if k in gpu.tflops and k in ref}
    common = ratios.get("bf16", ratios.get("fp16"))
    tflops = {k: v * ratios.get(k, common if common is not None else 1.0) for k, v in gpu.tflops.items()}
    return gpu.model_copy(update={"tflops": tflops, "memory_bandwidth_tb_s": hw.memory_bandwidth_tb_s / ref["memory"]})
