"""Search: which GPU, precision and parallelism, how many replicas, at what cost.

`recommend` evaluates every candidate deployment of a model (GPU x precision x TP x PP) at
once with the closed-form approximation (`planner.load.RateModel`): its largest request rate
within the SLA, the replicas a target rate needs with headroom, the fleet's cost. Candidates
that cannot serve are kept with the reason (does not fit, misses a target even at low load, no
price, over budget). The cheapest SLA-meeting choice is then checked by the discrete-event
simulation at its real per-replica load, adding replicas if the simulation says it misses.
The Pareto frontier trades output tokens/s per GPU against tokens/s per user across loads.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import serving
from .catalog import get_gpu, get_model
from .catalog import gpus as all_gpus
from .cost import PriceBook, fleet_cost
from .errors import PlannerError
from .load import RateModel, simulate_load
from .profiles import check_engine_version
from .roofline import hardware_table
from .sla import Sla, max_rate_approx, replicas_for
from .specs import GIB, KV_NEEDS, MEMORY_SETTING, EngineSettings, ModelSpec, Precision, default_kv, parse_choice
from .sweep import nothing_runs, profile_efficiencies, row_sources
from .workload import RequestMix

DEFAULT_TPS = (1, 2, 4, 8)
DEFAULT_PPS = (1, 2)
PARETO_LOADS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97)


@dataclass
class Candidates:
    """Every deployment considered, as arrays over candidates."""

    model: ModelSpec
    gpus: list
    precisions: list
    gpu_idx: np.ndarray
    prec_idx: np.ndarray
    tp: np.ndarray
    pp: np.ndarray
    setup: serving.Setup
    plan: serving.MemoryPlan
    profiles: dict  # (gpu index, precision index) -> (profile, rule)
    adp: np.ndarray  # attention data-parallel ranks (DEP candidates of MoE models: tp 1, adp = ep = N)
    ep: np.ndarray

    def __len__(self) -> int:
        return len(self.tp)

    @property
    def gpus_per(self) -> np.ndarray:
        """GPUs of one replica of each candidate."""
        return self.tp * self.pp * self.adp

    def label(self, i: int) -> str:
        g, p = self.gpus[self.gpu_idx[i]], self.precisions[self.prec_idx[i]]
        return f"{g.id} {p.value} {parallelism_label(self.tp[i], self.pp[i], self.adp[i], self.ep[i])}"


def parallelism_label(tp, pp=1, attention_dp=1, ep=1) -> str:
    """How a replica is split, as deployments are named: "TP4", "TP4 PP2", "DEP8" (attention data
    parallel and expert parallel over 8 GPUs, TP 1), "TP2 EP2"; PP only when above 1."""
    tp, pp, adp, ep = int(tp), int(pp), int(attention_dp), int(ep)
    if adp > 1 and tp == 1 and ep == adp:
        split = f"DEP{adp}"
    else:
        split = f"TP{tp}" + (f" DP{adp}" if adp > 1 else "") + (f" EP{ep}" if ep > 1 else "")
    return split + (f" PP{pp}" if pp > 1 else "")


def candidates(
    model: str | ModelSpec,
    mix: RequestMix,
    gpus: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    tps: Sequence[int] = DEFAULT_TPS,
    pps: Sequence[int] = DEFAULT_PPS,
    engine: str | EngineSettings = "trtllm",
    dep: bool = True,
) -> Candidates:
    """The valid deployments of a model on the given GPUs (default: the catalog), sized for the
    workload. Default precisions: a quantized checkpoint's own; for a 16-bit one `SEARCH_PRECISIONS`
    (every precision but MXFP4). For a mixture-of-experts model, `dep` adds DEP-N (attention data
    parallel and expert parallel over N GPUs, TP 1) for each N of `tps` above 1 that divides the experts.
    `engine`: an engine name or its settings (`EngineSettings`)."""
    m = get_model(model)
    eng = EngineSettings.of(engine)
    engine = eng.engine
    check_engine_version(eng.version)
    gs = [get_gpu(g) for g in gpus] if gpus else list(all_gpus().values())
    if precisions:
        ps = [parse_choice(Precision, p, "precision") for p in precisions]
    else:
        ps = m.search_precisions
    splits = m.splits(tps, pps)
    stage_pps = [pp for pp in pps if pp <= m.num_layers]
    rows = []
    for gi, g in enumerate(gs):
        for pi, p in enumerate(ps):
            need = KV_NEEDS[default_kv(m, p)]
            if not g.supports(p, engine) or (need is not None and need not in g.tflops):
                continue
            rows += [(gi, pi, tp, pp, 1, 1) for tp, pp in splits]
            if dep and m.is_moe:
                for n in tps:
                    if n > 1 and m.num_experts % n == 0:
                        rows += [(gi, pi, 1, pp, n, n) for pp in stage_pps]
    if not rows:
        raise nothing_runs(m, gs, ps, engine)
    a = np.array(rows)
    gi, pi, tp, pp, adp, ep = a[:, 0], a[:, 1], a[:, 2].astype(float), a[:, 3].astype(float), a[:, 4].astype(float), a[:, 5].astype(float)
    eff, found = profile_efficiencies(gs, ps, engine, m, eng.version)
    kvs = [default_kv(m, p) for p in ps]
    s = serving.prepare(m, gs, ps, kvs, tp, pp, eng, eff, gpu_idx=gi, prec_idx=pi, kv_idx=pi, table=hardware_table(gs, ps, eff), attention_dp=adp, ep=ep)
    plan = s.plan(max(1, round(mix.mean_isl)), max(1, round(mix.mean_osl)))
    return Candidates(m, gs, ps, gi, pi, tp, pp, s, plan, found, adp, ep)


@dataclass
class Recommendation:
    """The answer of `recommend`: options meeting the SLA (cheapest first), the Pareto frontier,
    and every rejected option with the reason."""

    question: dict
    recommendations: list[dict]
    pareto: list[dict]
    rejected: list[dict]
    cheapest: dict | None
    fastest: dict | None
    verification: dict | None
    markets: list[str]
    disaggregated: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "recommendations": self.recommendations,
            "pareto": self.pareto,
            "rejected": self.rejected,
            "cheapest": self.cheapest,
            "fastest": self.fastest,
            "verification": self.verification,
            "disaggregated": self.disaggregated,
            "price_markets": self.markets,
            "notes": self.notes,
        }


def _num(x, digits: int = 4):
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def recommend(
    model: str | ModelSpec,
    rate_rps: float,
    mix: RequestMix,
    sla: Sla,
    gpus: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    tps: Sequence[int] = DEFAULT_TPS,
    pps: Sequence[int] = DEFAULT_PPS,
    engine: str | EngineSettings = "trtllm",
    headroom: float = 0.2,
    budget_usd_per_month: float | None = None,
    prices: PriceBook | None = None,
    verify: bool = True,
    disaggregated: bool = False,
    top: int = 10,
    seed: int = 0,
    max_model_len: int | None = None,
) -> Recommendation:
    """Rank the deployments that serve `rate_rps` requests/s of `mix` within `sla` by cost.

    `engine`: an engine name or its settings (`EngineSettings`: its release picks the profiles and
    the engine's defaults). `max_model_len`: the longest request (prompt + output tokens) the
    deployment must accept, e.g. the model's full context; a replica whose KV cache cannot hold one
    such request is rejected (vLLM also refuses to start with it)."""
    if not (isinstance(rate_rps, int | float) and math.isfinite(rate_rps) and 1e-6 <= rate_rps <= 1e6):  # below, a replica's share underflows
        raise PlannerError(f"rate {rate_rps!r}: must be a request rate in [0.000001, 1000000] requests/s")
    if not 0 <= headroom <= 10:
        raise PlannerError(f"headroom {headroom!r}: must be a fraction in [0, 10] (0.2 = 20% spare capacity)")
    if budget_usd_per_month is not None and not budget_usd_per_month > 0:
        raise PlannerError(f"budget {budget_usd_per_month!r}: must be a positive number of USD per month")
    prices = prices or PriceBook()
    eng = EngineSettings.of(engine)
    engine = eng.engine
    c, cap, rates, frontier = _capacities(model, mix, gpus, precisions, tps, pps, eng, sla)
    if max_model_len is not None:
        c.model.check_max_model_len(max_model_len, math.ceil(mix.mean_isl + mix.mean_osl))
    s, plan = c.setup, c.plan
    fits = plan.max_batch >= 1
    per_replica = np.where(fits, cap.max_rate_rps, 0.0)
    replicas = replicas_for(rate_rps, per_replica, headroom)
    gpus_per = c.gpus_per
    price = np.array([(prices.get(c.gpus[g].id).usd_per_hour if prices.get(c.gpus[g].id) else np.nan) for g in c.gpu_idx])
    num_gpus = replicas * gpus_per
    usd_h = num_gpus * price
    op = rates.at(np.where(np.isfinite(replicas), rate_rps / np.where(np.isfinite(replicas), replicas, 1.0), 1e-9), [50.0] + [q for _, q, _ in sla.targets()])
    share = op.prefill_share(mix.mean_osl)

    reasons = np.full(len(c), "", dtype=object)
    long_ok = None  # the candidates that hold one max_model_len request, when one is asked for
    seq_tokens = round(mix.mean_isl + mix.mean_osl)
    seq_gib = s.seq_bytes(seq_tokens) / GIB
    for i in np.flatnonzero(~fits):
        mem = c.gpus[c.gpu_idx[i]].memory_gib
        if plan.kv_budget[i] <= 0:
            limit = f"{mem:.1f} GiB"
            if engine != "trtllm":  # vLLM and SGLang hold weights and KV cache within a fraction of all memory
                f = float(np.ravel(s.kv_fraction)[i if np.size(s.kv_fraction) > 1 else 0])
                limit = f"{MEMORY_SETTING[engine]} {f:g} x {mem:.1f} GiB"
            reasons[i] = f"does not fit: weights {s.weights[i] / GIB:.1f} GiB + workspace per GPU leave no KV cache in {limit}"
        else:
            reasons[i] = f"does not fit: one {seq_tokens}-token sequence needs {seq_gib[i]:.2f} GiB of KV per GPU, {plan.kv_budget[i] / GIB:.2f} GiB left"
    if max_model_len is not None:
        need = s.request_bytes(max_model_len)
        short = fits & ~s.holds_request(max_model_len, plan)
        refuse = "vLLM refuses to start with it: " if engine == "vllm" else ""
        for i in np.flatnonzero(short):
            reasons[i] = (
                f"cannot serve a {max_model_len:,}-token request (max_model_len): {refuse}one needs {need[i] / GIB:.2f} GiB of KV per GPU, "
                f"{plan.kv_budget[i] / GIB:.2f} GiB left"
            )
        frontier = pareto(c, mix, eligible=fits & ~short)
        long_ok = ~short
    for i in np.flatnonzero(fits & (per_replica <= 0) & (reasons == "")):
        reasons[i] = f"misses the {cap.bottleneck[i].replace(' at low load', '')} even at low load"
    for i in np.flatnonzero((reasons == "") & ~np.isfinite(price)):
        reasons[i] = f"no price for {c.gpus[c.gpu_idx[i]].id} (give --price {c.gpus[c.gpu_idx[i]].id}=USD_PER_HOUR or a prices file)"
    if budget_usd_per_month is not None:
        over = (reasons == "") & (usd_h * 730.0 > budget_usd_per_month)
        for i in np.flatnonzero(over):
            reasons[i] = f"over budget: ${usd_h[i] * 730.0:,.0f}/month > ${budget_usd_per_month:,.0f}"
    ok = reasons == ""

    targets = sla.targets()
    primary = {m: q for m, q, _ in targets}
    sources, bands = row_sources(c.model, c.gpu_idx, c.prec_idx, c.tp, round(mix.mean_isl), round(mix.mean_osl), op.batch, c.profiles, c.adp)

    def row(i: int, with_cost: bool = True) -> dict:
        g, p = c.gpus[c.gpu_idx[i]], c.precisions[c.prec_idx[i]]
        src, unc = sources[i], round(float(bands[i]), 1)
        out = {
            "gpu": g.id,
            "precision": p.value,
            "kv_precision": default_kv(c.model, p).value,
            "tp": int(c.tp[i]),
            "pp": int(c.pp[i]),
            "ep": int(c.ep[i]),
            "attention_dp": int(c.adp[i]),
            "parallelism": parallelism_label(c.tp[i], c.pp[i], c.adp[i], c.ep[i]),
            "engine": engine,
            "replicas": int(replicas[i]) if np.isfinite(replicas[i]) else None,
            "num_gpus": int(num_gpus[i]) if np.isfinite(num_gpus[i]) else None,
            "max_rate_rps": _num(per_replica[i]),
            "sustainable_rps": _num(cap.sustainable_rps[i]),
            "operating_rate_rps": _num(rate_rps / replicas[i]) if np.isfinite(replicas[i]) else None,
            "ttft_p90_ms": _num(op.quantiles["ttft"][primary.get("ttft", 90.0)][i] * 1e3, 2) if "ttft" in primary else None,
            "itl_p90_ms": _num(op.quantiles["itl"][primary.get("itl", 90.0)][i] * 1e3, 3) if "itl" in primary else None,
            "itl_p50_ms": _num(op.quantiles["itl"][50.0][i] * 1e3, 3),
            "source": src,
            "uncertainty_pct": unc,
            "bottleneck": str(cap.bottleneck[i]),
            "kv_capacity_tokens": int(s.kv_capacity_tokens(plan)[i]),
        }
        if "e2e" in primary:
            out["e2e_p90_ms"] = _num(op.quantiles["e2e"][primary["e2e"]][i] * 1e3, 1)
        if with_cost and np.isfinite(price[i]) and np.isfinite(num_gpus[i]):
            pr = prices.get(g.id)
            fc = fleet_cost(num_gpus[i], price[i], rate_rps, mix.mean_isl, mix.mean_osl, replicas[i] * cap.sustainable_rps[i], float(share[i]), g.tdp_w)
            out.update(
                usd_per_gpu_hour=round(float(price[i]), 4),
                price_market=pr.market,
                usd_per_hour=_num(fc.usd_per_hour, 2),
                usd_per_month=_num(fc.usd_per_month, 0),
                usd_per_million_output_tokens=_num(fc.usd_per_million_output_tokens),
                usd_per_million_tokens=_num(fc.usd_per_million_tokens),
                usd_per_million_input_tokens_split=_num(fc.usd_per_million_input_tokens_split),
                usd_per_million_output_tokens_split=_num(fc.usd_per_million_output_tokens_split),
                usd_per_request=_num(fc.usd_per_request, 6),
                utilisation=_num(fc.utilisation, 3),
                joules_per_output_token=_num(fc.joules_per_output_token, 3),
            )
        else:
            out.update(usd_per_hour=None, usd_per_month=None, usd_per_million_output_tokens=None)
        return out

    order = np.flatnonzero(ok)
    order = order[np.lexsort((op.quantiles["itl"][50.0][order], num_gpus[order], usd_h[order]))]
    recs = [row(i) for i in order[:top]]
    # the suffixes of the JSON keys are fixed (*_p90_ms): they hold the percentile asked for
    rejected = [dict(row(i, with_cost=False), reason=str(reasons[i])) for i in np.flatnonzero(~ok)]
    fastest = None
    if len(order):
        j = order[np.argmin(op.quantiles["itl"][50.0][order])]
        fastest = row(j)
    verification = None
    notes = []
    if verify and recs:
        verification, recs[0] = _verify(c, order[0], recs[0], rate_rps, mix, sla, headroom, prices, seed)
        if recs[0]["usd_per_hour"] is not None and len(recs) > 1 and recs[0]["usd_per_hour"] > recs[1]["usd_per_hour"]:
            notes.append(
                "the simulation added replicas to the first choice; it may no longer be the cheapest of the list (rerun with --verify-top to check others)"
            )
    markets = sorted(prices.markets({c.gpus[g].id for g in c.gpu_idx[order]}))
    if len(markets) > 1:
        notes.append(f"the ranked options' prices come from {len(markets)} markets ({'; '.join(markets)}): compare within one, or give --prices FILE")
    question = {
        "model": c.model.id,
        "rate_rps": rate_rps,
        "workload": mix.describe(),
        "mean_isl": round(mix.mean_isl, 1),
        "mean_osl": round(mix.mean_osl, 1),
        "sla": sla.describe(),
        "headroom": headroom,
        "engine": engine,
        **({"engine_version": eng.version} if eng.version else {}),
        **{k: getattr(eng, k) for k in ("free_gpu_memory_fraction", "max_batch_size", "max_num_tokens") if getattr(eng, k) is not None},
        "budget_usd_per_month": budget_usd_per_month,
        "max_model_len": max_model_len,
        "candidates": len(c),
    }
    rec = Recommendation(question, recs, [dict(p) for p in frontier], rejected, recs[0] if recs else None, fastest, verification, markets, notes=notes)
    if disaggregated:
        from .disagg import disaggregated_plan

        rec.disaggregated = disaggregated_plan(c, rate_rps, mix, sla, headroom, prices, best_aggregated=recs[0] if recs else None, eligible=long_ok)
    return rec


#: The rate-independent part of the last few searches: a dashboard changing only the target rate,
#: headroom, budget or prices reuses it. Keyed on the workload object itself (held, so its id
#: stays its own) and the other inputs.
_CAPACITY_CACHE: OrderedDict = OrderedDict()


def _capacities(model, mix: RequestMix, gpus, precisions, tps, pps, engine: EngineSettings, sla: Sla):
    """Candidates, their largest SLA-meeting rate per replica, their rate model and the Pareto frontier."""
    key = (getattr(model, "id", model), id(mix), tuple(gpus or ()), tuple(precisions or ()), tuple(tps), tuple(pps), engine, repr(sla))
    if key in _CAPACITY_CACHE:
        _CAPACITY_CACHE.move_to_end(key)
        return _CAPACITY_CACHE[key][1:]
    c = candidates(model, mix, gpus, precisions, tps, pps, engine)
    value = (mix, c, max_rate_approx(c.setup, c.plan, mix, sla), RateModel(c.setup, c.plan, mix), pareto(c, mix))
    if not isinstance(model, ModelSpec):  # a ModelSpec object may be edited and reused: not cached
        _CAPACITY_CACHE[key] = value
        while len(_CAPACITY_CACHE) > 8:
            _CAPACITY_CACHE.popitem(last=False)
    return value[1:]


def _verify(c: Candidates, i: int, rec: dict, rate_rps: float, mix: RequestMix, sla: Sla, headroom: float, prices: PriceBook, seed: int):
    """Simulate one replica of the first choice at its per-replica rate; add replicas until the
    simulated percentiles meet the SLA (at most 4 more)."""
    s, plan = c.setup, c.plan
    replicas = rec["replicas"]
    tried = []
    for _ in range(5):
        per = rate_rps / replicas
        st = simulate_load(s, plan, mix, rate=per, num_requests=2000, seed=seed, i=int(i))
        got = {f"{m}_p{q:g}_ms": (round(st.percentile(m, q) * 1e3, 2) if not st.saturated else None) for m, q, _ in sla.targets()}
        meets = (not st.saturated) and all(st.percentile(m, q) <= v for m, q, v in sla.targets())
        tried.append({"replicas": replicas, "rate_per_replica_rps": round(per, 4), "meets_sla": meets, "saturated": st.saturated, **got})
        if meets:
            break
        replicas += 1
    out = dict(rec)
    if replicas != rec["replicas"]:
        g = c.gpus[c.gpu_idx[i]]
        price = prices.get(g.id).usd_per_hour
        out["replicas"] = replicas
        out["num_gpus"] = int(replicas * c.gpus_per[i])
        out["usd_per_hour"] = round(out["num_gpus"] * price, 2)
        out["usd_per_month"] = round(out["usd_per_hour"] * 730.0)
        out["usd_per_million_output_tokens"] = _num(out["usd_per_hour"] / (rate_rps * mix.mean_osl * 3600.0) * 1e6)
    out["verified_by"] = "simulation" if tried[-1]["meets_sla"] else "simulation: misses the SLA even with 4 more replicas"
    return {"method": "discrete-event simulation of one replica, 2,000 requests, Poisson arrivals", "runs": tried}, out


def frontier_sample(frontier: list, n: int) -> list:
    """`n` points of a frontier (ordered from the most per GPU to the most per user), spread evenly
    along it and always with both ends, so that a short listing shows the whole trade-off."""
    if n < 2:  # no spread to make: the point with the most per GPU, or none
        return list(frontier[: max(n, 0)])
    if len(frontier) <= n:
        return list(frontier)
    picks = sorted({round(k * (len(frontier) - 1) / (n - 1)) for k in range(n)})
    return [frontier[k] for k in picks]


def pareto(c: Candidates, mix: RequestMix, eligible: np.ndarray | None = None) -> list[dict]:
    """The frontier of output tokens/s per GPU against output tokens/s per user (1 / ITL p50),
    over every fitting candidate (of those `eligible`, when given) at loads from 5% to 97% of its
    sustainable rate."""
    model = RateModel(c.setup, c.plan, mix)
    fits = c.plan.max_batch >= 1 if eligible is None else eligible
    pts = []
    for f in PARETO_LOADS:
        a = model.at(np.maximum(model.mu * f, 1e-9), [50.0])
        per_gpu = a.rate * mix.mean_osl / c.gpus_per
        per_user = 1.0 / a.quantiles["itl"][50.0]
        for i in np.flatnonzero(fits & np.isfinite(per_user) & (per_gpu > 0)):
            pts.append((float(per_gpu[i]), float(per_user[i]), int(i), f))
    pts.sort(key=lambda p: (-p[0], -p[1]))
    frontier, best_user = [], -1.0
    for per_gpu, per_user, i, f in pts:
        if per_user > best_user:
            frontier.append(
                {
                    "config": c.label(i),
                    "gpu": c.gpus[c.gpu_idx[i]].id,
                    "precision": c.precisions[c.prec_idx[i]].value,
                    "tp": int(c.tp[i]),
                    "pp": int(c.pp[i]),
                    "attention_dp": int(c.adp[i]),
                    "load_share_of_sustainable": f,
                    "output_tok_s_per_gpu": round(per_gpu, 2),
                    "output_tok_s_per_user": round(per_user, 2),
                }
            )
            best_user = per_user
    return frontier
