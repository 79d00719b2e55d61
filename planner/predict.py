"""Batch prediction over the measurement-CSV format (DESIGN §4).

`predict(frame)` returns the same rows in the same order with `pred_output_tok_s, pred_ttft_ms,
pred_itl_ms, pred_e2e_ms, pred_source, pred_uncertainty_pct` added. A row that cannot be predicted
keeps empty predictions and says why in `pred_source` (`error: ...`).
"""

from __future__ import annotations

import pandas as pd

from .errors import PlannerError
from .estimate import estimate
from .measurements import read_measurements, row_kwargs

__all__ = ["predict", "read_measurements"]

PREDICTION_COLUMNS = ["pred_output_tok_s", "pred_ttft_ms", "pred_itl_ms", "pred_e2e_ms", "pred_source", "pred_uncertainty_pct"]


def predict(frame: pd.DataFrame, profiles: list | None = None, **overrides) -> pd.DataFrame:
    """One estimate per row (operating point from the row: offline, concurrency or rate).

    `profiles`: calibration profiles to prefer where one matches the row's GPU / engine /
    precision (by the fallback order of `planner.profiles.find_profile`); other rows use the
    shipped profiles or the analytic model. `overrides` go to every `estimate` call.
    """
    out = frame.copy()
    preds = {c: [] for c in PREDICTION_COLUMNS}
    cache: dict[tuple, tuple] = {}
    for row in frame.to_dict("records"):
        try:
            kw = {**row_kwargs(row), **overrides}
            if profiles and "profile" not in overrides and "efficiencies" not in overrides:
                kw["profile"] = _pick(profiles, kw)
            key = tuple(sorted((k, str(v)) for k, v in kw.items()))
            if key not in cache:
                e = estimate(**kw, finite_run=True)
                if not e.fits:
                    raise PlannerError(e.fit_reason)
                cache[key] = (e.output_tok_s, e.ttft_ms, e.itl_ms, e.e2e_ms, e.source, e.uncertainty_pct)
            vals = cache[key]
        except PlannerError as exc:
            vals = (None, None, None, None, f"error: {exc}", None)
        for c, v in zip(PREDICTION_COLUMNS, vals, strict=True):
            preds[c].append(v)
    for c in PREDICTION_COLUMNS:
        out[c] = preds[c]
    return out


def _pick(profiles: list, kw: dict):
    """The given profile matching a row, or None (automatic lookup) when none does."""
    from .catalog import get_gpu
    from .profiles import find_profile

    prof, _ = find_profile(
        get_gpu(kw["gpu"]).id, kw.get("engine") or "trtllm", str(kw.get("precision", "")).lower(), candidates=profiles, engine_version=kw.get("engine_version")
    )
    return prof
