"""LLM inference capacity planner: one Python API under the CLI and the dashboard.

import planner
e = planner.estimate("llama-3.1-70b", "H100", "fp8", tp=4, isl=1024, osl=256)
e.fits, e.ttft_ms, e.itl_ms, e.output_tok_s, e.usd_per_million_output_tokens
rec = planner.recommend("llama-3.1-70b", 20, planner.parse_workload("isl=2048;osl=512"), planner.Sla(ttft_ms=1000, itl_ms=50))
"""

from .catalog import get_gpu, get_model, gpus, model_ids
from .configs import model_from_config
from .cost import OwnedHardware, PriceBook
from .curves import load_curve, step_breakdown
from .defaults import DEFAULT_EFFICIENCIES, Efficiencies
from .errors import PlannerError
from .estimate import Estimate, Workload, estimate
from .measurements import read_measurements
from .predict import predict
from .requestlog import read_log
from .search import Recommendation, recommend
from .sla import Sla
from .specs import EngineSettings, GpuSpec, KvPrecision, ModelSpec, Parallelism, Precision
from .sweep import sweep
from .workload import RequestMix, parse_length, parse_workload
from .workload_report import describe_workload

__all__ = [
    "describe_workload",
    "load_curve",
    "step_breakdown",
    "DEFAULT_EFFICIENCIES",
    "Efficiencies",
    "EngineSettings",
    "Estimate",
    "GpuSpec",
    "OwnedHardware",
    "PriceBook",
    "Recommendation",
    "RequestMix",
    "Sla",
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
    "parse_length",
    "parse_workload",
    "predict",
    "read_log",
    "read_measurements",
    "recommend",
    "sweep",
]
