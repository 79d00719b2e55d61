"""Operating points: one request alone, fixed concurrency, an open-loop request rate, and offline
maximum throughput as `trtllm-bench throughput` measures it.

Everything is vectorised: a `Setup` holds arrays (one entry per configuration) and each operating
point returns arrays of TTFT, ITL, E2E (seconds) and throughput. Metric definitions follow NVIDIA's
GenAI-Perf / trtllm-bench: TTFT is time to the first output token; ITL (= TPOT) is the mean time
between later tokens and excludes the first; E2E = TTFT + (OSL - 1) x ITL; output tokens/s is the
system total of one replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .defaults import SGLANG_MAMBA_FULL_MEMORY_RATIO, Efficiencies, default_efficiencies
from .engine_limits import default_limits, sglang_max_running_requests, sglang_server_defaults, vllm_default_tokens, vllm_large_gpu, vllm_v0_limits
from .memory import (
    activation_bytes_per_gpu,
    charged_kv_bytes_per_token_per_gpu,
    kv_budget_bytes,
    kv_bytes_per_sequence,
    kv_bytes_per_token_per_gpu,
    kv_capacity_tokens,
    max_sequences,
    runtime_overhead_bytes,
    state_bytes_per_sequence_per_gpu,
    trtllm_cpp_decoder_bytes,
    vllm_hybrid_pages,
    weight_bytes_per_gpu,
)
from .roofline import Hardware, HardwareTable, StepModel, hardware, step_model
from .specs import ACT_BYTES, KV_BYTES, NVFP4_DISPATCH_BYTES, WEIGHT_PARTS, EngineSettings, GpuSpec, KvPrecision, ModelSpec, Precision

#: Bounds of the requests in a closed-loop run unless given (10 per client between them).
CLOSED_LOOP_REQUESTS = (500, 20_000)


@dataclass(frozen=True)
class MemoryPlan:
    """How one GPU's memory is used for a workload, and the batch limits that follow (arrays)."""

    activations: np.ndarray  # bytes per GPU
    kv_budget: np.ndarray  # bytes per GPU for the KV cache (negative: does not fit)
    max_batch_size: np.ndarray  # the engine setting
    max_num_tokens: np.ndarray  # the engine setting
    max_batch: np.ndarray  # sequences of ISL+OSL tokens served at once (0: does not fit)
    # sequences the engine runs at once where the KV cache bounds it: max_batch where it reserves
    # every request's outputs (TensorRT-LLM); vLLM and SGLang admit against the KV a request holds,
    # ISL + OSL / 2 tokens on average over its life, and preempt when the cache runs out
    running_batch: np.ndarray
    step_batch: np.ndarray  # sequences one step runs: max_batch_size, x PP where each micro-batch has its own (TensorRT-LLM, vLLM V0)
    step_tokens: np.ndarray  # tokens one step (a pipeline cycle) runs: max_num_tokens for each PP micro-batch and attention-DP rank
    state_budget: np.ndarray | float = 0.0  # bytes per GPU of the KV budget held for linear-attention states (hybrid models)


@dataclass(frozen=True)
class Setup:
    """A grid of deployments of one model, as arrays ready for the operating-point functions."""

    model: ModelSpec
    hw: Hardware
    eff: Efficiencies
    engine: EngineSettings
    tp: np.ndarray
    pp: np.ndarray
    memory_gib: np.ndarray
    weight_bpp: dict  # bytes per weight of each decoder part, one array each (see memory.part_bytes)
    kv_bytes: np.ndarray
    weights: np.ndarray  # bytes per GPU
    overhead: np.ndarray  # bytes per GPU
    kv_per_token: np.ndarray  # bytes per GPU per token of context (every layer's: what attention reads)
    large_gpu: np.ndarray  # vLLM's larger scheduler defaults apply (>= 70 GiB and not an A100)
    adp: np.ndarray  # attention data-parallel ranks: each holds its own requests' KV and runs its own batch
    ep: np.ndarray  # expert-parallel GPUs
    state_per_seq: np.ndarray | float = 0.0  # bytes per GPU of one sequence's linear-attention state (hybrid models)
    block_tokens: np.ndarray | int = 16  # KV-cache block: the engine's, or vLLM's enlarged one for hybrid models
    ffn_over_group: bool = False  # attention DP splits dense MLPs, shared experts and the vocabulary over every GPU (SGLang)
    kv_fraction: np.ndarray | float = 0.9  # the engine's memory fraction (SGLang's default is worked out per GPU and parallelism)
    dispatch_bytes: np.ndarray | float = ACT_BYTES  # bytes per hidden-state element a MoE layer's attention-DP dispatch carries
    window_pool: float | None = None  # how the engine keeps window layers' KV (`EngineSettings.window_pool`)

    @cached_property
    def kv_charged(self) -> np.ndarray:
        """Bytes per GPU one token of a sequence takes out of the KV budget, the unit of the KV
        capacity (`memory.charged_kv_bytes_per_token_per_gpu`): `kv_per_token` unless the engine
        keeps window layers in a pool of their own."""
        if self.window_pool is None:
            return self.kv_per_token
        return charged_kv_bytes_per_token_per_gpu(self.model, self.kv_bytes, self.tp, self.pp, self.window_pool)

    @property
    def max_model_len(self) -> int:
        """The longest sequence the engine accepts: the setting, else the model's context window
        (vLLM's derived `max_model_len`: `max_position_embeddings`, RoPE-scaled where the config scales it)."""
        return self.engine.max_model_len or self.model.context_window or self.model.max_position_embeddings or 2048

    @property
    def prompt_share(self) -> np.ndarray:
        """The parts a step's token budget and its decodes split into, one prompt running in one:
        the attention-DP ranks (each schedules its own requests within its own budget), times the
        PP micro-batches where a request runs in one micro-batch at a time (TensorRT-LLM, vLLM V0;
        vLLM V1 and SGLang spread a prompt's chunks over them, `prompt_piece`)."""
        return np.asarray(self.adp, float) * (np.asarray(self.pp, float) if self.engine.requests_per_micro_batch else 1.0)

    def _request_free_tokens(self) -> np.ndarray:
        """vLLM V1's and SGLang's `max_num_tokens` per step, which does not depend on the requests:
        the setting, or the engine's default (per configuration)."""
        eng = self.engine
        if eng.max_num_tokens is not None:
            return np.asarray(float(eng.max_num_tokens)) + 0 * self.tp
        if eng.engine == "sglang":
            return sglang_server_defaults(self.memory_gib, self.tp, self.pp, self.adp, eng.version)[0] + 0 * self.tp
        return vllm_default_tokens(self.large_gpu) + 0 * self.tp

    @cached_property
    def prompt_piece(self) -> np.ndarray:
        """Most tokens of one prompt in one PP micro-batch where the engine spreads a prompt's
        chunks over consecutive micro-batches (vLLM V1, SGLang: its `max_num_tokens`); inf where a
        request runs in one micro-batch at a time (TensorRT-LLM, vLLM V0) or there is one stage."""
        if self.engine.requests_per_micro_batch:
            return np.full(np.shape(self.tp), np.inf)
        return np.where(self.pp > 1, self._request_free_tokens(), np.inf)

    def seq_bytes(self, tokens) -> np.ndarray:
        return kv_bytes_per_sequence(self.model, self.kv_bytes, self.tp, self.pp, tokens, self.block_tokens, self.window_pool)

    def request_bytes(self, tokens) -> np.ndarray:
        """KV-cache bytes per GPU one running request of `tokens` tokens needs: its KV blocks and,
        in hybrid models, its linear-attention state."""
        return self.seq_bytes(tokens) + np.asarray(self.state_per_seq, dtype=float)

    def holds_request(self, tokens, plan: MemoryPlan) -> np.ndarray:
        """Whether each GPU's KV budget holds one request of `tokens` tokens (e.g. `max_model_len`:
        vLLM refuses to start without it, TensorRT-LLM and SGLang shorten it)."""
        return self.request_bytes(tokens) <= plan.kv_budget

    def _decoder(self, max_batch_size, max_seq_len) -> np.ndarray:
        """TensorRT-LLM's C++ runtime decoder buffers per GPU, for every sequence slot of every
        micro-batch (0 for other engines and TensorRT-LLM's PyTorch backend)."""
        if not self.engine.trtllm_cpp:
            return np.zeros_like(np.asarray(max_batch_size, float))
        slots = np.asarray(max_batch_size, float) * (self.pp if self.engine.requests_per_micro_batch else 1.0)
        return trtllm_cpp_decoder_bytes(self.model, slots, max_seq_len)

    def decoder_bytes(self, plan: MemoryPlan, request_tokens) -> np.ndarray:
        """The C++ runtime decoder's share of `plan.activations` (engines built for `request_tokens`-long sequences unless max_model_len is set)."""
        return self._decoder(plan.max_batch_size, self.engine.max_model_len or request_tokens)

    def _budget(self, max_num_tokens, max_batch_size, max_seq_len):
        acts = activation_bytes_per_gpu(self.model, max_num_tokens, max_batch_size, self.tp, self.engine.engine)
        acts = acts + self._decoder(max_batch_size, max_seq_len)
        return acts, kv_budget_bytes(self.memory_gib, self.weights, acts, self.overhead, self.engine.engine, self.kv_fraction)

    def plan(self, isl, osl) -> MemoryPlan:
        """Memory and batch limits for requests of ISL+OSL tokens.

        Limits the user did not set follow the engine's defaults (`planner.engine_limits`); as
        TensorRT-LLM sizes them from the KV capacity, that is estimated first with a provisional
        activation workspace, then the workspace is sized for the chosen limits.
        """
        eng = self.engine
        seq_len = np.asarray(isl, float) + np.asarray(osl, float)
        seq = self.seq_bytes(seq_len)
        built_len = eng.max_model_len or seq_len  # TensorRT-LLM's max_seq_len: trtllm-bench builds for the requests
        mbs, mnt = eng.max_batch_size, eng.max_num_tokens
        shape = np.broadcast(seq, self.tp).shape
        if mbs is None or mnt is None:
            _, budget0 = self._budget(mnt or 8192, mbs or 256, built_len)
            if eng.engine == "sglang":
                d_mnt = self._request_free_tokens()
                context = self.model.max_position_embeddings or self.model.context_window or 2048  # SGLang: the config's own length
                d_mbs = sglang_max_running_requests(kv_capacity_tokens(budget0, self.kv_charged, 1), context)
            elif eng.vllm_v0:
                d_mbs, d_mnt = vllm_v0_limits(self.max_model_len, eng.version, self.model.sliding_window is not None)
            else:
                d_mbs, d_mnt = default_limits(eng.engine, np.maximum(budget0, 0.0) / seq, isl, osl, self.pp, self.large_gpu)
            mbs = d_mbs if mbs is None else mbs
            mnt = d_mnt if mnt is None else mnt
        mbs, mnt = np.broadcast_to(np.asarray(mbs, float), shape), np.broadcast_to(np.asarray(mnt, float), shape)
        acts, budget = self._budget(mnt, mbs, built_len)
        step_batch = mbs * (self.pp if eng.requests_per_micro_batch else 1.0)
        # each attention-DP rank schedules its own requests within the limits and its own KV cache
        ranks = self.adp
        held = seq if eng.reserves_outputs else self.seq_bytes(np.asarray(isl, float) + np.asarray(osl, float) / 2.0)
        if not np.any(self.state_per_seq):
            batch = max_sequences(budget, seq, step_batch)
            running = max_sequences(budget, held, step_batch)
            return MemoryPlan(acts, budget, mbs, mnt, ranks * batch, ranks * running, ranks * step_batch, ranks * mnt * self.pp)
        # hybrid models: a running sequence also holds its linear-attention state. SGLang gives the
        # states a fixed share of the budget; the other engines draw them from the KV pool.
        state = np.broadcast_to(np.asarray(self.state_per_seq, float), shape)
        if eng.engine == "sglang":
            r = SGLANG_MAMBA_FULL_MEMORY_RATIO
            slots = np.floor(np.maximum(budget, 0.0) * r / (1 + r) / state)
            batch = np.minimum(slots, max_sequences(budget / (1 + r), seq, step_batch))
            running = np.minimum(slots, max_sequences(budget / (1 + r), held, step_batch))
            state_budget = np.maximum(budget, 0.0) * r / (1 + r)
        else:
            slots = batch = max_sequences(budget, seq + state, step_batch)
            running = max_sequences(budget, held + state, step_batch)
            state_budget = batch * state
        step = ranks * np.minimum(step_batch, np.maximum(slots, 1.0))
        return MemoryPlan(acts, budget, mbs, mnt, ranks * batch, ranks * running, step, ranks * mnt * self.pp, state_budget)

    def kv_capacity_tokens(self, plan: MemoryPlan) -> np.ndarray:
        """Tokens of context the replica holds: every attention-DP rank's cache (less what hybrid
        models' linear-attention states take)."""
        return self.adp * kv_capacity_tokens(plan.kv_budget - plan.state_budget, self.kv_charged, self.block_tokens)

    @cached_property
    def steps(self) -> StepModel:
        """The step-time model of every configuration, worked out once (`.scalar(i)` for one, as plain floats)."""
        return step_model(
            self.model,
            self.hw,
            self.eff,
            tp=self.tp,
            pp=self.pp,
            weight_bytes_per_param=self.weight_bpp,
            kv_bytes=self.kv_bytes,
            kv_per_token=self.kv_per_token,
            attention_dp=self.adp,
            ep=self.ep,
            ffn_over_group=self.ffn_over_group,
            dispatch_bytes=self.dispatch_bytes,
            prompt_piece=self.prompt_piece,
        )

    def step(self, prefill_tokens=0.0, prefill_seqs=0.0, prefill_context=0.0, decode_seqs=0.0, decode_context=0.0):
        """`(total, compute, memory, comm)` seconds of one step of every configuration."""
        args = [np.asarray(x, dtype=float) for x in (prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context)]
        return self.steps.parts(*args)

    def drain(self, prompt_tokens, prefill_tokens=0.0, prefill_seqs=0.0, prefill_context=0.0, decode_seqs=0.0, decode_context=0.0):
        """Seconds after a step at which a prompt that finishes in it, `prompt_tokens` of it in the
        step, has its first token: its last piece's way out of the pipeline (`StepModel.drain`)."""
        args = [np.asarray(x, dtype=float) for x in (prompt_tokens, prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context)]
        return self.steps.drain(*args)


def prepare(
    model: ModelSpec,
    gpus: list[GpuSpec],
    precisions: list[Precision],
    kv_precisions: list[KvPrecision],
    tp,
    pp,
    engine: EngineSettings,
    eff: Efficiencies | dict,
    gpu_idx=None,
    prec_idx=None,
    kv_idx=None,
    table: HardwareTable | None = None,
    attention_dp=1,
    ep=1,
) -> Setup:
    """Size weights for a grid of deployments of one model.

    `gpus`, `precisions` and `kv_precisions` are lookup tables and the `*_idx` arrays pick an
    entry per configuration; without indices the lists are parallel (one entry per configuration).
    `eff`: one `Efficiencies`, or per (GPU index, precision index) as `roofline.hardware` takes.
    Parameters that are not fitted per profile (overlap, latencies, layer overhead) come from the
    defaults when `eff` is a dict. `attention_dp` and `ep` (scalars or arrays) as `Parallelism`.
    """
    tp = np.asarray(tp, dtype=float)
    pp = np.asarray(pp, dtype=float)
    adp = np.asarray(attention_dp, dtype=float) + 0 * tp
    ep = np.asarray(ep, dtype=float) + 0 * tp
    model = engine.as_stored(model)
    pi = np.arange(len(precisions)) if prec_idx is None else np.asarray(prec_idx)
    ki = np.arange(len(kv_precisions)) if kv_idx is None else np.asarray(kv_idx)
    gi = np.arange(len(gpus)) if gpu_idx is None else np.asarray(gpu_idx)
    wbp = {part: np.array([model.part_weight_bytes(p)[part] for p in precisions])[pi] for part in WEIGHT_PARTS}
    kvb = np.array([KV_BYTES[k] for k in kv_precisions])[ki]
    mem = np.array([g.memory_gib for g in gpus])[gi]
    large = np.array([vllm_large_gpu(g.memory_gib, g.id) for g in gpus])[gi]
    ffn_over_group = engine.engine == "sglang"  # DP attention: "DP for attention, TP for FFN"
    weights = weight_bytes_per_gpu(model, wbp, tp, pp, adp, ffn_over_group)
    over = runtime_overhead_bytes(tp, pp, engine.engine, adp)
    kv_tok = kv_bytes_per_token_per_gpu(model, kvb, tp, pp)
    state = state_bytes_per_sequence_per_gpu(model, tp, pp)
    blocks = engine.block_tokens
    if engine.engine == "vllm" and model.num_linear_layers:
        blocks, state = vllm_hybrid_pages(model, kv_tok, state, pp, engine.block_tokens)
    hw = hardware(gpus, precisions, tp, pp, eff, gpu_idx=gi, prec_idx=pi, table=table, attention_dp=adp)
    shared = eff if isinstance(eff, Efficiencies) else default_efficiencies(engine.engine)
    fraction = engine.kv_fraction
    if engine.engine == "sglang" and engine.free_gpu_memory_fraction is None:
        fraction = sglang_server_defaults(mem, tp, pp, adp, engine.version)[2]
    dispatch = np.array([dispatch_bytes(model, p, engine) for p in precisions])[pi]
    return Setup(
        model,
        hw,
        shared,
        engine,
        tp,
        pp,
        mem,
        wbp,
        kvb,
        weights,
        over,
        kv_tok,
        large + 0 * tp,
        adp,
        ep,
        state,
        blocks,
        ffn_over_group,
        fraction,
        dispatch,
        window_pool=engine.window_pool(model),
    )


def dispatch_bytes(model: ModelSpec, precision: Precision, engine: EngineSettings) -> float:
    """Bytes per hidden-state element a MoE layer's attention-DP all-gather carries: NVFP4 where
    TensorRT-LLM quantizes the hidden states for NVFP4 experts before it (`NVFP4_DISPATCH_BYTES`),
    else 16 bits (vLLM's default all-gather and SGLang's DP gather send them unquantized)."""
    nvfp4_experts = precision == Precision.nvfp4 and model.part_weight_bytes(precision)["experts"] < 1.0
    return NVFP4_DISPATCH_BYTES if engine.engine == "trtllm" and nvfp4_experts else ACT_BYTES


def prefill_time(s: Setup, isl, max_num_tokens, decode_seqs=0.0, decode_context=0.0, share=1.0, drained=True):
    """Seconds to prefill one prompt of `isl` tokens, in chunks of at most `max_num_tokens`
    (less the decoding sequences' tokens), sharing each step with `decode_seqs` sequences.

    `share`: the parts the budget and the decodes split into when the prompt may use only one of
    them (`Setup.prompt_share`: its attention-DP rank's, its PP micro-batch's). `drained`: until
    its first token (the default); else the steps that carry it, which is what it costs the others
    (its last pieces leave the pipeline while the next step runs).
    """
    isl = np.asarray(isl, dtype=float)
    room = np.maximum((np.asarray(max_num_tokens, float) - np.asarray(decode_seqs, dtype=float)) / share, 1.0)
    chunks = np.ceil(isl / room)
    kw = dict(prefill_seqs=1.0, prefill_context=isl / 2.0, decode_seqs=decode_seqs, decode_context=decode_context)
    t, *_ = s.step(prefill_tokens=isl / chunks, **kw)
    if not s.steps.has_pieces:
        return chunks * t
    # where a prompt's chunks run in consecutive PP micro-batches (vLLM V1, SGLang) a step's time
    # is not linear in its pieces: the engine fills whole steps and the last takes the rest; the
    # last piece of each leaves the pipeline after it (`Setup.drain`), and pieces keep their order
    last = isl - (chunks - 1.0) * room
    kw_full, kw_last = dict(kw, prefill_context=(isl - last) / 2.0), dict(kw, prefill_context=isl - last / 2.0)
    t_full, *_ = s.step(prefill_tokens=room, **kw_full)
    t_last, *_ = s.step(prefill_tokens=last, **kw_last)
    before = np.where(chunks > 1.0, s.drain(room, prefill_tokens=room, **kw_full) - t_last, 0.0)  # the full steps' last piece
    filled = (chunks - 1.0) * t_full + t_last
    if drained:
        filled = filled + np.maximum(s.drain(last, prefill_tokens=last, **kw_last), before)
    return np.where(np.isfinite(s.prompt_piece), filled, chunks * t)


def _drain(s: Setup, prompt_tokens, prompts, isl, decode_seqs=0.0, decode_context=0.0):
    """Seconds after its last step at which a prompt of `isl` tokens, `prompt_tokens` of it in that
    step beside `prompts` - 1 others' as many, has its first token (`Setup.drain`: 0 unless the
    engine spreads a prompt's chunks over the PP micro-batches)."""
    if not s.steps.has_pieces:
        return 0.0
    prompts = np.maximum(prompts, 1.0)
    return s.drain(
        prompt_tokens,
        prefill_tokens=prompts * prompt_tokens,
        prefill_seqs=prompts,
        prefill_context=isl - prompt_tokens / 2.0,
        decode_seqs=decode_seqs,
        decode_context=decode_context,
    )


def decode_itl(s: Setup, batch, context):
    """Seconds of one decode step for `batch` sequences at average `context` tokens."""
    t, *_ = s.step(decode_seqs=batch, decode_context=context)
    return t


@dataclass(frozen=True)
class Point:
    """One operating point, arrays over the configurations. Seconds and tokens/s."""

    ttft_s: np.ndarray
    itl_s: np.ndarray
    e2e_s: np.ndarray
    output_tok_s: np.ndarray  # system, one replica
    requests_per_s: np.ndarray
    batch: np.ndarray  # sequences in flight
    plan: MemoryPlan


def latency(s: Setup, isl, osl) -> Point:
    """One request alone (batch 1)."""
    isl, osl = np.asarray(isl, float), np.asarray(osl, float)
    plan = s.plan(isl, osl)
    ttft = prefill_time(s, isl, plan.step_tokens, share=s.prompt_share)  # one prompt: chunks of its share of a step
    itl = decode_itl(s, 1.0, isl + osl / 2.0)
    e2e = ttft + (osl - 1.0) * itl
    return _point(plan, ttft, itl, e2e, osl / e2e, 1.0 / e2e, np.ones_like(e2e))


def _prefill_steps(s: Setup, batch, isl, max_num_tokens):
    """Steps that prefill `batch` equal prompts waiting at once, within the step's budget and one
    prompt's share of it (`Setup.prompt_share`): the whole phase, and the first prompt's."""
    budget = np.maximum(np.asarray(max_num_tokens, float), 1.0)
    first = np.maximum(np.ceil(isl * s.prompt_share / budget), 1.0)
    return np.maximum(np.maximum(np.ceil(batch * isl / budget), first), 1.0), first


def _cycle(s: Setup, batch, isl, osl, max_num_tokens, recompute=0.0):
    """A batch of `batch` equal requests admitted together: its prefill phase, then OSL-1 decode steps.
    `recompute`: prompt tokens computed again per request (`recomputed_tokens`), in the prefill phase."""
    ctx = isl + osl / 2.0
    work = isl + recompute
    prefill_steps, _ = _prefill_steps(s, batch, work, max_num_tokens)
    chunk = batch * work / prefill_steps
    prompts = batch * (1.0 + recompute / isl)  # each preempted context comes back as a prompt of its own
    # prompts queued together: a step's micro-batches and attention-DP ranks each carry chunks of
    # a different prompt (up to PP x DP of them)
    t_chunk, *_ = s.step(prefill_tokens=chunk, prefill_seqs=np.maximum(prompts / prefill_steps, np.minimum(prompts, s.pp * s.adp)), prefill_context=isl / 2.0)
    t_prefill = prefill_steps * t_chunk
    itl = decode_itl(s, batch, ctx)
    return t_prefill, itl, t_prefill + (osl - 1.0) * itl


def offline(s: Setup, isl, osl, num_requests=None) -> Point:
    """Offline maximum throughput as `trtllm-bench throughput` measures it.

    All requests are queued at once; the engine admits as many as the KV cache (reserving
    ISL+OSL tokens each), `max_batch_size` and the request count allow. With equal lengths the
    admitted batch runs in lock step: a prefill phase in chunks of `max_num_tokens`, then OSL
    decode steps, then the next batch. A fixed request count ends with a partial batch.
    """
    isl, osl = np.asarray(isl, float), np.asarray(osl, float)
    plan = s.plan(isl, osl)
    cap = plan.running_batch
    n = np.asarray(num_requests if num_requests is not None else np.inf, dtype=float)
    n = np.where(np.isfinite(n), n, np.maximum(cap, 1.0) * 16)
    batch = np.maximum(np.minimum(cap, n), 1.0)
    full = np.floor(n / batch)
    rest = n - full * batch
    recompute = recomputed_tokens(s, plan, osl, batch, n > batch)  # while requests wait, an engine that preempts computes contexts again
    t_pre, itl, t_cycle = _cycle(s, batch, isl, osl, plan.step_tokens, recompute)
    if np.any(recompute > 0):  # ... after their first tokens
        t_pre, _, _ = _cycle(s, batch, isl, osl, plan.step_tokens)
    _, _, t_rest = _cycle(s, np.maximum(rest, 1.0), isl, osl, plan.step_tokens)
    total = full * t_cycle + np.where(rest > 0, t_rest, 0.0)
    ttft = (np.ceil(n / batch) - 1.0) / 2.0 * t_cycle + t_pre / 2.0
    return _point(plan, ttft, itl, t_cycle, n * osl / total, n / total, batch)


def recomputed_tokens(s: Setup, plan: MemoryPlan, osl, batch, waiting) -> np.ndarray:
    """Prompt tokens an engine that preempts when its KV cache runs out (vLLM,
    `EngineSettings.preempts_when_full`) computes again for each request it completes, while
    `batch` requests run and (`waiting`, bool) others wait for a slot.

    Where the cache bounds the batch (the batch is the cache's `running_batch`, below the step's
    batch limit) and requests wait, the blocks a completion frees (its ISL + OSL tokens) go at
    once to the prompts admitted in its place, so the KV cache stays full; the OSL tokens every
    running request grows by over its life then come from preempting the newest requests, whose
    contexts are computed again when they return: OSL tokens per request completed. (A fluid
    balance, no fitted constant: `python bench/consistency.py --cases` puts it beside the
    simulated scheduler, which preempts request by request.) 0 where the engine reserves outputs
    (TensorRT-LLM; SGLang reserves a share), where no request waits, or where max_batch_size or
    the prompt steps bound the batch."""
    kv_bound = (np.asarray(batch, float) >= plan.running_batch) & (plan.running_batch < plan.step_batch)
    return np.where(s.engine.preempts_when_full & kv_bound & np.asarray(waiting, bool), np.asarray(osl, float), 0.0)


def separate_prefill_cost(s: Setup, prompts, isl, max_num_tokens):
    """Seconds of prefill per prompt when prefill runs in its own steps (SGLang), `prompts` at a time.

    One prompt alone pays a whole prefill step (or its chunks); more share steps of up to the token
    budget (with attention DP, each rank its own prompts), as SGLang's scheduler takes every waiting
    prompt that fits, so each costs its share of the batched step.
    """
    prompts = np.maximum(np.asarray(prompts, dtype=float), 1e-9)
    alone = prefill_time(s, isl, max_num_tokens, share=s.prompt_share, drained=False)
    demand = prompts * isl
    together, *_ = s.step(prefill_tokens=demand, prefill_seqs=prompts, prefill_context=np.asarray(isl, float) / 2.0)
    together = together + np.maximum(np.ceil(demand / np.maximum(max_num_tokens, 1.0)) - 1.0, 0.0) * s.hw.step_overhead_s
    return np.where(prompts <= 1.0, alone, together / prompts)


def _mixed(s: Setup, batch, isl, osl, max_num_tokens, others=None, recompute=0.0):
    """Steady state of inflight batching with `batch` staggered requests: each decode step also
    carries the prefill of the requests that replace finished ones. A request's own prompt is in
    its TTFT; its decode steps carry the prompts of the other batch - 1 requests, each admitted
    once per OSL steps ((batch - 1) x ISL / OSL tokens per step; none for a request alone;
    `others`: that number where it is not batch - 1, e.g. under Poisson arrivals), and the
    `recompute` tokens per request of contexts preempted and computed again (`recomputed_tokens`),
    each a prompt of its own.
    An engine that keeps prefill and decode in separate steps (SGLang) instead pauses every
    decode for each of those prompts' prefill steps."""
    ctx = isl + osl / 2.0
    others = np.maximum(batch - 1.0, 0.0) if others is None else others
    arrivals = others / osl  # other requests admitted per step, on average
    again = 1.0 + recompute / isl  # prompts per request: its own, and its contexts computed again
    if not s.engine.mixed_steps:
        prefill_alone = prefill_time(s, isl, max_num_tokens, share=s.prompt_share)
        decode, *_ = s.step(decode_seqs=batch, decode_context=ctx)
        itl = decode + arrivals * again * separate_prefill_cost(s, arrivals * again, isl, max_num_tokens)
        ttft = np.maximum(prefill_alone, itl)
        return ttft, itl, ttft + (osl - 1.0) * itl
    # all the prompt work the arrivals bring is done: when it exceeds a step's room the engine
    # runs it over more steps, which costs the same time per output token (plus their overheads)
    demand = arrivals * (isl + recompute)
    extra_steps = np.maximum(np.ceil(demand / np.maximum(max_num_tokens - batch, 1.0)) - 1.0, 0.0)
    shared, *_ = s.step(prefill_tokens=demand, prefill_seqs=arrivals * again, prefill_context=isl / 2.0, decode_seqs=batch, decode_context=ctx)
    shared = shared + extra_steps * s.hw.step_overhead_s
    # ... spread over every step, as if each carried a sliver of prompt: right when prompts fill
    # the steps, too slow when they come one now and then, because a step's cost is concave in its
    # tokens (a MoE layer's experts: a 4,000-token prompt reads them all once, a sliver of 8 tokens
    # per step ~40 of 128 every step). Prompts apart: decode steps, and each prompt's own steps
    # (its chunks beside the decodes) add what they cost beyond a decode step. Both bound the
    # average from above (Jensen), so the smaller is taken.
    t_dec, *_ = s.step(decode_seqs=batch, decode_context=ctx)
    share = s.prompt_share  # a prompt's chunks fill its rank's budget (its micro-batch's where a request keeps to one)
    chunks = np.ceil(isl / np.maximum((max_num_tokens - batch) / share, 1.0))
    carry = prefill_time(s, isl, max_num_tokens, decode_seqs=batch, decode_context=ctx, share=share, drained=False)
    itl = np.minimum(shared, t_dec + arrivals * again * np.maximum(carry - chunks * t_dec, 0.0))
    per_micro = s.pp if s.engine.requests_per_micro_batch else 1.0  # the step that carries it runs one micro-batch's decodes
    ttft = prefill_time(
        s, isl, max_num_tokens / per_micro, decode_seqs=np.maximum(batch - 1.0, 0.0) / per_micro, decode_context=ctx, share=np.asarray(s.adp, float)
    )
    ttft = np.maximum(ttft, itl)
    return ttft, itl, ttft + (osl - 1.0) * itl


def _groups(s: Setup, batch, isl, osl, max_num_tokens, t_dec, waiting=False):
    """TTFT and ITL of `batch` equal closed-loop clients on an engine that mixes prompts into
    decode steps (`t_dec`: a decode step of the batch); NaN where a prompt does not fit a step
    beside the other clients' decodes.

    Requests admitted in one step finish in one step and send their next prompts together, so the
    clients move in groups: as many prompts as a step's token budget holds beside the others'
    decodes (k x ISL + batch - k <= max_num_tokens; all of them when they fit, as a benchmark's
    clients start at once). Where prompts wait (`waiting`: clients beyond the batch; or more
    groups than a request has steps, batch >= k x OSL, so that they meet), chunked prefill fills
    the rest of a step with part of the next prompt and k need not be whole. Where none waits, a
    prompt cut short by the budget finishes a step after the others and its request leaves their
    group, so a group keeps the whole prompts a step holds (k = 1 for two 4,096-token prompts in
    8,192 tokens beside any decode); only for prompts done in one step, on one micro-batch and
    attention-DP rank, as the pieces of longer or split prompts regroup otherwise. A prompt longer
    than its share of the budget (`Setup.prompt_share`: its attention-DP rank's, its PP
    micro-batch's) runs in that many steps, its group's members side by side. A group's prompts
    take their steps (its members' TTFT), and each request's OSL - 1 decode steps meet each other
    group's steps once. Staggered clients would each find a step with one prompt (`_mixed`); the
    simulated benchmark run (`planner.load`) shows the groups (`python bench/serving.py`,
    `python bench/consistency.py --closed-form N`).
    """
    ctx = isl + osl / 2.0
    _, steps = _prefill_steps(s, batch, isl, max_num_tokens)  # steps one prompt needs
    chunk = isl / steps  # its tokens in each
    room = (max_num_tokens - batch) / np.maximum(chunk - 1.0, 1.0)  # prompts a step holds beside the others' decodes
    kept = np.maximum(np.floor(room + 1e-9), 1.0)  # whole prompts a step holds
    none_wait = (steps == 1) & (s.pp == 1) & (s.adp == 1) & ~np.asarray(waiting, bool) & (batch < kept * osl)
    group = np.clip(np.where(none_wait, kept, room), 1.0, batch)  # where prompts wait, a fraction (chunked prefill)
    fits = room >= 1.0
    together, *_ = s.step(prefill_tokens=group * chunk, prefill_seqs=group, prefill_context=isl / 2.0, decode_seqs=batch - group, decode_context=ctx)
    itl = t_dec + (batch / group - 1.0) * steps * np.maximum(together - t_dec, 0.0) / np.maximum(osl - 1.0, 1.0)
    whole = np.floor(group)  # a group's whole prompts, done in the steps they arrive in
    ttft, *_ = s.step(prefill_tokens=whole * chunk, prefill_seqs=whole, prefill_context=isl / 2.0, decode_seqs=batch - whole, decode_context=ctx)
    ttft = steps * ttft + _drain(s, chunk, whole, isl, batch - whole, ctx)
    return np.where(fits, ttft, np.nan), np.where(fits, itl, np.nan)


def _paced(s: Setup, batch, isl, osl, max_num_tokens):
    """Requests a closed loop of `batch` clients keeps in flight on an engine that mixes prompts
    into decode steps, when their prompts pace it: the rest wait in the queue.

    In `_groups`, a group of g prompts fills a step beside the others' decodes (g = (budget -
    decodes) / chunk) for the `steps` one prompt needs, and each request then decodes for OSL - 1
    steps. A cycle holds every group's prompt steps once, and each of a request's steps is one of
    its prompt's or one of its decodes, so no more than g x (steps + OSL - 1) / steps requests run
    at once: a cycle of more groups has more prompt steps than any request has steps, and the
    engine admits prompts only as fast as its steps take them (every step then carries one, the
    ITL is a whole prompt step). Solved for b = g(b) x (steps + OSL - 1) / steps."""
    _, steps = _prefill_steps(s, batch, isl, max_num_tokens)
    per_group = (osl - 1.0 + steps) / steps  # requests in flight per prompt a step takes
    chunk = np.maximum(isl / steps - 1.0, 1.0)  # as `_groups`: a prompt's tokens in a step, one of them its decode
    paced = per_group * np.asarray(max_num_tokens, float) / (chunk + per_group)
    return np.minimum(batch, np.maximum(paced, per_group))


def saturated(s: Setup, plan: MemoryPlan, isl, osl):
    """The replica when requests always wait: its in-flight batch (`saturation_batch`), the prompt
    tokens it computes again per request (`recomputed_tokens`), and `_mixed`'s TTFT, ITL and E2E there."""
    cap = saturation_batch(s, plan, isl, osl)
    recompute = recomputed_tokens(s, plan, osl, cap, True)
    return (cap, recompute, *_mixed(s, cap, isl, osl, plan.step_tokens, others=cap, recompute=recompute))


def saturation_batch(s: Setup, plan: MemoryPlan, isl, osl) -> np.ndarray:
    """Requests in flight when arrivals never let up: the batch the KV cache runs and, on an
    engine that mixes prompts into decode steps, no more than its prompt steps start (`_paced`)."""
    cap = np.maximum(plan.running_batch, 1.0)
    if s.engine.mixed_steps:
        cap = np.maximum(_paced(s, cap, isl, osl, plan.step_tokens), 1.0)
    return cap


def _wave(s: Setup, batch, isl, osl, max_num_tokens):
    """Steady state of `batch` equal closed-loop clients on an engine that runs prefill in its own
    steps and first (SGLang): they move in waves. All finish in the same decode step and send their
    next prompts at once; the engine prefills every waiting prompt (`_cycle`: steps of up to
    `max_num_tokens`) before it decodes again, so the wave never spreads. A prompt done in the k-th
    of the wave's n prefill steps waits k steps for its first token and n - k more for its second;
    then OSL - 1 decode steps of the whole batch follow. Staggered clients (`_mixed`) would instead
    pause every decode for each other client's prompt: the simulated benchmark run (`planner.load`)
    shows waves (`python bench/serving.py`)."""
    steps, t_step, first, t_dec, cycle = _wave_prefill(s, batch, isl, osl, max_num_tokens)
    per_step = batch * isl / steps  # prompt tokens of each of the wave's steps
    drain = _drain(s, np.minimum(isl, per_step), per_step / isl, isl)
    ttft = t_step * (steps + first) / 2.0 + drain
    itl = t_dec + (steps - first) / 2.0 * t_step / np.maximum(osl - 1.0, 1.0)
    return ttft, itl, cycle + drain


def _wave_prefill(s: Setup, batch, isl, osl, max_num_tokens):
    """`batch` equal prompts waiting at once, prefilled in steps of up to `max_num_tokens` before
    any decodes: the steps, seconds per step, the steps the first prompt needs, then the decode
    step and the whole cycle (`_cycle`)."""
    t_prefill, t_dec, cycle = _cycle(s, batch, isl, osl, max_num_tokens)
    steps, first = _prefill_steps(s, batch, isl, max_num_tokens)
    first = np.minimum(first, steps)
    return steps, t_prefill / steps, first, t_dec, cycle


def closed_loop_requests(clients) -> np.ndarray:
    """Requests in a closed-loop benchmark run unless given: 10 per client (as AIConfigurator's
    aiperf runs do), at least 500 and at most 20,000."""
    lo, hi = CLOSED_LOOP_REQUESTS
    return np.clip(10.0 * np.asarray(clients, dtype=float), lo, hi)


def concurrency(s: Setup, isl, osl, clients, num_requests=None) -> Point:
    """Closed loop: `clients` users each send a request of `isl` / `osl` tokens as soon as their
    last one finished (a benchmark run, a sweep's grid point: every request the same length), in a
    run of `num_requests` requests (default `closed_loop_requests`) whose clients start at once.

    Engines that mix prompts into decode steps (`_mixed`): each decode step also carries the
    prefill of the requests that replace finished ones, which come back in groups
    (`_groups`); the first requests of the run wait for the whole burst's prefill (a share
    clients / num_requests of the mean TTFT). Engines that keep prefill in its own steps (SGLang)
    run the clients in waves (`_wave`), the first one included. Clients beyond the KV capacity
    wait for a slot, and on a mixed-step engine so do those beyond what its prompt steps can start
    (`_paced`); an engine that preempts when its cache is full (vLLM) then computes preempted
    contexts again (`recomputed_tokens`).
    """
    isl, osl = np.asarray(isl, float), np.asarray(osl, float)
    plan = s.plan(isl, osl)
    c = np.asarray(clients, float)
    batch = np.maximum(np.minimum(c, plan.running_batch), 1.0)
    if s.engine.mixed_steps:
        batch = _paced(s, batch, isl, osl, plan.step_tokens)
        steps, t_step, first, t_dec, _ = _wave_prefill(s, batch, isl, osl, plan.step_tokens)
        waiting = c > batch  # clients beyond the batch (the KV cache's, or what the prompt steps start)
        ttft, itl = _groups(s, batch, isl, osl, plan.step_tokens, t_dec, waiting=waiting)
        alone = np.isnan(itl)
        if alone.any():  # a prompt longer than a step's room beside the decodes: chunked alone
            alone_ttft, alone_itl, _ = _mixed(s, batch, isl, osl, plan.step_tokens)
            ttft, itl = np.where(alone, alone_ttft, ttft), np.where(alone, alone_itl, itl)
        ttft = np.maximum(ttft, itl)
        n = closed_loop_requests(c) if num_requests is None else np.asarray(num_requests, dtype=float)
        burst = np.minimum(batch / np.maximum(n, 1.0), 1.0)
        ttft = (1.0 - burst) * ttft + burst * np.maximum(t_step * (steps + first) / 2.0, ttft)
        # clients beyond a full cache on an engine that preempts: the contexts it computes again
        # (`recomputed_tokens`) run in the decode steps, as much longer as they make `_mixed`'s
        recompute = recomputed_tokens(s, plan, osl, batch, waiting)
        if np.any(recompute > 0):
            _, with_it, _ = _mixed(s, batch, isl, osl, plan.step_tokens, others=batch, recompute=recompute)
            _, without, _ = _mixed(s, batch, isl, osl, plan.step_tokens, others=batch)
            itl = itl + (with_it - without)
        e2e = ttft + (osl - 1.0) * itl
    else:
        ttft, itl, e2e = _wave(s, batch, isl, osl, plan.step_tokens)
    wait = np.maximum(c / batch - 1.0, 0.0) * e2e
    ttft, e2e = ttft + wait, e2e + wait
    rps = c / e2e
    return _point(plan, ttft, itl, e2e, rps * osl, rps, batch)


def request_rate(s: Setup, isl, osl, rate, num_requests=None) -> Point:
    """Open loop: Poisson arrivals at `rate` requests/s (`num_requests` of them in the run).

    Sequences in flight follow Little's law, batch = rate x E2E(batch), solved by bisection. A
    request finds `batch` others (Poisson arrivals see the time average), not the batch - 1 of a
    closed loop, and its decode steps carry the prompts of as many over its OSL steps. Where the
    prompts pace the engine, it saturates at the closed loop's in-flight batch (`_paced`).
    Past the saturation rate the queue grows through the run: the mean request waits half of
    the backlog built up over `num_requests` arrivals.
    """
    isl, osl = np.asarray(isl, float), np.asarray(osl, float)
    plan = s.plan(isl, osl)
    mnt = plan.step_tokens
    lam = np.asarray(rate, float)
    cap, _, _, _, e2e_cap = saturated(s, plan, isl, osl)
    mu = cap / e2e_cap  # saturation throughput (requests always waiting), requests/s
    lo, hi = np.zeros_like(cap * lam), cap * np.ones_like(lam)
    for _ in range(30):
        mid = (lo + hi) / 2.0
        _, _, e2e_mid = _mixed(s, np.maximum(mid, 1.0), isl, osl, mnt, others=mid)
        over = lam * e2e_mid > mid
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    batch = np.maximum(hi, 1.0)
    ttft, itl, e2e = _mixed(s, batch, isl, osl, mnt, others=hi)
    n = np.asarray(num_requests if num_requests is not None else 1000.0, dtype=float)
    wait = np.where(lam >= mu, n / 2.0 * (1.0 / mu - 1.0 / lam), 0.0)
    served = np.minimum(lam, mu)
    return _point(plan, ttft + wait, itl, e2e + wait, served * osl, served, batch)


def _point(plan: MemoryPlan, ttft, itl, e2e, tok_s, rps, batch) -> Point:
    """Mask configurations that do not fit (no room for one sequence) with NaN."""
    ok = plan.max_batch >= 1

    def m(x):
        return np.where(ok, np.asarray(x, dtype=float), np.nan)

    return Point(m(ttft), m(itl), m(e2e), m(tok_s), m(rps), m(batch), plan)
