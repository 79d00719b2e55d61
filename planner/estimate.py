"""One estimate: a deployment (model, GPU, precision, parallelism, engine) under one workload.

`estimate(...)` validates its inputs, checks the model fits before anything else, and returns an
`Estimate` with memory, KV capacity, latency, throughput and cost. It is the API under the CLI's
`estimate` and `predict` and under the dashboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import serving
from .catalog import get_gpu, get_model
from .defaults import DEFAULT_EFFICIENCIES, Efficiencies, analytic_uncertainty_pct, default_efficiencies, ttft_uncertainty_pct
from .errors import PlannerError
from .load import PERCENTILES, simulate_load
from .profiles import PRIOR_WIDTH_LOG, Profile, check_engine_version, find_profile, load_profile, measured_model, uncertainty
from .specs import GIB, KV_BYTES, EngineSettings, GpuSpec, KvPrecision, ModelSpec, Parallelism, Precision, default_kv, parse_choice, resolve_precision
from .workload import RequestMix, parse_workload

#: Most requests simulated for the latency of an offline (queued-burst) operating point by default.
OFFLINE_LATENCY_REQUESTS = 5000


class Workload(BaseModel):
    """Request shape and load. Neither `concurrency` nor `request_rate`: offline max throughput."""

    model_config = ConfigDict(frozen=True)

    isl: int = Field(default=1024, ge=1, le=10_000_000, description="Input tokens per request")
    osl: int = Field(default=1024, ge=1, le=10_000_000, description="Output tokens per request")
    concurrency: int | None = Field(default=None, ge=1, le=1_000_000, description="Closed-loop clients of the whole replica (all attention-DP ranks together)")
    request_rate: float | None = Field(default=None, ge=1e-6, le=1e6, description="Open-loop Poisson arrivals (requests/s; one a week or more)")
    num_requests: int | None = Field(default=None, ge=1, le=100_000_000, description="Requests in the run")

    @property
    def mode(self) -> Literal["offline", "concurrency", "rate"]:
        if self.concurrency is not None:
            return "concurrency"
        if self.request_rate is not None:
            return "rate"
        return "offline"


def vision_note(params_vision_encoder: int, digits: int) -> str:
    """The model line's note on a multimodal checkpoint's vision encoder, with `digits` decimals ("" without one)."""
    if not params_vision_encoder:
        return ""
    return f", {params_vision_encoder / 1e9:.{digits}f} B of them a vision encoder: weights memory only, image inputs not modelled"


def batch_limit_text(max_batch_size: int, kv_capacity_tokens: int) -> str:
    """The max batch an answer prints: none where no KV cache fits (the engines that size it from
    the cache would otherwise read as a batch of 1)."""
    return f"{max_batch_size:,}" if kv_capacity_tokens > 0 else "none (no room for a KV cache)"


class Estimate(BaseModel):
    """The planner's answer for one deployment and workload (per replica unless said)."""

    model: str
    gpu: str
    precision: str
    precision_source: str = Field(default="", description="Why this precision: asked for, the checkpoint's own, or the 16-bit default; and the kernel path")
    kv_precision: str
    tp: int
    pp: int
    ep: int
    attention_dp: int = Field(default=1, description="Attention data-parallel ranks (GPUs = tp x pp x attention_dp)")
    gpus: int
    engine: str
    engine_version: str | None = Field(default=None, description="The engine release asked for (None: the current one)")
    isl: int
    osl: int
    operating_point: str = Field(description="offline (max throughput), concurrency, rate or trace")
    concurrency: int | None
    request_rate: float | None
    workload: str = Field(description="The requests: fixed ISL/OSL, distributions, or a request log")
    params_total: int
    params_vision_encoder: int = Field(default=0, description="Of params_total, a multimodal checkpoint's vision encoder (weights memory only)")
    weights_gib_per_gpu: float
    activations_gib_per_gpu: float = Field(
        description="Workspace the engine reserves for its largest step (and, for TensorRT-LLM's C++ runtime, its decoder's buffers)"
    )
    decoder_gib_per_gpu: float = Field(
        default=0.0, description="Of the activations: TensorRT-LLM's C++ runtime decoder buffers (per sequence slot, over the vocabulary and max_seq_len)"
    )
    trtllm_backend: str | None = Field(
        default=None, description="TensorRT-LLM's runtime: cpp (TensorRT engines: the C++ runtime and its decoder) or pytorch; None for other engines"
    )
    overhead_gib_per_gpu: float
    kv_cache_gib_per_gpu: float
    memory_gib_per_gpu: float = Field(description="Usable GPU memory")
    max_model_len: int | None = Field(
        default=None, description="The engine's longest sequence, as given (None: not set; vLLM's default is the model's context window)"
    )
    memory_fraction: float = Field(
        default=0.9,
        description="The engine memory setting the plan assumed: TensorRT-LLM free_gpu_memory_fraction, vLLM "
        "gpu_memory_utilization, SGLang mem_fraction_static (given, or the engine's default; SGLang works it out from the GPU and parallelism)",
    )
    kv_bytes_per_token: float = Field(description="Whole model, at the KV precision")
    state_bytes_per_sequence: float = Field(
        default=0.0, description="Hybrid linear-attention models: one sequence's Gated DeltaNet state, whole model, whatever its length (0 for others)"
    )
    state_gib_per_gpu: float = Field(default=0.0, description="Of the KV cache: memory held for linear-attention states (hybrid models)")
    kv_capacity_tokens: int = Field(
        description="Tokens of context the replica's KV cache holds (SGLang's hybrid sliding-window models: its full-attention pool's, "
        "the window pool sized beside it)"
    )
    longest_sequence_tokens: int | None = Field(
        default=None,
        description="Longest single sequence (tokens) the KV cache holds, sliding-window layers kept as the engine keeps them "
        "(`EngineSettings.window_pool`): "
        "vLLM's 'estimated maximum model length', the largest --max-model-len it starts with",
    )
    max_concurrency: int = Field(description="Sequences of ISL+OSL tokens that fit at once")
    max_batch_size: int = Field(description="Engine limit used (given, or the engine's default for this workload)")
    max_num_tokens: int = Field(description="Engine limit on tokens per step used")
    fits: bool
    fit_reason: str
    min_tp_to_fit: int | None = Field(description="Smallest TP that fits at this PP (when it does not fit)")
    smallest_fit: str | None = Field(default=None, description="The deployment with the fewest GPUs that fits, TP on NVLink first (when it does not fit)")
    batch: float | None = Field(description="Sequences in flight at this operating point")
    ttft_ms: float | None = Field(description="Time to first token")
    itl_ms: float | None = Field(description="Inter-token latency (TPOT), excluding the first token")
    e2e_ms: float | None
    output_tok_s: float | None = Field(description="Output tokens/s of the replica (all its GPUs)")
    output_tok_s_per_gpu: float | None
    output_tok_s_per_user: float | None = Field(description="1 / ITL: decode speed one user sees")
    requests_per_s: float | None
    usd_per_hour: float | None
    usd_per_million_output_tokens: float | None
    latency_method: str = Field(description="How the latency figures of the operating point were made: a simulation of N requests")
    ttft_alone_ms: float | None = Field(default=None, description="TTFT of one request alone on an idle replica")
    itl_alone_ms: float | None = Field(default=None, description="ITL of one request alone")
    e2e_alone_ms: float | None = Field(default=None, description="E2E of one request alone")
    ttft_p50_ms: float | None = None
    ttft_p90_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p90_ms: float | None = None
    itl_p99_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p90_ms: float | None = None
    e2e_p99_ms: float | None = None
    achieved_rps: float | None = Field(default=None, description="Requests/s the replica completes at this load (the sustainable rate when saturated)")
    saturated: bool | None = Field(default=None, description="The offered rate exceeds what the replica sustains: its queue grows without bound")
    sustainable_rps: float | None = Field(default=None, description="Largest request rate the replica completes (a queued burst); open-loop loads only")
    warnings: list[str] = Field(
        default=[], description="What the answer assumes that the deployment may not allow (e.g. requests longer than the model's context)"
    )
    rejected_requests: int | None = Field(
        default=None, description="Simulated requests the replica could never serve (longer than its KV cache or step budget)"
    )
    preemptions: int | None = Field(default=None, description="Times a running request was preempted (vLLM) or retracted (SGLang) for lack of KV memory")
    advice: list[str] = Field(default=[], description="Settings that would serve this load better, with what the closed forms give for them")
    source: str = Field(
        description="'calibrated:<profile>', 'extrapolated:<profile>' (outside the profile's ranges, for a model or TP degree it was not fitted on, or a profile of another precision) or 'analytic'"
    )
    uncertainty_pct: float = Field(description="Uncertainty (%) of the throughput and ITL: the profile's, or the model class's when analytic")
    ttft_uncertainty_pct: float | None = Field(
        default=None,
        description="Uncertainty (%) of the TTFT under load, by how requests arrive (open or closed loop); None offline, "
        "where no measurement covers it. Calibration does not fit TTFT, so it is the same calibrated or not",
    )


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "input"
    return f"{field} {err.get('input')!r}: {err['msg'].lower()}"


def _fit_reason(s: serving.Setup, plan: serving.MemoryPlan, isl: int, osl: int) -> str:
    gib = GIB
    w, a, o = float(s.weights[0]), float(plan.activations[0]), float(s.overhead[0])
    if plan.kv_budget[0] <= 0:
        engine, mem, f = s.engine.engine, float(s.memory_gib[0]), float(np.ravel(s.kv_fraction)[0])
        if engine == "trtllm":
            return f"does not fit: weights {w / gib:.1f} GiB + activations {a / gib:.1f} GiB + runtime {o / gib:.1f} GiB = {(w + a + o) / gib:.1f} GiB per GPU exceed {mem:.1f} GiB"
        if engine == "sglang":  # its static share holds weights and KV; activations live outside it
            given = s.engine.free_gpu_memory_fraction is not None
            whose = "given" if given else "SGLang's default for this GPU and parallelism; a larger --mem-fraction-static may fit"
            return (
                f"does not fit: weights {w / gib:.1f} GiB + runtime {o / gib:.1f} GiB = {(w + o) / gib:.1f} GiB per GPU exceed "
                f"mem_fraction_static {f:g} x {mem:.1f} GiB = {f * mem:.1f} GiB ({whose})"
            )
        return (
            f"does not fit: weights {w / gib:.1f} GiB + activations {a / gib:.1f} GiB + runtime {o / gib:.1f} GiB = {(w + a + o) / gib:.1f} GiB "
            f"per GPU exceed gpu_memory_utilization {f:g} x {mem:.1f} GiB = {f * mem:.1f} GiB"
        )
    seq = float(s.request_bytes(isl + osl)[0])  # hybrid models: and its linear-attention state
    return f"does not fit: one sequence of {isl + osl} tokens needs {seq / gib:.2f} GiB of KV cache per GPU, only {plan.kv_budget[0] / gib:.2f} GiB is left"


def longest_sequence(s: serving.Setup, plan: serving.MemoryPlan) -> int:
    """Tokens of the longest sequence one GPU's KV cache holds (with its linear-attention state in
    hybrid models), whole blocks: what vLLM reports as "the estimated maximum model length"."""
    budget = float(plan.kv_budget[0])
    block = int(np.ravel(s.block_tokens)[0])

    def fits(blocks: int) -> bool:
        return float(s.request_bytes(blocks * block)[0]) <= budget

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while fits(hi) and hi < 2**24:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # largest whole number of blocks that fits (sliding-window layers make it non-linear)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * block


def vllm_start_check(s: serving.Setup, plan: serving.MemoryPlan, longest: int) -> str | None:
    """Why vLLM would refuse to start (None: it starts). vLLM (V1's `_check_enough_kv_cache_memory`,
    V0's `raise_if_cache_size_invalid`) requires the KV cache to hold one sequence of `max_model_len`
    tokens, which defaults to the model's context window; `longest`: `longest_sequence(s, plan)`."""
    if s.engine.engine != "vllm" or plan.kv_budget[0] <= 0:
        return None
    mml = s.max_model_len
    need = float(s.request_bytes(mml)[0])
    have = float(plan.kv_budget[0])
    if need <= have:
        return None
    what = f"--max-model-len {mml:,}" if s.engine.max_model_len else f"the default --max-model-len (the model's {mml:,}-token context window)"
    return (
        f"vLLM refuses to start: {what} needs {need / GIB:.2f} GiB of KV cache per GPU for one sequence, more than the "
        f"{have / GIB:.2f} GiB left; the longest that fits is --max-model-len {longest:,}"
    )


def capped_max_model_len(s: serving.Setup, plan: serving.MemoryPlan, longest: int) -> str | None:
    """What TensorRT-LLM and SGLang do with a `max_model_len` the KV cache cannot hold one sequence
    of (None when it can, or for vLLM, which refuses to start instead: `vllm_start_check`).
    TensorRT-LLM reduces `max_seq_len` to the longest sequence that fits, with a warning
    (`adjustMaxAttentionWindow`); SGLang caps the request length at its KV pool (`max_req_len`).
    Either way, longer requests are refused."""
    mml, engine = s.engine.max_model_len, s.engine.engine
    if mml is None or engine == "vllm" or plan.kv_budget[0] <= 0 or longest >= mml:
        return None
    what = "TensorRT-LLM reduces max_seq_len" if engine == "trtllm" else "SGLang caps the request length"
    return f"{what} from {mml:,} (max_model_len) to {longest:,} tokens, the longest sequence its KV cache holds: longer requests are refused"


def _setup(model: ModelSpec, gpu: GpuSpec, precision: Precision, kv: KvPrecision, par: Parallelism, engine: EngineSettings, eff: Efficiencies) -> serving.Setup:
    return serving.prepare(model, [gpu], [precision], [kv], [par.tp], [par.pp], engine, eff, attention_dp=par.attention_dp, ep=par.ep)


def _resolve_profile(
    profile, gpu: str, engine: str, precision: str, engine_version: str | None = None, model: ModelSpec | None = None
) -> tuple[Profile | None, str]:
    """The profile an estimate uses, and how it matched (see `estimate`). An engine version that is
    not one is refused with or without a profile (the engine defaults depend on it too)."""
    check_engine_version(engine_version)
    if profile is False or (isinstance(profile, str) and profile.strip().lower() in ("none", "analytic")):
        return None, "analytic"
    if profile is None:
        return find_profile(gpu, engine, precision, engine_version=engine_version, model=model)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    exact = (prof.gpu, prof.engine, prof.precision) == (gpu, engine, precision)
    return prof, "exact" if exact else "given"


def _fit_label(pair: tuple[int, int] | None) -> str | None:
    if pair is None:
        return "none up to TP64 x PP16"
    tp, pp = pair
    return f"TP{tp}" + (f" x PP{pp}" if pp > 1 else "") + f" ({tp * pp} GPUs)"


def fitting_deployments(
    model: ModelSpec, gpu: GpuSpec, precision: Precision, kv: KvPrecision, engine: EngineSettings, isl: int, osl: int, pp: int = 1
) -> tuple[tuple[int, int] | None, int | None]:
    """Where one ISL+OSL sequence fits, from one vectorised pass over TP x PP:
    `((tp, pp) with the fewest GPUs, smallest TP at this `pp`)`, None where nothing fits.

    The fewest-GPU deployment keeps TP inside the GPU's NVLink domain (TP across a slower link is
    the last resort) and spreads layers over further domains with PP; among equal GPU counts the
    one with less PP wins.
    """
    tps = [
        t for t in (1, 2, 4, 8, 16, 32, 64) if model.num_heads % t == 0 and not (t > model.num_kv_heads and t % model.num_kv_heads and model.attention != "mla")
    ]
    pps = sorted({p for p in (1, 2, 4, 8, 16) if p <= model.num_layers} | {pp})  # the splits deployments use, and this one
    pairs = [(t, p) for t in tps for p in pps]
    tp_a = np.array([t for t, _ in pairs], float)
    pp_a = np.array([p for _, p in pairs], float)
    n = len(pairs)
    s = serving.prepare(
        model, [gpu], [precision], [kv], tp_a, pp_a, engine, DEFAULT_EFFICIENCIES, gpu_idx=np.zeros(n, int), prec_idx=np.zeros(n, int), kv_idx=np.zeros(n, int)
    )
    fits = s.plan(isl, osl).max_batch >= 1
    if not fits.any():
        return None, None
    order = np.lexsort((pp_a, tp_a > gpu.nvlink_domain_gpus, tp_a * pp_a))  # fewest GPUs, then TP on NVLink, then less PP
    best = next(i for i in order if fits[i])
    at_pp = tp_a[fits & (pp_a == pp)]
    return (int(tp_a[best]), int(pp_a[best])), (int(at_pp.min()) if len(at_pp) else None)


@dataclass
class Deployment:
    """Everything an estimate resolves from its inputs before evaluating: the specs, the
    precision and where it came from, the profile and its rule, the engine's set-up and plan."""

    model: ModelSpec
    gpu: GpuSpec
    precision: Precision
    precision_source: str
    warnings: list[str]
    kv: KvPrecision
    par: Parallelism
    eng: EngineSettings
    mix: RequestMix
    work: Workload
    profile: Profile | None
    rule: str
    eff: Efficiencies
    setup: serving.Setup
    plan: serving.MemoryPlan


def resolve_deployment(
    model: str | ModelSpec,
    gpu: str | GpuSpec,
    precision: str | Precision | None = None,
    kv_precision: str | KvPrecision | None = None,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    attention_dp: int = 1,
    isl: int | str = 1024,
    osl: int | str = 1024,
    concurrency: int | None = None,
    request_rate: float | None = None,
    num_requests: int | None = None,
    engine: str = "trtllm",
    engine_version: str | None = None,
    free_gpu_memory_fraction: float | None = None,
    max_batch_size: int | None = None,
    max_num_tokens: int | None = None,
    max_model_len: int | None = None,
    profile: str | Path | Profile | Literal[False] | None = None,
    efficiencies: Efficiencies | None = None,
    hardware: str | Path | None = None,
    workload: str | RequestMix | None = None,
    chunked_prefill: bool | None = None,
    prefix_caching: bool | None = None,
    trtllm_backend: str | None = None,
) -> Deployment:
    """Validate and resolve `estimate`'s inputs (same meaning) into a `Deployment`; raises `PlannerError`."""
    m = get_model(model)
    g = get_gpu(gpu)
    if hardware is not None:
        from .profiling.torch_probe import apply_hardware_profile, load_hardware_profile

        g = apply_hardware_profile(g, load_hardware_profile(hardware), source=str(hardware))
    prec, prec_source, prec_warnings = resolve_precision(m, precision)
    kv = default_kv(m, prec) if kv_precision in (None, "") else parse_choice(KvPrecision, kv_precision, "kv precision")
    mix = parse_workload(workload, isl, osl)
    try:
        par = Parallelism(tp=tp, pp=pp, ep=ep, attention_dp=attention_dp)
        work = Workload(
            isl=max(1, round(mix.mean_isl)), osl=max(1, round(mix.mean_osl)), concurrency=concurrency, request_rate=request_rate, num_requests=num_requests
        )
        eng_kw = dict(
            max_batch_size=max_batch_size,
            max_num_tokens=max_num_tokens,
            max_model_len=max_model_len,
            chunked_prefill=chunked_prefill,
            prefix_caching=prefix_caching,
            trtllm_backend=trtllm_backend,
        )
        eng = EngineSettings(
            engine=engine, version=engine_version, free_gpu_memory_fraction=free_gpu_memory_fraction, **{k: v for k, v in eng_kw.items() if v is not None}
        )
    except ValidationError as exc:
        raise PlannerError(_validation_message(exc)) from None
    if work.concurrency is not None and work.request_rate is not None:
        raise PlannerError("give either concurrency or request_rate, not both")
    if eng.max_model_len is not None:
        m.check_max_model_len(eng.max_model_len, work.isl + work.osl)
    g.peak_tflops(prec, eng.engine)
    g.check_kv(kv)
    m.check_parallelism(par)
    prof, rule = (None, "analytic") if efficiencies is not None else _resolve_profile(profile, g.id, eng.engine, prec.value, engine_version, m)
    eff = efficiencies or (prof.efficiencies(prec, m) if prof else default_efficiencies(eng.engine))

    s = _setup(m, g, prec, kv, par, eng, eff)
    return Deployment(m, g, prec, prec_source, prec_warnings, kv, par, eng, mix, work, prof, rule, eff, s, s.plan(work.isl, work.osl))


def preemption_advice(d: Deployment, mode: str, preemptions: int | None) -> str | None:
    """Where vLLM preempted (`EngineSettings.preempts_when_full`), what at most the sequences of
    ISL + OSL its KV cache holds in flight (--max-num-seqs) would serve instead: none is ever
    preempted then, nor any context computed again (`serving.recomputed_tokens`). Offline and
    closed loops, the closed forms of both settings side by side; None unless that serves over 5 %
    more (not where prompts are much shorter than their answers: sequences that all run to their
    full length leave most of the cache idle while they are short)."""
    s, work, eng = d.setup, d.work, d.eng
    if not (eng.preempts_when_full and preemptions and mode in ("offline", "concurrency")):
        return None
    safe = int(d.plan.max_batch[0])
    if safe < 1 or int(d.plan.step_batch[0]) <= safe:
        return None
    capped = _setup(d.model, d.gpu, d.precision, d.kv, d.par, eng.model_copy(update={"max_batch_size": safe}), d.eff)
    if mode == "offline":
        now, then = (float(serving.offline(x, work.isl, work.osl, work.num_requests).output_tok_s[0]) for x in (s, capped))
    else:
        now, then = (float(serving.concurrency(x, work.isl, work.osl, work.concurrency, work.num_requests).output_tok_s[0]) for x in (s, capped))
    if not then > 1.05 * now:
        return None
    return (
        f"vLLM preempted {preemptions:,} times for lack of KV memory: with requests waiting it gives freed blocks to new prompts and "
        f"computes preempted contexts again. vLLM's --max-num-seqs {safe} (max_batch_size here: the sequences of ISL + OSL its KV cache holds) would serve about "
        f"{then:,.0f} output tok/s against {now:,.0f} ({then / now - 1:+.0%}, closed forms of both); requests then wait for a slot instead"
    )


def estimate(
    model: str | ModelSpec,
    gpu: str | GpuSpec,
    precision: str | Precision | None = None,
    kv_precision: str | KvPrecision | None = None,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    attention_dp: int = 1,
    isl: int | str = 1024,
    osl: int | str = 1024,
    concurrency: int | None = None,
    request_rate: float | None = None,
    num_requests: int | None = None,
    engine: str = "trtllm",
    engine_version: str | None = None,
    free_gpu_memory_fraction: float | None = None,
    max_batch_size: int | None = None,
    max_num_tokens: int | None = None,
    max_model_len: int | None = None,
    profile: str | Path | Profile | Literal[False] | None = None,
    efficiencies: Efficiencies | None = None,
    hardware: str | Path | None = None,
    workload: str | RequestMix | None = None,
    replay: bool = False,
    chunked_prefill: bool | None = None,
    prefix_caching: bool | None = None,
    seed: int = 0,
    finite_run: bool = False,
    trtllm_backend: str | None = None,
) -> Estimate:
    """Estimate memory, capacity, latency, throughput and cost of one deployment.

    Without `concurrency` or `request_rate` the operating point is offline max throughput (every
    request queued at once, as `trtllm-bench throughput` runs it): the throughput from the offline
    model, its latency figures from simulating that queued burst of `num_requests` (default
    16 x the batch, at most 5,000). With either, the latency figures (mean and p50/p90/p99) and
    the throughput come from a seeded simulation of `num_requests` requests through the
    engine's scheduler (`planner.load`). One request alone is always in `*_alone_ms`; past the sustainable rate the answer is `saturated`
    with the sustainable rate and no latency figures (`finite_run=True` reports what a finite
    benchmark run of `num_requests` would measure instead, as `predict` does for measured rows).
    `precision` None plans a quantized checkpoint at its own precision (and KV precision, where
    it states one) and a 16-bit one at FP16; the answer's `precision_source` says which.
    `isl` / `osl` take a number or a distribution spec (`normal:mean=2000,std=400`);
    `workload` a request log or `isl=...;osl=...[;prefix=N|cache_hit=F]`; `replay` runs a log's
    own arrival times (scaled to `request_rate` if given).
    `profile`: None picks the matching calibration profile from `profiles/` (falling back to the
    same GPU with another precision, then the analytic defaults, never another GPU's profile; among them the closest `engine_version`, e.g. "1.0", where given); a path or `Profile` uses that one; False or "none" forces the analytic model.
    `trtllm_backend`: TensorRT-LLM's runtime, "cpp" (TensorRT engines, whose decoder buffers take
    memory per sequence slot) or "pytorch" (default: cpp before 1.0, pytorch from 1.0).
    `efficiencies` overrides both (used by calibration itself). `hardware`: a hardware profile
    from `python -m planner probe` of this GPU: its datasheet peaks scale by the measured GEMM and
    copy rates over those of the shipped reference probe (see `planner.profiling.torch_probe`). Raises `PlannerError` for bad input.
    """
    d = resolve_deployment(
        model, gpu, precision, kv_precision, tp, pp, ep, attention_dp, isl, osl, concurrency, request_rate, num_requests, engine, engine_version,
        free_gpu_memory_fraction, max_batch_size, max_num_tokens, max_model_len, profile, efficiencies, hardware, workload, chunked_prefill,
        prefix_caching, trtllm_backend,
    )  # fmt: skip
    if replay and d.work.concurrency is not None:
        raise PlannerError("replay runs the log's own arrival times; it cannot be combined with concurrency")
    if replay and d.mix.arrivals_s is None:
        raise PlannerError(f"replay needs a request log with arrival times; {d.mix.describe()} has none")
    m, g, prec, prec_source, prec_warnings, kv, par, eng = d.model, d.gpu, d.precision, d.precision_source, d.warnings, d.kv, d.par, d.eng
    mix, work, prof, rule, s, plan = d.mix, d.work, d.profile, d.rule, d.setup, d.plan
    cap_seqs = int(plan.max_batch[0])
    longest = longest_sequence(s, plan)
    refused = vllm_start_check(s, plan, longest)
    default_refused = refused if eng.max_model_len is None else None  # the plan takes --max-model-len as set to what fits
    refused = None if default_refused else refused
    fits = cap_seqs >= 1 and refused is None
    mode = "trace" if replay else work.mode
    stats = None
    lat = serving.latency(s, work.isl, work.osl)
    if mode == "offline":
        point = serving.offline(s, work.isl, work.osl, work.num_requests)
        if fits:
            n = work.num_requests or int(min(max(16 * cap_seqs, 200), OFFLINE_LATENCY_REQUESTS))
            stats = simulate_load(s, plan, mix, burst=True, num_requests=n, seed=seed)
    elif fits:
        stats = simulate_load(s, plan, mix, rate=work.request_rate, concurrency=work.concurrency, trace=replay, num_requests=work.num_requests, seed=seed)

    def f(x, scale=1.0):
        v = float(np.asarray(x).ravel()[0])
        return v * scale if fits and math.isfinite(v) else None

    if stats is not None:
        hide = stats.saturated and not finite_run  # never a finite latency for a replica that cannot keep up

        def lat_ms(metric, q=None):
            if hide:
                return None
            v = stats.mean(metric) if q is None else stats.percentile(metric, q)
            return v * 1e3 if math.isfinite(v) else None

        tok_s = stats.output_tok_s if not stats.saturated or finite_run else stats.sustainable_rps * mix.mean_osl
        if mode == "offline":  # the throughput stays the offline model's (calibrated on it); the burst gives the latencies
            tok_s = f(point.output_tok_s)
        ttft_ms, itl_ms, e2e_ms = lat_ms("ttft"), lat_ms("itl"), lat_ms("e2e")
        rps = stats.achieved_rps if mode != "offline" else f(point.requests_per_s)
        batch = stats.mean_batch if mode != "offline" else f(point.batch)
        if mode == "offline":
            method = f"simulation of a queued burst of {stats.num_requests:,} requests (seed {seed})"
        else:
            method = f"simulation of {stats.num_requests:,} requests ({stats.mode}, seed {seed})"
        pct = {f"{m_}_p{q}_ms": lat_ms(m_, q) for m_ in ("ttft", "itl", "e2e") for q in PERCENTILES}
        extra = dict(
            achieved_rps=stats.achieved_rps,
            saturated=stats.saturated,
            sustainable_rps=stats.sustainable_rps if math.isfinite(stats.sustainable_rps) else None,
            rejected_requests=stats.rejected,
            preemptions=stats.preemptions,
        )
    else:  # does not fit
        tok_s = ttft_ms = itl_ms = e2e_ms = rps = batch = None
        method = "none (does not fit)"
        pct, extra = {}, {}
    source, unc = "analytic", analytic_uncertainty_pct(m.is_moe, par.attention_dp)
    if prof is not None:
        unc, extrapolated = uncertainty(prof, rule, m, par.tp, work.isl, work.osl, batch, par.attention_dp)
        source = f"{'extrapolated' if extrapolated else 'calibrated'}:{prof.name}"
    usd_h = g.price_usd_per_hour * par.gpus if g.price_usd_per_hour is not None else None
    fit_search = (None, None) if fits or refused else fitting_deployments(m, g, prec, kv, eng, work.isl, work.osl, par.pp)
    warnings = list(prec_warnings)
    if default_refused:
        warnings.append(default_refused.replace("vLLM refuses to start", "vLLM would refuse to start") + "; this plan assumes it is set so")
    capped = capped_max_model_len(s, plan, longest)
    if capped:
        warnings.append(capped)
    if across := g.across_servers_note(par.tp, par.attention_dp):
        warnings.append(across)
    if prof is not None and (poor := prof.poorly_fitted_note(par.tp, par.attention_dp, m)):
        warnings.append(poor)
    if prof is not None and not measured_model(prof, m):
        warnings.append(
            f"profile {prof.name} was fitted on {', '.join(prof.models[:4])}{' and others' if len(prof.models) > 4 else ''}, not on {m.id} or a model of "
            f"the same architecture: the estimate moves each parameter at most a factor of {math.exp(PRIOR_WIDTH_LOG):.2f} from the engine's default toward the fitted value (a fit also takes up what is particular to the models it saw), and its uncertainty is at least the uncalibrated band of the model class "
            f"(±{analytic_uncertainty_pct(m.is_moe, par.attention_dp):.0f} %)"
        )
    advice = [a for a in (preemption_advice(d, mode, stats.preemptions if stats is not None else None),) if a]
    if m.context_window and work.isl + work.osl > m.context_window:
        warnings.append(
            f"ISL + OSL = {work.isl + work.osl:,} tokens exceed the model's {m.context_window:,}-token context window: the engine may refuse such requests or the quality not hold"
        )
    return Estimate(
        model=m.id,
        gpu=g.id,
        precision=prec.value,
        precision_source=prec_source + ("" if g.runs_natively(prec) else f"; no {prec.value} tensor cores on {g.id}: weight-only kernel, 16-bit math"),
        kv_precision=kv.value,
        tp=par.tp,
        pp=par.pp,
        ep=par.ep,
        attention_dp=par.attention_dp,
        gpus=par.gpus,
        engine=eng.engine,
        engine_version=eng.version,
        trtllm_backend=("cpp" if eng.trtllm_cpp else "pytorch") if eng.engine == "trtllm" else None,
        isl=work.isl,
        osl=work.osl,
        operating_point=mode,
        concurrency=work.concurrency,
        request_rate=work.request_rate,
        workload=mix.describe(),
        params_total=m.params_total,
        params_vision_encoder=m.params_vision_encoder,
        weights_gib_per_gpu=float(s.weights[0]) / GIB,
        activations_gib_per_gpu=float(plan.activations[0]) / GIB,
        decoder_gib_per_gpu=float(s.decoder_bytes(plan, work.isl + work.osl)[0]) / GIB,
        overhead_gib_per_gpu=float(s.overhead[0]) / GIB,
        kv_cache_gib_per_gpu=max(float(plan.kv_budget[0]), 0.0) / GIB,
        memory_gib_per_gpu=g.memory_gib,
        max_model_len=eng.max_model_len,
        memory_fraction=float(np.ravel(s.kv_fraction)[0]),
        kv_bytes_per_token=m.kv_bytes_per_token(KV_BYTES[kv]),
        state_bytes_per_sequence=m.linear_state_bytes_per_sequence(1),
        state_gib_per_gpu=float(np.ravel(plan.state_budget)[0]) / GIB,
        kv_capacity_tokens=int(s.kv_capacity_tokens(plan)[0]),
        longest_sequence_tokens=longest,
        max_batch_size=int(plan.max_batch_size[0]),
        max_num_tokens=int(plan.max_num_tokens[0]),
        max_concurrency=cap_seqs,
        fits=fits,
        fit_reason="fits" if fits else refused or _fit_reason(s, plan, work.isl, work.osl),
        min_tp_to_fit=None if fits or refused else fit_search[1],
        smallest_fit=None if fits or refused else _fit_label(fit_search[0]),
        batch=batch,
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        e2e_ms=e2e_ms,
        output_tok_s=tok_s,
        output_tok_s_per_gpu=tok_s / par.gpus if tok_s is not None else None,
        output_tok_s_per_user=1e3 / itl_ms if itl_ms else None,
        requests_per_s=rps,
        usd_per_hour=usd_h,
        usd_per_million_output_tokens=usd_h / (tok_s * 3600.0) * 1e6 if usd_h is not None and tok_s else None,
        source=source,
        uncertainty_pct=unc,
        ttft_uncertainty_pct=ttft_uncertainty_pct(mode),
        latency_method=method,
        warnings=warnings,
        advice=advice,
        ttft_alone_ms=f(lat.ttft_s, 1e3),
        itl_alone_ms=f(lat.itl_s, 1e3),
        e2e_alone_ms=f(lat.e2e_s, 1e3),
        **pct,
        **extra,
    )
