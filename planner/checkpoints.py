"""The checkpoints a deployment at a precision loads: the model itself at 16 bits or where it
ships quantized, else a known FP8 / NVFP4 checkpoint of it (`model_configs/checkpoints.yaml`,
each with the page that names it)."""

from __future__ import annotations

from functools import lru_cache

import yaml

from .catalog import ROOT
from .errors import PlannerError
from .specs import ModelSpec, Precision

CHECKPOINTS = ROOT / "model_configs" / "checkpoints.yaml"
SIXTEEN_BIT = (Precision.fp16, Precision.bf16)


@lru_cache(maxsize=1)
def known_checkpoints() -> dict:
    """`model_configs/checkpoints.yaml`: catalog model -> precision -> {checkpoint, source}."""
    return yaml.safe_load(CHECKPOINTS.read_text()) or {}


def checkpoint_for(model: ModelSpec, precision: Precision, asked: str | None = None) -> str:
    """The Hugging Face checkpoint a run at `precision` must load, so that the profile measures
    the precision it will claim; asks for `--checkpoint` where none is known."""
    if asked:
        return asked
    own = model.checkpoint_precision
    if precision in SIXTEEN_BIT:
        if own is not None:
            raise PlannerError(f"{model.id} ships {own.value} weights: calibrate --precision {own.value}, or pass --checkpoint with a 16-bit copy")
        return model.id
    if own == precision:
        return model.id
    entry = known_checkpoints().get(model.id, {}).get(precision.value)
    if entry:
        return entry["checkpoint"]
    raise PlannerError(
        f"no known {precision.value} checkpoint of {model.id} (model_configs/checkpoints.yaml): pass --checkpoint HF_ID of one, "
        "or calibrate --precision bf16; running the 16-bit weights would measure 16 bits, not " + precision.value
    )
