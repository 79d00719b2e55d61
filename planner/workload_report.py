"""What a workload looks like, for the CLI's `workload` command and the dashboard: length
percentiles, arrivals, the four query patterns (with their share of GPU time on a deployment),
the ISL x OSL histogram and engine sizing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .catalog import get_gpu, get_model
from .errors import PlannerError
from .load import RateModel
from .requestlog import LONG_INPUT_TOKENS, LONG_OUTPUT_TOKENS, histogram2d, pattern_shares, peak_window, per_minute, percentiles
from .search import candidates
from .sizing import engine_sizing, request_gpu_seconds
from .specs import Precision, default_kv, parse_choice
from .sweep import row_sources
from .workload import RequestMix


def describe_workload(
    mix: RequestMix,
    model: str | None = None,
    gpu: str | None = None,
    precision: str | None = None,
    tp: int = 1,
    engine: str = "trtllm",
    percentile: float = 99.0,
    long_input: int = LONG_INPUT_TOKENS,
    long_output: int = LONG_OUTPUT_TOKENS,
    bins: int = 12,
) -> tuple[dict, pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """`(summary, pattern shares, histogram counts, ISL edges, OSL edges)` of a workload.

    The summary holds the length percentiles, the arrivals (a log with times), engine sizing at
    `percentile` (with `model`) and the basis of the GPU-time shares (with `model` and `gpu`:
    each request's GPU seconds on that deployment at the log's mean rate, capped at 90 % load).
    """
    isl, osl = (mix.pairs[:, 0], mix.pairs[:, 1]) if mix.pairs is not None else mix.sample(20_000, np.random.default_rng(0))
    out: dict = {"workload": mix.describe(), "requests": int(len(isl)), "estimated_from_text": mix.estimated}
    out["isl"] = {k: round(v, 1) for k, v in percentiles(isl).items()}
    out["osl"] = {k: round(v, 1) for k, v in percentiles(osl).items()}
    if mix.arrivals_s is not None and len(mix.arrivals_s) > 1:
        t = mix.arrivals_s
        minute = per_minute(t)
        start, peak_rps = peak_window(t)
        out["arrivals"] = {
            "duration_s": round(float(t[-1] - t[0]), 1),
            "mean_rps": round(float((len(t) - 1) / (t[-1] - t[0])), 3),
            "per_minute_mean": round(float(minute.mean()), 1),  # every minute of the log, the last one partial
            "per_minute_peak": int(minute.max()),
            "peak_minute_start_s": round(start, 1),
            "peak_minute_rps": round(peak_rps, 3),
        }
    gpu_s = None
    deployment = None
    if model:
        m = get_model(model)
        kv = default_kv(m, m.checkpoint_precision or Precision.bf16)
        if gpu:
            g = get_gpu(gpu)
            prec = parse_choice(Precision, precision or m.checkpoint_precision or ("fp8" if g.supports(Precision.fp8) else "bf16"), "precision")
            c = candidates(m, mix, [g.id], [prec.value], [tp], [1], engine, dep=False)
            if c.plan.max_batch[0] < 1:
                raise PlannerError(f"{m.id} does not fit on {g.id} {prec.value} TP{tp} for this workload; give a larger tp or another gpu")
            rates = RateModel(c.setup, c.plan, mix)
            mu = float(rates.mu[0])
            rate = min(out.get("arrivals", {}).get("mean_rps") or 0.5 * mu, 0.9 * mu)
            batch = float(rates.at(rate).batch[0])
            gpu_s = request_gpu_seconds(c.setup, c.plan, isl, osl, batch)
            deployment = (c.setup, c.plan)
            kv = default_kv(m, prec)
            source, band = row_sources(m, c.gpu_idx, c.prec_idx, c.tp, round(mix.mean_isl), round(mix.mean_osl), batch, c.profiles, c.adp)
            out["gpu_time_basis"] = (
                f"{g.id} {prec.value} TP{tp} {engine} at batch {batch:.0f} ({rate:.2f} requests/s per replica); {source[0]} ±{band[0]:.0f} %"
            )
        out["engine_sizing"] = engine_sizing(mix, m, kv, percentile, engine, deployment).to_json()
    shares = pattern_shares(isl, osl, gpu_s, long_input, long_output)
    counts, ie, oe = histogram2d(isl, osl, bins=bins)
    out["patterns"] = {"long_input_above": long_input, "long_output_above": long_output, "rows": shares.round(4).to_dict("records")}
    out["histogram"] = {"isl_edges": [round(x, 1) for x in ie], "osl_edges": [round(x, 1) for x in oe], "counts": counts.astype(int).tolist()}
    return out, shares, counts, ie, oe
