"""Curves of one deployment for charts: latency and throughput against load, and where a step's
time goes (the roofline position of its prefill and decode steps).

Both take `estimate`'s arguments (resolved by `resolve_deployment`) and evaluate vectorised:
`load_curve` uses the closed-form rate model (`planner.load.RateModel`, the approximation `sla`
and `recommend` rank with; `estimate` simulates), so a whole curve costs about one estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import serving
from .errors import PlannerError
from .estimate import resolve_deployment
from .load import RateModel

CURVE_COLUMNS = (
    "request_rate",
    "load_pct",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "itl_p50_ms",
    "itl_p90_ms",
    "e2e_p50_ms",
    "e2e_p90_ms",
    "output_tok_s",
    "output_tok_s_per_user",
    "batch",
    "saturated",
)


def load_curve(rates=None, points: int = 24, **deployment) -> tuple[pd.DataFrame, float, str]:
    """Latency percentiles and throughput of one replica at Poisson request rates.

    `rates` (requests/s): default `points` rates spread geometrically from 2 % to 110 % of the
    sustainable rate. Returns the table (`CURVE_COLUMNS`; latencies NaN past the sustainable
    rate), the sustainable rate (requests/s) and what caps it ("kv memory", "max batch" or
    "step budget"). `deployment`: the arguments of `estimate` (model, gpu, precision, tp, ...).
    """
    d = resolve_deployment(**deployment)
    if d.plan.max_batch[0] < 1:
        raise PlannerError(f"{d.model.id} does not fit on {d.par.gpus} x {d.gpu.id}: no load curve")
    probe = RateModel(d.setup, d.plan, d.mix)
    mu, limit = float(probe.mu[0]), str(probe.limit[0])
    if rates is None:
        rates = mu * np.geomspace(0.02, 1.1, points)
    rates = np.asarray(rates, dtype=float)
    if not np.all(np.isfinite(rates)) or np.any(rates <= 0):
        raise PlannerError("rates must be positive numbers of requests per second")
    n = len(rates)
    s = serving.prepare(
        d.model,
        [d.gpu],
        [d.precision],
        [d.kv],
        np.full(n, d.par.tp),
        np.full(n, d.par.pp),
        d.eng,
        d.eff,
        gpu_idx=np.zeros(n, int),
        prec_idx=np.zeros(n, int),
        kv_idx=np.zeros(n, int),
        attention_dp=d.par.attention_dp,
        ep=d.par.ep,
    )
    plan = s.plan(np.full(n, float(d.work.isl)), np.full(n, float(d.work.osl)))
    a = RateModel(s, plan, d.mix).at(rates, percentiles=(50, 90))
    q = a.quantiles
    frame = pd.DataFrame(
        {
            "request_rate": rates,
            "load_pct": 100.0 * rates / mu,
            "ttft_p50_ms": q["ttft"][50] * 1e3,
            "ttft_p90_ms": q["ttft"][90] * 1e3,
            "itl_p50_ms": q["itl"][50] * 1e3,
            "itl_p90_ms": q["itl"][90] * 1e3,
            "e2e_p50_ms": q["e2e"][50] * 1e3,
            "e2e_p90_ms": q["e2e"][90] * 1e3,
            "output_tok_s": np.where(a.saturated, mu, rates) * d.mix.mean_osl,
            "output_tok_s_per_user": 1e3 / (q["itl"][50] * 1e3),
            "batch": a.batch,
            "saturated": a.saturated,
        }
    )
    return frame, mu, limit


def step_breakdown(batch: float | None = None, **deployment) -> pd.DataFrame:
    """Where the time of two steps goes: one prompt of ISL tokens alone (prefill) and a decode
    step of `batch` sequences at mid-answer context (default: the largest batch the engine runs).

    Columns: `step`, `tokens`, `compute_ms` and `memory_ms` (speed-of-light time over efficiency
    of the math and of the bytes moved), `comm_ms` (all-reduces and pipeline sends), `total_ms`
    (with overheads), `bound` ("compute" or "memory", whichever of the two is longer) and
    `compute_to_memory` (their ratio: above 1 the step sits right of the roofline's ridge).
    """
    d = resolve_deployment(**deployment)
    if float(d.plan.max_batch[0]) < 1:
        raise PlannerError(f"{d.model.id} does not fit on {d.par.gpus} x {d.gpu.id}")
    isl, osl = float(d.work.isl), float(d.work.osl)
    b = float(d.plan.running_batch[0]) if batch is None else float(batch)
    rows = []
    for name, kw, tokens in (
        ("prefill", dict(prefill_tokens=isl, prefill_seqs=1.0, prefill_context=isl / 2.0), isl),
        ("decode", dict(decode_seqs=b, decode_context=isl + osl / 2.0), b),
    ):
        total, compute, memory, comm = (float(np.ravel(x)[0]) for x in d.setup.step(**kw))
        rows.append(
            dict(
                step=name,
                tokens=tokens,
                compute_ms=compute * 1e3,
                memory_ms=memory * 1e3,
                comm_ms=comm * 1e3,
                total_ms=total * 1e3,
                bound="compute" if compute >= memory else "memory",
                compute_to_memory=compute / memory if memory > 0 else np.inf,
            )
        )
    return pd.DataFrame(rows)


__all__ = ["load_curve", "step_breakdown", "CURVE_COLUMNS"]
