"""Latency under load: a replica driven by a request rate, a number of clients or a trace.

Two ways to the same figures:

- `simulate_load`: the discrete-event simulation (`planner.simulator`) of the engine's
  scheduler, each step timed by the step-time model. Per-request TTFT, ITL and E2E, so any
  percentile; seeded and reproducible. Used for one configuration (`estimate`, the checks of
  `recommend`).
- `approximate_rate`: a closed-form approximation, vectorised over thousands of configurations
  for sweeps and the search. The batch in flight solves Little's law, B = rate x E2E(B), with
  the steady-state step of inflight batching; TTFT adds the wait for the current step, an
  M/G/1 queue of prompts for the step's token budget and an M/M/c queue for a batch slot
  (Sakasegawa's approximation); percentiles come from those queues' exponential tails and
  from the batch's fluctuation over a request's life (Poisson, time-averaged: variance 2B/3).
  `bench/serving.py` and `tests/test_load.py` measure how far it is from the simulation.

Past the sustainable rate a queue grows without bound: `saturated` is set, the sustainable rate
is reported, and the latency figures are not finite numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import PlannerError
from .serving import MemoryPlan, Setup, _mixed, closed_loop_requests, prefill_time, saturated, separate_prefill_cost
from .simulator import EngineConfig, SimResult, simulate
from .workload import RequestMix

#: Percentiles every load result reports (the SLA may ask for any other).
PERCENTILES = (50, 90, 99)
#: Requests in a simulated open-loop run unless given (a closed loop's: `serving.closed_loop_requests`).
DEFAULT_RATE_REQUESTS = 2000


def engine_config(s: Setup, plan: MemoryPlan, i: int = 0) -> EngineConfig:
    """The scheduler's view of configuration `i` of a setup."""
    kv_tokens = float(np.ravel(s.kv_capacity_tokens(plan))[i])
    block = int(np.ravel(s.block_tokens)[i if np.size(s.block_tokens) > 1 else 0])
    window, window_share = 0, 0.0
    if s.model.num_window_layers and s.window_pool is None:  # as `memory.kv_bytes_per_sequence` counts a sequence's blocks
        window = (math.ceil(s.model.sliding_window / block) + 1) * block
        window_share = float(np.ravel(s.steps.window_fraction)[i if np.size(s.steps.window_fraction) > 1 else 0])  # of the KV bytes
    return EngineConfig(
        policy=s.engine.engine,
        max_batch_size=int(np.ravel(plan.step_batch)[i]),
        max_num_tokens=int(np.ravel(plan.step_tokens)[i]),
        # one prompt's share of a step: its rank's budget in one micro-batch, or in every one where
        # the engine spreads its chunks over them (a prompt that is not chunked runs in one)
        prompt_tokens=int(round(float(np.ravel(plan.step_tokens / s.prompt_share if s.engine.chunked_prefill else plan.max_num_tokens)[i]))),
        kv_capacity_tokens=int(kv_tokens),
        block_tokens=block,
        chunked_prefill=s.engine.chunked_prefill,
        window_tokens=window,
        window_share=window_share,
    )


@dataclass
class LoadStats:
    """One configuration under one load. Times in seconds."""

    mode: str  # "rate", "concurrency", "trace" or "burst"
    load: float  # requests/s, or clients
    method: str  # "simulation" or "approximation"
    num_requests: int
    saturated: bool
    sustainable_rps: float
    achieved_rps: float
    output_tok_s: float  # of the simulated run (past saturation: what that finite run completed)
    input_tok_s: float
    mean_batch: float
    busy_fraction: float
    rejected: int = 0
    preemptions: int = 0
    ttft_s: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    itl_s: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    e2e_s: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def percentile(self, metric: str, q: float) -> float:
        """The q-th percentile (0-100) of `ttft`, `itl` or `e2e`, in seconds (NaN when none)."""
        v = getattr(self, f"{metric}_s")
        return float(np.percentile(v, q)) if len(v) else math.nan

    def mean(self, metric: str) -> float:
        v = getattr(self, f"{metric}_s")
        return float(np.mean(v)) if len(v) else math.nan


def _requests(s: Setup, mix: RequestMix, n: int, rng: np.random.Generator):
    isl, osl = mix.sample(n, rng)
    cached = mix.cached_tokens(isl) if s.engine.prefix_caching else np.zeros_like(isl)
    return isl, osl, cached


def default_requests(mode: str, load: float) -> int:
    if mode == "concurrency":
        return int(closed_loop_requests(load))
    return DEFAULT_RATE_REQUESTS


def _run(s: Setup, plan: MemoryPlan, i: int, isl, osl, cached, arrivals=None, clients=None) -> SimResult:
    steps = s.steps.scalar(i)
    drain = steps.drain if steps.has_pieces else None
    return simulate(steps.time, engine_config(s, plan, i), isl, osl, cached, arrivals=arrivals, clients=clients, drain=drain)


def sustainable_rate(s: Setup, plan: MemoryPlan, mix: RequestMix, i: int = 0, seed: int = 0) -> float:
    """Requests/s the replica completes when it is never short of work (a queued burst, as
    `trtllm-bench throughput` runs it), sized to span several full batches."""
    cfg = engine_config(s, plan, i)
    per_seq = max(mix.mean_isl + mix.mean_osl, 1.0)
    cap = max(1.0, min(cfg.max_batch_size, cfg.kv_capacity_tokens / per_seq))
    n = int(min(max(8 * cap, 400), 20_000))
    isl, osl, cached = _requests(s, mix, n, np.random.default_rng(seed + 1))
    r = _run(s, plan, i, isl, osl, cached, arrivals=np.zeros(n))
    served = int(r.ok.sum())
    return served / r.duration_s if served and r.duration_s > 0 else 0.0


def simulate_load(
    s: Setup,
    plan: MemoryPlan,
    mix: RequestMix,
    *,
    rate: float | None = None,
    concurrency: int | None = None,
    trace: bool = False,
    burst: bool = False,
    num_requests: int | None = None,
    seed: int = 0,
    i: int = 0,
) -> LoadStats:
    """Simulate configuration `i` under Poisson arrivals at `rate` requests/s, `concurrency`
    closed-loop clients, (`trace`) the arrival times of the workload's log (scaled to `rate`
    when both are given), or (`burst`) `num_requests` requests all queued at time 0 (an
    offline `trtllm-bench throughput` run)."""
    rng = np.random.default_rng(seed)
    if burst:
        n = num_requests or DEFAULT_RATE_REQUESTS
        isl, osl, cached = _requests(s, mix, n, rng)
        mode, load, arrivals, clients = "burst", math.inf, np.zeros(n), None
    elif trace:
        if mix.arrivals_s is None:
            raise PlannerError(f"workload {mix.describe()} has no arrival times to replay; give --request-rate or --concurrency")
        t = np.asarray(mix.arrivals_s, dtype=float)
        n = len(t) if num_requests is None else min(int(num_requests), len(t))
        t = t[:n]
        native = (n - 1) / (t[-1] - t[0]) if n > 1 and t[-1] > t[0] else math.nan
        if rate is not None and math.isfinite(native):
            t = (t - t[0]) * native / rate
        load = rate if rate is not None else native
        isl, osl = mix.pairs[:n, 0].astype(np.int64), mix.pairs[:n, 1].astype(np.int64)
        cached = mix.cached_tokens(isl) if s.engine.prefix_caching else np.zeros_like(isl)
        mode, arrivals, clients = "trace", t, None
    elif concurrency is not None:
        n = num_requests or default_requests("concurrency", concurrency)
        isl, osl, cached = _requests(s, mix, n, rng)
        mode, load, arrivals, clients = "concurrency", float(concurrency), None, int(concurrency)
    elif rate is not None:
        n = num_requests or DEFAULT_RATE_REQUESTS
        isl, osl, cached = _requests(s, mix, n, rng)
        arrivals = np.cumsum(rng.exponential(1.0 / rate, n))
        mode, load, clients = "rate", float(rate), None
    else:
        raise PlannerError("give a request rate, a concurrency, or a workload with arrival times")
    r = _run(s, plan, i, isl, osl, cached, arrivals=arrivals, clients=clients)
    ok = r.ok
    dur = r.duration_s
    served = int(ok.sum())
    mu = sustainable_rate(s, plan, mix, i, seed) if mode in ("rate", "trace") else math.inf
    saturated = mode in ("rate", "trace") and load > mu
    if mode in ("rate", "trace") and not saturated:
        # below saturation what arrives is served (conservation): the offered rate, not the run's noisy sample of it
        achieved = load * served / n
        out_tok, in_tok = achieved * float(r.osl[ok].mean()), achieved * float(r.isl[ok].mean())
    else:  # a closed loop, a burst, or a saturated run: what the run completed over its duration
        achieved = served / dur if dur > 0 else 0.0
        out_tok = float(r.osl[ok].sum() / dur) if dur > 0 else 0.0
        in_tok = float(r.isl[ok].sum() / dur) if dur > 0 else 0.0
    return LoadStats(
        mode=mode,
        load=load,
        method="simulation",
        num_requests=n,
        saturated=bool(saturated),
        sustainable_rps=float(mu),
        achieved_rps=float(mu if saturated else achieved),  # steady state: a saturated replica serves its sustainable rate
        output_tok_s=out_tok,
        input_tok_s=in_tok,
        mean_batch=float(r.batch_time_s / dur) if dur > 0 else 0.0,
        busy_fraction=float(r.busy_s / dur) if dur > 0 else 0.0,
        rejected=int(r.rejected.sum()),
        preemptions=int(r.preemptions.sum()),
        ttft_s=r.ttft,
        itl_s=r.itl,
        e2e_s=r.e2e,
    )


# ---------------------------------------------------------------------------------------------
# the analytic approximation (vectorised over configurations)
# ---------------------------------------------------------------------------------------------


def _z(q):
    from scipy.stats import norm

    return norm.ppf(np.asarray(q, dtype=float) / 100.0)


def _exp_tail(q, p_wait, mean_wait):
    """q-quantile (0-100) of a wait that is 0 with probability 1 - p_wait, else exponential."""
    tail = 1.0 - np.asarray(q, dtype=float) / 100.0
    p = np.clip(p_wait, 1e-12, 1.0)
    cond_mean = mean_wait / p
    return np.where(tail >= p, 0.0, cond_mean * np.log(p / np.maximum(tail, 1e-12)))


def _mixture_quantile(q: float, c_k: np.ndarray, p_wait, m_wait) -> np.ndarray:
    """q-quantile of C + W: C uniform over the rows of `c_k` (shape K x configurations), W 0 with
    probability 1 - p_wait, else exponential with mean m_wait."""
    lo = c_k.min(axis=0)
    hi = c_k.max(axis=0) + m_wait * np.log(np.maximum(p_wait, 1e-12) / max(1.0 - q, 1e-12)) + 1e-9
    hi = np.maximum(hi, lo + 1e-9)
    for _ in range(30):
        x = (lo + hi) / 2.0
        over = np.maximum(x[None, :] - c_k, 0.0)
        cdf = np.mean(np.where(over > 0, (1.0 - p_wait) + p_wait * (1.0 - np.exp(-over / np.maximum(m_wait, 1e-12))), 0.0), axis=0)
        lo, hi = np.where(cdf < q, x, lo), np.where(cdf < q, hi, x)
    return hi


@dataclass
class Approximation:
    """Arrays over configurations (seconds, requests/s). NaN latencies where saturated."""

    rate: np.ndarray
    sustainable_rps: np.ndarray
    saturated: np.ndarray
    batch: np.ndarray
    quantiles: dict[str, dict[float, np.ndarray]]  # metric -> percentile -> seconds
    means: dict[str, np.ndarray]
    capacity_limit: np.ndarray  # what caps the sustainable rate: "kv memory", "max batch" or "step budget"
    prompt_s: np.ndarray  # GPU time one prompt adds (S_p)
    decode_step_s: np.ndarray  # one decode step at the batch in flight

    def prefill_share(self, osl: float) -> np.ndarray:
        """Share of a request's GPU time spent on its prompt: S_p against its OSL decode steps, each shared by the batch."""
        decode = osl * self.decode_step_s / np.maximum(self.batch, 1.0)
        return self.prompt_s / np.maximum(self.prompt_s + decode, 1e-15)


def capacity(s: Setup, plan: MemoryPlan, isl, osl):
    """Sustainable requests/s of every configuration, its batch, and what limits it."""
    isl, osl = np.asarray(isl, float), np.asarray(osl, float)
    mnt = plan.step_tokens
    cap, recompute, _, itl_cap, e2e_cap = saturated(s, plan, isl, osl)  # requests always waiting (vLLM: contexts computed again)
    mu_batch = cap / e2e_cap
    # the step's token budget: prompts of mu requests/s need mu x ISL tokens per second, within
    # what a mixed step's decodes leave; SGLang's prefill steps are timed in the E2E already
    room = np.maximum(mnt - cap, 1.0)
    mu_tokens = room / (isl + recompute) / itl_cap if s.engine.mixed_steps else np.full(np.shape(mu_batch), np.inf)
    kv_bound = plan.running_batch < plan.step_batch
    limit = np.where(mu_tokens < mu_batch, "step budget", np.where(kv_bound, "kv memory", "max batch"))
    return np.minimum(mu_batch, mu_tokens), cap, limit


class RateModel:
    """The closed-form latency of every configuration under Poisson arrivals, with everything
    that does not depend on the rate worked out once (for bisections over the rate).

    With B requests in flight (Little's law) and t_d the decode step at B:
    - a prompt's marginal cost S_p is what it adds to a step (SGLang: its own prefill step);
      prompts form an M/G/1 queue of utilisation rho_p = rate x S_p, their costs varying as
      their lengths (Pollaczek-Khinchine: W_p = rho_p S_p E[ISL^2]/E[ISL]^2 / (2 (1 - rho_p)));
    - TTFT = the step carrying the prompt + half a decode step (the step in progress) + W_p +
      the wait for a batch slot (M/M/c with c = the batch cap, service E2E; Sakasegawa); on a
      mixed-step engine prompts also wait in whole steps: out the step in progress (length-biased)
      and then beside the prompts that arrived during it, each step t_d plus the prompts that
      arrived during the last (E[T] = t_d / (1 - rho_p)), and W_p is the larger wait;
    - a request's ITL averages its OSL steps: the batch it sees varies like a time-averaged
      Poisson count (variance 2B/3) and absorbs a Poisson number of others' prompts (B per mean
      OSL steps: an arrival sees the time average B, not a closed loop's B - 1) and the rate x
      W_p that queued behind its own prompt while it waited (M/G/1: the queue a prompt leaves
      behind); Little's law is solved again with them, B' = rate x E2E(B'), a request's decodes
      carrying B' + rate x W_p prompts, each S_p in proportion to its length:
      Var(ITL) = (dt_d/dB)^2 x 2B/3 + c S_p^2 N E[ISL^2]/E[ISL]^2 E[1/OSL] / E[OSL] (N those
      B' + rate x W_p prompts), where
      c = (1 + rho_p^2) / (1 - rho_p)^2 (at most 1 + the decode phase / S_p): prompts come in the
      busy periods of their queue, a Poisson number of them of N prompts each (M/M/1 moments);
      percentiles are lognormal with that mean and variance (an ITL is positive, and skewed where
      short answers meet a prompt or none).
    - where long prompts pace a mixed-step engine, it saturates at the in-flight batch of a closed
      loop whose steps start prompts as fast as they can (`serving.saturation_batch`), not at the KV cap.
    """

    def __init__(self, s: Setup, plan: MemoryPlan, mix: RequestMix):
        self.s, self.plan, self.mix = s, plan, mix
        self.isl, self.osl = mix.mean_isl, mix.mean_osl
        self.mu, self.cap, self.limit = capacity(s, plan, self.isl, self.osl)
        # moments of the lengths: prompts vary in cost (E[ISL^2]/E[ISL]^2) and short answers average fewer steps (E[1/OSL])
        draw_isl, draw_osl = mix.sample(4000, np.random.default_rng(12345))
        self.m2_isl = float(np.mean(draw_isl.astype(float) ** 2) / np.mean(draw_isl) ** 2)
        self.inv_osl = float(np.mean(1.0 / np.maximum(draw_osl - 1.0, 1.0)))
        self._lengths: dict[float, tuple[float, float]] = {}
        self.length_ladder = np.quantile(draw_isl, (np.arange(16) + 0.5) / 16)  # prompt lengths at 16 evenly spaced quantiles

    def lengths(self, q: float) -> tuple[float, float]:
        """ISL and OSL at percentile q of the workload."""
        if q not in self._lengths:
            mix = self.mix
            if mix.pairs is not None:
                self._lengths[q] = float(np.percentile(mix.pairs[:, 0], q)), float(np.percentile(mix.pairs[:, 1], q))
            else:
                self._lengths[q] = mix.isl.quantile(q / 100.0), mix.osl.quantile(q / 100.0)
        return self._lengths[q]

    def at(self, rate, percentiles=PERCENTILES) -> Approximation:
        s, isl, osl, cap = self.s, self.isl, self.osl, self.cap
        mnt = self.plan.step_tokens
        lam = np.broadcast_to(np.asarray(rate, dtype=float), np.shape(cap)).astype(float)
        saturated = lam >= self.mu
        lam_ok = np.where(saturated, 0.5 * self.mu, lam)

        def in_flight(behind=0.0):
            """B = rate x E2E(B) by bisection between 0 and the cap, a request's decodes carrying
            the prompts of B others and of the `behind` that queued behind its own prompt."""
            lo, hi = np.zeros_like(cap), cap.copy()
            for _ in range(24):
                mid = (lo + hi) / 2.0
                _, _, e2e_mid = _mixed(s, np.maximum(mid, 1e-3), isl, osl, mnt, others=mid + behind)
                over = lam_ok * e2e_mid > mid
                lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
            return hi

        hi = in_flight()
        batch = np.maximum(hi, 1.0)
        ctx = isl + osl / 2.0
        others = np.maximum(hi, 1e-3)
        _, itl, e2e = _mixed(s, batch, isl, osl, mnt, others=others)
        t_dec, *_ = s.step(decode_seqs=batch, decode_context=ctx)
        t_dec1, *_ = s.step(decode_seqs=batch + 1.0, decode_context=ctx)

        def carry(prompt, drained=True):  # the step(s) that carry one prompt (SGLang: its own prefill steps), to its first token
            if s.engine.mixed_steps:
                return prefill_time(s, prompt, mnt, decode_seqs=others, decode_context=ctx, share=s.prompt_share, drained=drained)
            return prefill_time(s, prompt, mnt, share=s.prompt_share, drained=drained)

        carry_mean = carry(isl, drained=False)  # what a prompt costs the others
        if s.engine.mixed_steps:
            s_p = np.maximum(carry_mean - t_dec, 0.0)
        else:  # SGLang: prompts that wait together share prefill steps (`separate_prefill_cost`)
            s_p = separate_prefill_cost(s, np.maximum(lam_ok * carry_mean, others / max(osl, 1.0)), isl, mnt)
        rho_p = np.clip(lam_ok * s_p, 0.0, 0.999)
        wait_p = rho_p * s_p * self.m2_isl / (2.0 * (1.0 - rho_p))  # Pollaczek-Khinchine: prompts cost in proportion to their length
        if s.engine.mixed_steps:
            # prompts wait in whole steps: one arriving waits out the step in progress (length-biased,
            # R = E[T^2] / 2 E[T]), then shares the next with every prompt that arrived during it.
            # A step is t_d plus the prompts that arrived during the one before: E[T] = t_d / (1 - rho),
            # E[T^2] (1 - rho^2) = t_d^2 + 2 t_d rho E[T] + rate E[T] E[S_p^2]
            e_t = t_dec / (1.0 - rho_p)
            e_t2 = (t_dec**2 + 2.0 * t_dec * rho_p * e_t + lam_ok * e_t * s_p**2 * self.m2_isl) / (1.0 - rho_p**2)
            in_steps = e_t2 / (2.0 * e_t) - t_dec / 2.0 + s_p * lam_ok * e_t2 / e_t
            # it waits beyond a decode step when the step in progress carries a prompt or another
            # prompt arrives during it; the larger wait of the two forms holds (prompts longer than
            # a step's room queue for steps as Pollaczek-Khinchine has it)
            p_steps = 1.0 - (1.0 - rho_p) * np.exp(-lam_ok * e_t2 / e_t)
            wait_p, p_prompt = np.maximum(wait_p, in_steps), np.maximum(rho_p, p_steps)
        else:
            p_prompt = rho_p
        # the prompts that queued behind a request while it waited run in its decode steps, besides
        # those of the batch that arrive during them (M/G/1: the queue a prompt leaves behind holds
        # the arrivals of its wait and service; the batch counted the service only), and they make
        # its steps and so its stay longer: Little's law again, with them
        behind = lam_ok * wait_p
        carried = np.maximum(in_flight(behind), 1e-3) + behind  # the prompts a request's decodes carry
        _, itl, e2e = _mixed(s, np.maximum(carried - behind, 1.0), isl, osl, mnt, others=carried)
        rho_s = np.clip(lam_ok * e2e / cap, 0.0, 0.999)
        p_slot = np.power(rho_s, np.sqrt(2.0 * (cap + 1.0)) - 1.0)
        wait_s = p_slot * e2e / (cap * (1.0 - rho_s))
        # prompts come in the busy periods of their queue: the prompts a decode phase meets are a
        # Poisson number of busy periods of N prompts each (M/M/1: E[N] = 1 / (1 - rho), Var N =
        # rho (1 + rho) / (1 - rho)^3), so their count varies (1 + rho^2) / (1 - rho)^2 times as much
        # as a Poisson count of the same mean, but never more than all-or-none of what the phase holds
        phase = max(osl - 1.0, 1.0) * itl
        clustered = np.minimum((1.0 + rho_p**2) / (1.0 - rho_p) ** 2, 1.0 + phase / np.maximum(s_p, 1e-9))
        itl_sd = np.sqrt((t_dec1 - t_dec) ** 2 * 2.0 * batch / 3.0 + clustered * s_p**2 * carried * self.m2_isl * self.inv_osl / max(osl, 1.0))
        log_var = np.log1p((itl_sd / np.maximum(itl, 1e-12)) ** 2)  # ITL percentiles: lognormal of that mean and sd
        nan = np.where(saturated, np.nan, 1.0)
        quantiles: dict[str, dict[float, np.ndarray]] = {"ttft": {}, "itl": {}, "e2e": {}}
        # TTFT = own prompt's step(s) + a wait that is 0 or exponential: its quantiles over a
        # ladder of prompt lengths (one value for fixed lengths), by bisection on the mixture's CDF
        if self.mix.is_fixed:
            c_k = carry(isl)[None, :]
        else:
            c_k = np.stack([carry(self.length_ladder[k]) for k in range(len(self.length_ladder))])
        p_wait = 1.0 - (1.0 - p_prompt) * (1.0 - p_slot)
        m_wait = (wait_p + wait_s) / np.maximum(p_wait, 1e-12)
        for q in percentiles:
            _, osl_q = self.lengths(q)
            ttft_q = _mixture_quantile(q / 100.0, c_k, p_wait, m_wait) + q / 100.0 * t_dec
            itl_q = itl * np.exp(_z(q) * np.sqrt(log_var) - log_var / 2.0)
            quantiles["ttft"][q] = ttft_q * nan
            quantiles["itl"][q] = itl_q * nan
            quantiles["e2e"][q] = (ttft_q + max(osl_q - 1.0, 0.0) * itl_q) * nan
        ttft_mean = carry(isl) + t_dec / 2.0 + wait_p + wait_s
        means = {"ttft": ttft_mean * nan, "itl": itl * nan, "e2e": (ttft_mean + max(osl - 1.0, 0.0) * itl) * nan}
        return Approximation(lam, self.mu, saturated, batch, quantiles, means, self.limit, s_p, t_dec)


def approximate_rate(s: Setup, plan: MemoryPlan, mix: RequestMix, rate, percentiles=PERCENTILES) -> Approximation:
    """The closed-form latency percentiles of every configuration at Poisson `rate` requests/s (see `RateModel`)."""
    return RateModel(s, plan, mix).at(rate, percentiles)
