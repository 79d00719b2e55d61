"""NVML host probe (`nvidia-ml-py`, imported as `pynvml`): which NVIDIA GPUs this host has.

`local_gpus()` returns one record per GPU (name, memory, driver, clocks, power limit) with its
catalog match, or raises `NoNvidiaGpu` with a one-line reason on a host without the driver.
"""

from __future__ import annotations

from ..catalog import get_gpu
from ..errors import PlannerError


class NoNvidiaGpu(PlannerError):
    """No NVIDIA driver or GPU on this host."""


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def local_gpus() -> list[dict]:
    """Facts of every local NVIDIA GPU, read through NVML."""
    try:
        import pynvml
    except ImportError:
        raise NoNvidiaGpu("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NoNvidiaGpu(f"no NVIDIA driver found (NVML: {exc})") from None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(pynvml.nvmlDeviceGetName(h))
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            rec = {
                "index": i,
                "name": name,
                "memory_total_gib": mem.total / 1024**3,
                "memory_free_gib": mem.free / 1024**3,
                "driver": driver,
                "sm_clock_max_mhz": _safe(lambda h=h: pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM)),
                "mem_clock_max_mhz": _safe(lambda h=h: pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM)),
                "sm_clock_mhz": _safe(lambda h=h: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)),
                "power_limit_w": _safe(lambda h=h: pynvml.nvmlDeviceGetPowerManagementLimit(h) / 1000.0),
            }
            try:
                rec["catalog_id"] = get_gpu(name).id
            except PlannerError:
                rec["catalog_id"] = None
            out.append(rec)
        if not out:
            raise NoNvidiaGpu("the NVIDIA driver is loaded but reports no GPU")
        return out
    finally:
        pynvml.nvmlShutdown()


def _safe(fn):
    try:
        return fn()
    except Exception:  # a field the device or driver does not expose
        return None


def catalog_warnings(rec: dict, gpu_id: str) -> list[str]:
    """Differences between a local GPU and the catalog entry a calibration will be filed under."""
    spec = get_gpu(gpu_id)
    warnings = []
    if rec.get("catalog_id") != spec.id:
        warnings.append(f"local GPU {rec['name']!r} does not match catalog entry {spec.id} ({spec.name})")
    if spec.sm_clock_max_mhz and rec.get("sm_clock_max_mhz") and abs(rec["sm_clock_max_mhz"] - spec.sm_clock_max_mhz) > 0.03 * spec.sm_clock_max_mhz:
        warnings.append(
            f"max SM clock {rec['sm_clock_max_mhz']} MHz differs from the catalog's {spec.sm_clock_max_mhz:.0f} MHz (a different SKU or a clock cap)"
        )
    if rec.get("memory_total_gib") and abs(rec["memory_total_gib"] - spec.memory_gib) > 0.03 * spec.memory_gib:
        warnings.append(f"memory {rec['memory_total_gib']:.1f} GiB differs from the catalog's usable {spec.memory_gib:.1f} GiB")
    return warnings
