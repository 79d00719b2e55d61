"""Command-line options shared by `planner.cli` and `planner.cli_serving`: whole-number parsing and
the engine settings (`EngineSettings`), with help texts from the pydantic field descriptions."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from .errors import option_error
from .specs import EngineSettings


def field_help(model, field: str) -> str:
    return (model.model_fields[field].description or "").replace("%", "%%")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def engine_limit_options(p: argparse.ArgumentParser) -> None:
    """The engine's memory fraction and batch limits."""
    p.add_argument("--free-gpu-memory-fraction", type=float, default=None, metavar="F", help=field_help(EngineSettings, "free_gpu_memory_fraction"))
    p.add_argument("--max-batch-size", type=positive_int, default=None, metavar="N", help=field_help(EngineSettings, "max_batch_size"))
    p.add_argument("--max-num-tokens", type=positive_int, default=None, metavar="N", help=field_help(EngineSettings, "max_num_tokens"))


def engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["trtllm", "vllm", "sglang"], default=None, help=field_help(EngineSettings, "engine") + " (default trtllm)")
    engine_limit_options(p)
    p.add_argument("--max-model-len", type=positive_int, default=None, metavar="N", help=field_help(EngineSettings, "max_model_len"))


def engine_kwargs(args: argparse.Namespace) -> dict:
    kw = {
        "engine": args.engine,
        "free_gpu_memory_fraction": args.free_gpu_memory_fraction,
        "max_batch_size": args.max_batch_size,
        "max_num_tokens": args.max_num_tokens,
        "max_model_len": args.max_model_len,
    }
    return {k: v for k, v in kw.items() if v is not None}


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    """The engine settings the options give (with `--engine-version` where the command has it), or
    a `PlannerError` naming the option and its range."""
    version = getattr(args, "engine_version", None)
    try:
        return EngineSettings(**engine_kwargs(args), **({"version": version} if version else {}))
    except ValidationError as exc:
        raise option_error(exc) from None


ENGINE_VERSION_HELP = (
    "engine version the answer is for, e.g. 1.0: the calibration profile of the closest version is preferred (default: the one fitted on the most "
    "points), SGLang's memory defaults are that release's (0.4.8 on; default: the current release), and vLLM before 0.8 runs the V0 engine's "
    "scheduler defaults and memory profile"
)


def engine_version_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine-version", default=None, metavar="V", help=ENGINE_VERSION_HELP)
