"""What a workload asks of an engine: limits that cover a percentile of its requests, and what
a request pattern costs in GPU time.

Engine sizing: `max_input_len` and `max_seq_len` at the chosen percentile (default p99) of the
prompts and of prompt + answer, `max_num_tokens` that takes such a prompt in one step, and, for
a deployment, the `max_batch_size` its KV cache holds at those lengths. Sizing to the
percentile instead of the model's full context frees KV memory wherever an engine reserves
for the longest request it admits (TensorRT-LLM's guaranteed-no-evict reservation, CUDA-graph
and attention workspaces): the report gives that difference per sequence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .memory import kv_bytes_per_sequence
from .serving import MemoryPlan, Setup
from .specs import GIB, KV_BYTES, EngineSettings, KvPrecision, ModelSpec
from .workload import RequestMix

STEP_ROUND = 256


@dataclass(frozen=True)
class EngineSizing:
    percentile: float
    max_input_len: int
    max_seq_len: int
    max_num_tokens: int
    full_context: int | None  # the model's context window (max_position_embeddings, RoPE-scaled where the config scales it)
    kv_gib_per_sequence_at_max_seq_len: float
    kv_gib_per_sequence_at_full_context: float | None
    kv_gib_freed_per_sequence: float | None
    max_batch_size: int | None = None  # for a deployment: sequences of max_seq_len its KV cache holds
    max_batch_size_at_full_context: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _round_up(x: float, step: int) -> int:
    return int(math.ceil(x / step) * step)


def engine_sizing(
    mix: RequestMix,
    model: ModelSpec,
    kv_precision: KvPrecision,
    percentile: float = 99.0,
    engine: str | EngineSettings = "trtllm",
    deployment: tuple[Setup, MemoryPlan] | None = None,
) -> EngineSizing:
    """Limits covering `percentile` % of the workload's requests.

    KV per sequence is the whole model's, as `engine` stores it: sliding-window layers keep only
    their window where the engine does so (vLLM; `EngineSettings.windows_applied`), SGLang's window
    pool for its hybrid SWA models (`EngineSettings.window_pool`), and a
    hybrid model's linear-attention state is added. `deployment`: a replica's setup and memory
    plan, for the sequences of `max_seq_len` (and of the full context) its KV cache holds."""
    eng = EngineSettings.of(engine)
    draw_isl, draw_osl = (mix.pairs[:, 0], mix.pairs[:, 1]) if mix.pairs is not None else mix.sample(20_000, np.random.default_rng(0))
    max_in = int(math.ceil(np.percentile(draw_isl, percentile)))
    max_seq = int(math.ceil(np.percentile(draw_isl + draw_osl, percentile)))
    stored = eng.as_stored(model)
    state = model.linear_state_bytes_per_sequence(1)  # hybrid models: a fixed state per sequence besides its KV

    def whole(tokens: int) -> float:
        return float(kv_bytes_per_sequence(stored, KV_BYTES[kv_precision], 1, 1, tokens, 1, eng.window_pool(stored))) + state

    full = model.context_window or model.max_position_embeddings
    at_seq = whole(max_seq) / GIB
    at_full = whole(full) / GIB if full else None
    out = dict(
        percentile=percentile,
        max_input_len=max_in,
        max_seq_len=max_seq,
        max_num_tokens=max(_round_up(max_in, STEP_ROUND), 2048),
        full_context=full,
        kv_gib_per_sequence_at_max_seq_len=round(at_seq, 4),
        kv_gib_per_sequence_at_full_context=round(at_full, 4) if at_full is not None else None,
        kv_gib_freed_per_sequence=round(at_full - at_seq, 4) if at_full is not None else None,
    )
    if deployment is not None:
        s, plan = deployment
        budget = max(float(np.ravel(plan.kv_budget)[0]), 0.0)
        out["max_batch_size"] = int(budget // float(np.ravel(s.request_bytes(max_seq))[0]))
        out["max_batch_size_at_full_context"] = int(budget // float(np.ravel(s.request_bytes(full))[0])) if full else None
    return EngineSizing(**out)


def request_gpu_seconds(s: Setup, plan: MemoryPlan, isl: np.ndarray, osl: np.ndarray, batch: float) -> np.ndarray:
    """GPU-seconds one replica spends on each request at a typical batch: its prompt's marginal
    step time plus its share (1 / batch) of OSL decode steps."""
    isl, osl = np.asarray(isl, float), np.asarray(osl, float)
    b = max(float(batch), 1.0)
    ctx = isl + osl / 2.0
    base, *_ = s.step(decode_seqs=b, decode_context=ctx)
    with_prompt, *_ = s.step(prefill_tokens=isl, prefill_seqs=1.0, prefill_context=isl / 2.0, decode_seqs=b, decode_context=ctx)
    return (with_prompt - base) + osl * base / b
