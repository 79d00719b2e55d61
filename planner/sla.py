"""SLA sizing: the largest request rate a replica sustains within latency targets, replicas
for a target rate, and what breaks first.

A target is a percentile of TTFT, ITL (and optionally E2E) not to exceed, e.g. TTFT p90 <=
500 ms and ITL p90 <= 50 ms. One replica's capacity under the SLA is the largest Poisson rate
whose percentiles meet every target (below the sustainable rate). Replicas for a fleet:
`ceil(rate x (1 + headroom) / capacity)`.

`max_rate_approx` runs the bisection on the closed-form approximation for every configuration
at once (the search); `max_rate_simulated` runs it on the simulation for one configuration
(the check of a recommendation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .errors import PlannerError
from .load import LoadStats, RateModel, simulate_load, sustainable_rate
from .serving import MemoryPlan, Setup
from .workload import RequestMix

METRICS = ("ttft", "itl", "e2e")


class Sla(BaseModel):
    """Latency targets: a percentile of each metric not to exceed (ms). None: no target."""

    model_config = ConfigDict(frozen=True)

    ttft_ms: float | None = Field(default=None, gt=0, le=3.6e6, description="Time-to-first-token target (ms)")
    ttft_pct: float = Field(default=90, ge=1, le=99.9, description="Percentile of TTFT the target applies to")
    itl_ms: float | None = Field(default=None, gt=0, le=6e4, description="Inter-token latency target (ms), excluding the first token")
    itl_pct: float = Field(default=90, ge=1, le=99.9, description="Percentile of ITL the target applies to")
    e2e_ms: float | None = Field(default=None, gt=0, le=3.6e7, description="End-to-end latency target (ms)")
    e2e_pct: float = Field(default=90, ge=1, le=99.9, description="Percentile of E2E the target applies to")

    def targets(self) -> list[tuple[str, float, float]]:
        """`(metric, percentile, seconds)` for every target set."""
        out = []
        for m in METRICS:
            v = getattr(self, f"{m}_ms")
            if v is not None:
                out.append((m, float(getattr(self, f"{m}_pct")), v / 1e3))
        return out

    def describe(self) -> str:
        parts = [f"{m.upper()} p{q:g} <= {v * 1e3:,.0f} ms" for m, q, v in self.targets()]
        return ", ".join(parts) if parts else "no latency target"


@dataclass
class SlaCapacity:
    """Per configuration: the largest rate meeting the SLA and what limits it."""

    max_rate_rps: np.ndarray  # requests/s of one replica (0: not even a trickle of traffic meets it)
    sustainable_rps: np.ndarray
    bottleneck: np.ndarray  # what breaks first as the rate grows
    percentiles: dict[str, np.ndarray]  # at max_rate: the SLA metrics' asked percentiles (seconds)
    itl_p50_s: np.ndarray  # at max_rate, for tokens/s per user


def _meets(quant: dict, targets) -> np.ndarray:
    ok = None
    for m, q, v in targets:
        x = quant[m][q]
        good = np.isfinite(x) & (x <= v)
        ok = good if ok is None else ok & good
    return ok


def max_rate_approx(s: Setup, plan: MemoryPlan, mix: RequestMix, sla: Sla, iterations: int = 18) -> SlaCapacity:
    """The SLA's rate limit of every configuration, from the closed-form approximation."""
    targets = sla.targets()
    pcts = sorted({q for _, q, _ in targets} | {50.0})
    model = RateModel(s, plan, mix)
    mu, limit = np.where(plan.max_batch >= 1, model.mu, 0.0), model.limit
    lo = np.zeros_like(mu)
    hi = mu * 0.999
    if targets:
        for _ in range(iterations):
            mid = (lo + hi) / 2.0
            ok = _meets(model.at(np.maximum(mid, 1e-9), pcts).quantiles, targets)
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        rate = lo
    else:
        rate = hi
    # a rate too small to matter means: not even light traffic meets the targets
    light = model.at(np.maximum(mu * 1e-3, 1e-9), pcts)
    fails_light = ~_meets(light.quantiles, targets) if targets else np.zeros(mu.shape, bool)
    rate = np.where(fails_light, 0.0, rate)
    at = model.at(np.maximum(rate, 1e-9), pcts)
    above = model.at(np.maximum(rate * 1.02, 1e-9), pcts)
    bottleneck = np.full(mu.shape, "", dtype=object)

    def missed(quant, m, q, v):
        x = quant[m][q]
        return ~(np.isfinite(x) & (x <= v)) & (bottleneck == "")

    for m, q, v in targets:  # not even light traffic meets it
        bottleneck[fails_light & missed(light.quantiles, m, q, v)] = f"{m.upper()} p{q:g} target at low load"
    capacity_text = np.char.add("capacity: ", limit.astype(str)).astype(object)
    at_capacity = (rate >= 0.97 * mu) & (bottleneck == "")
    bottleneck[at_capacity] = capacity_text[at_capacity]
    for m, q, v in targets:  # the first target to break just above the largest rate
        broke = missed(above.quantiles, m, q, v)
        bottleneck[broke] = f"{m.upper()} p{q:g} target"
    rest = bottleneck == ""
    bottleneck[rest] = capacity_text[rest]
    pct = {f"{m}_p{q:g}": at.quantiles[m][q] for m, q, _ in targets}
    return SlaCapacity(rate, mu, bottleneck, pct, at.quantiles["itl"][50.0])


def _sim_meets(st: LoadStats, targets) -> bool:
    if st.saturated:
        return False
    return all(math.isfinite(st.percentile(m, q)) and st.percentile(m, q) <= v for m, q, v in targets)


def max_rate_simulated(
    s: Setup, plan: MemoryPlan, mix: RequestMix, sla: Sla, i: int = 0, seed: int = 0, num_requests: int = 1500, tolerance: float = 0.03
) -> tuple[float, str, LoadStats | None]:
    """The SLA's rate limit of configuration `i` by bisection on the simulation (to `tolerance`
    of the rate), with what breaks first and the simulated load at that rate."""
    targets = sla.targets()
    mu = sustainable_rate(s, plan, mix, i, seed)
    if mu <= 0:
        raise PlannerError("the configuration serves no request")

    def run(rate):
        return simulate_load(s, plan, mix, rate=rate, num_requests=num_requests, seed=seed, i=i)

    lo, hi, best = 0.0, mu * 0.995, None
    light = run(mu * 0.02)
    if not _sim_meets(light, targets):
        missed = [f"{m.upper()} p{q:g} target at low load" for m, q, v in targets if not light.percentile(m, q) <= v]
        return 0.0, missed[0] if missed else "capacity", light
    best = light
    lo = mu * 0.02
    top = run(hi)
    if _sim_meets(top, targets):
        return hi, "capacity", top
    while hi - lo > tolerance * hi:
        mid = (lo + hi) / 2.0
        st = run(mid)
        if _sim_meets(st, targets):
            lo, best = mid, st
        else:
            hi = mid
    over = run(min(lo * 1.05, mu * 0.995))
    broke = [f"{m.upper()} p{q:g} target" for m, q, v in targets if not (math.isfinite(over.percentile(m, q)) and over.percentile(m, q) <= v)]
    return lo, broke[0] if broke else "capacity", best


def replicas_for(rate: float, per_replica_rps, headroom: float):
    """Replicas that serve `rate` requests/s with `headroom` (0.2: 20% spare), each at most `per_replica_rps`."""
    per = np.asarray(per_replica_rps, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.ceil(rate * (1.0 + headroom) / per - 1e-9)
    return np.where(per > 0, np.maximum(n, 1.0), np.inf)
