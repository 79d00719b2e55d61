"""LLM inference capacity planner: one Python API under the CLI and the dashboard.

import planner
e = planner.estimate("llama-3.1-70b", "H100", "fp8", tp=4, isl=1024, osl=256)
e.fits, e.ttft_ms, e.itl_ms, e.output_tok_s, e.usd_per_million_output_tokens
"""

from .catalog import get_gpu, get_model, gpus, model_ids
from .defaults import DEFAULT_EFFICIENCIES, Efficiencies
from .errors import PlannerError
from .estimate import Estimate, Workload, estimate
from .predict import predict, read_measurements
from .specs import EngineSettings, GpuSpec, KvPrecision, ModelSpec, Parallelism, Precision, model_from_config
from .sweep import sweep

__all__ = [
    "DEFAULT_EFFICIENCIES",
    "Efficiencies",
    "EngineSettings",
    "Estimate",
    "GpuSpec",
    "KvPrecision",
    "ModelSpec",
    "Parallelism",
    "PlannerError",
    "Precision",
    "Workload",
    "estimate",
    "get_gpu",
    "get_model",
    "gpus",
    "model_from_config",
    "model_ids",
    "predict",
    "read_measurements",
    "sweep",
]
