"""Batch prediction over the measurement-CSV format (DESIGN §4).

`predict(frame)` returns the same rows in the same order with `pred_output_tok_s, pred_ttft_ms,
pred_itl_ms, pred_e2e_ms, pred_source, pred_uncertainty_pct` added. A row that cannot be predicted
keeps empty predictions and says why in `pred_source` (`error: ...`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import ValidationError

from . import serving
from .catalog import get_gpu, get_model
from .defaults import analytic_uncertainty_pct, default_efficiencies
from .errors import PlannerError
from .estimate import _resolve_profile, estimate
from .measurements import read_measurements, row_kwargs
from .profiles import uncertainties
from .specs import EngineSettings, KvPrecision, Parallelism, default_kv, parse_choice, resolve_precision

__all__ = ["predict", "read_measurements"]

PREDICTION_COLUMNS = ["pred_output_tok_s", "pred_ttft_ms", "pred_itl_ms", "pred_e2e_ms", "pred_source", "pred_uncertainty_pct"]


#: `estimate` options the vectorised offline path understands; others send every row to `estimate`.
_VECTOR_OVERRIDES = {"profile", "efficiencies"}


def predict(frame: pd.DataFrame, profiles: list | None = None, latency: str = "measured", **overrides) -> pd.DataFrame:
    """One estimate per row (operating point from the row: offline, concurrency or rate).

    `profiles`: calibration profiles to prefer where one matches the row's GPU / engine /
    precision (by the fallback order of `planner.profiles.find_profile`); other rows use the
    shipped profiles or the analytic model. `overrides` go to every `estimate` call.

    Offline rows are evaluated together, vectorised per model x GPU x precision x profile, with
    the same throughput, source and uncertainty as `estimate`. Their latency is a simulation of
    the queued burst (`estimate`, one row at a time): with `latency="measured"` (default) only for
    the rows that measured TTFT, ITL or E2E, the others keep no latency; `"all"` for every row.
    Rows with a concurrency or request rate each run their own simulation (`estimate`).
    """
    if latency not in ("measured", "all"):
        raise PlannerError(f"latency {latency!r} is not one of: measured, all")
    out = frame.copy()
    records = frame.to_dict("records")
    preds: list[tuple | None] = [None] * len(records)
    vector_ok = set(overrides) <= _VECTOR_OVERRIDES
    offline: list[tuple[int, dict]] = []
    simulated: dict[tuple, tuple] = {}  # identical rows (repeated measurements) simulate once
    for i, row in enumerate(records):
        try:
            kw = {**row_kwargs(row), **overrides}
            if profiles and "profile" not in overrides and "efficiencies" not in overrides:
                kw["profile"] = _pick(profiles, kw)
            timed = any(_measured(row.get(m)) for m in ("ttft_ms", "itl_ms", "e2e_ms"))
            if vector_ok and not kw["concurrency"] and not kw["request_rate"] and not (timed or latency == "all"):
                offline.append((i, kw))
                continue
            key = tuple(sorted((k, str(v)) for k, v in kw.items()))
            if key not in simulated:
                simulated[key] = _one(kw)
            preds[i] = simulated[key]
        except PlannerError as exc:
            preds[i] = _failed(exc)
    for i, vals in _offline(offline).items():
        preds[i] = vals
    for k, c in enumerate(PREDICTION_COLUMNS):
        out[c] = [p[k] for p in preds]
    return out


def _measured(v) -> bool:
    try:
        return v is not None and float(v) > 0
    except (TypeError, ValueError):
        return False


def _failed(exc: Exception) -> tuple:
    return (None, None, None, None, f"error: {exc}", None)


def _resolve(kw: dict) -> tuple:
    """Model, GPU, precision, KV precision, profile and its rule for a row, as `estimate` resolves them."""
    m, g = get_model(kw["model"]), get_gpu(kw["gpu"])
    prec, _, _ = resolve_precision(m, kw["precision"])
    kv = default_kv(m, prec) if kw["kv_precision"] in (None, "") else parse_choice(KvPrecision, kw["kv_precision"], "kv precision")
    engine = kw["engine"] or "trtllm"
    if engine not in ("trtllm", "vllm", "sglang"):
        raise PlannerError(f"engine {engine!r} is not one of: trtllm, vllm, sglang")
    g.peak_tflops(prec, engine)
    g.check_kv(kv)
    if kw.get("efficiencies") is not None:
        return m, g, prec, kv, None, "analytic"
    return (m, g, prec, kv, *_resolve_profile(kw.get("profile"), g.id, engine, prec.value, kw["engine_version"], m))


def _one(kw: dict) -> tuple:
    """`estimate` of one row, as a prediction tuple (a deployment that does not fit is an error)."""
    e = estimate(**kw, finite_run=True)
    if not e.fits:
        raise PlannerError(e.fit_reason)
    return (e.output_tok_s, e.ttft_ms, e.itl_ms, e.e2e_ms, e.source, e.uncertainty_pct)


def _offline(items: list[tuple[int, dict]]) -> dict[int, tuple]:
    """Offline throughput of many rows, one vectorised evaluation per group of rows that share
    model, GPU, precision, KV precision, engine and efficiencies (as `estimate` would resolve them)."""
    groups: dict[tuple, list] = {}
    done: dict[int, tuple] = {}
    resolved: dict[tuple, tuple] = {}  # rows naming the same model, GPU, precision, engine and version resolve once
    for i, kw in items:
        try:
            what = tuple(str(kw.get(k)) for k in ("model", "gpu", "precision", "kv_precision", "engine", "engine_version")) + (id(kw.get("profile")),)
            if what not in resolved:
                resolved[what] = _resolve(kw)
            m, g, prec, kv, prof, rule = resolved[what]
            try:
                par = Parallelism(tp=kw["tp"], pp=kw["pp"], ep=kw["ep"], attention_dp=kw["attention_dp"])
                eng = EngineSettings(engine=kw["engine"] or "trtllm", version=kw.get("engine_version"))
                isl, osl = int(kw["isl"]), int(kw["osl"])
                n = kw["num_requests"]
                if isl < 1 or osl < 1 or (n is not None and n < 1):
                    raise PlannerError(f"isl {isl}, osl {osl}, num_requests {n}: must be positive")
            except (ValidationError, TypeError, ValueError) as exc:
                raise PlannerError(str(exc).splitlines()[0]) from None
            m.check_parallelism(par)
            given = kw.get("efficiencies")
        except PlannerError as exc:
            done[i] = _failed(exc)
            continue
        key = (m.id, g.id, prec, kv, eng.engine, eng.version, id(given), id(prof), rule)
        if key not in groups:
            eff = given or (prof.efficiencies(prec, m) if prof else default_efficiencies(eng.engine))
            groups[key] = [m, g, prec, kv, eng, eff, prof, rule, []]
        groups[key][-1].append((i, kw, par, isl, osl, n))
    for m, g, prec, kv, eng, eff, prof, rule, rows in groups.values():
        tp, pp, adp, ep = (np.array([getattr(r[2], a) for r in rows], dtype=float) for a in ("tp", "pp", "attention_dp", "ep"))
        isl, osl = np.array([r[3] for r in rows], dtype=float), np.array([r[4] for r in rows], dtype=float)
        n = np.array([np.inf if r[5] is None else r[5] for r in rows], dtype=float)
        zeros = np.zeros(len(rows), dtype=int)
        s = serving.prepare(m, [g], [prec], [kv], tp, pp, eng, eff, gpu_idx=zeros, prec_idx=zeros, kv_idx=zeros, attention_dp=adp, ep=ep)
        point = serving.offline(s, isl, osl, n)
        fits = s.plan(isl, osl).max_batch >= 1
        if prof is not None:
            bands, extrapolated = uncertainties(prof, rule, m, tp, isl, osl, point.batch, adp)
        for k, (i, kw, par, *_rest) in enumerate(rows):
            if not fits[k]:
                try:  # the same one-line reason as `estimate`
                    done[i] = _one(kw)
                except PlannerError as exc:
                    done[i] = _failed(exc)
                continue
            tok_s = float(point.output_tok_s[k])
            source, unc = "analytic", analytic_uncertainty_pct(m.is_moe, par.attention_dp)
            if prof is not None:
                unc, source = float(bands[k]), f"{'extrapolated' if extrapolated[k] else 'calibrated'}:{prof.name}"
            done[i] = (tok_s if math.isfinite(tok_s) else None, None, None, None, source, unc)
    return done


def _pick(profiles: list, kw: dict):
    """The given profile matching a row, or None (automatic lookup) when none does."""
    from .profiles import find_profile

    prof, _ = find_profile(
        get_gpu(kw["gpu"]).id,
        kw.get("engine") or "trtllm",
        str(kw.get("precision", "")).lower(),
        candidates=profiles,
        engine_version=kw.get("engine_version"),
        model=get_model(kw["model"]),
    )
    return prof
