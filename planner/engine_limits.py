"""Engine batch limits (`max_batch_size`, `max_num_tokens`) when the user does not set them.

TensorRT-LLM: `trtllm-bench build` sizes the engine for the dataset. It estimates how many
requests of ISL+OSL tokens the KV cache holds, caps that at 4096 (split over pipeline stages),
and allows enough tokens per step for those requests' decode plus their share of prefill,
`batch x (1 + ISL/OSL)`, kept between 2048 and 32768; both are rounded up to coarse steps
(documented in TensorRT-LLM's `bench/build/tuning.py`). vLLM: the OpenAI server's defaults of
`vllm/engine/arg_utils.py`, 1024 sequences and 8192 batched tokens per step on GPUs of at least
70 GiB other than the A100, else 256 and 2048. SGLang: its own, set from the GPU's memory
(`sglang_server_defaults`, `sglang_max_running_requests`).
"""

from __future__ import annotations

import re

import numpy as np

from .defaults import (
    VLLM_MAX_BATCHED_TOKENS,
    VLLM_MAX_NUM_SEQS,
    VLLM_SMALL_GPU_MAX_BATCHED_TOKENS,
    VLLM_SMALL_GPU_MAX_NUM_SEQS,
    VLLM_V0_CHUNK,
    VLLM_V0_LONG_CONTEXT,
    VLLM_V0_MAX_NUM_SEQS,
    VLLM_V0_OLD_CHUNK,
)
from .errors import PlannerError


def vllm_large_gpu(memory_gib: float, gpu_id: str) -> bool:
    """Whether vLLM gives a GPU its larger defaults: at least 70 GiB and not an A100 (vLLM PR #17885)."""
    return memory_gib >= 70.0 and "a100" not in gpu_id.lower()


def _round_up(x, step):
    return step * np.ceil(x / step)


def trtllm_bench_limits(kv_requests, isl, osl, pp):
    """`(max_batch_size, max_num_tokens)` as trtllm-bench builds them, from the requests the KV cache holds."""
    raw_bs = np.minimum(np.maximum(np.asarray(kv_requests, float), 1.0), 4096.0) / np.asarray(pp, float)
    raw_tok = np.minimum(raw_bs * (1.0 + np.asarray(isl, float) / np.asarray(osl, float)), 32768.0)
    bs = np.where(raw_bs < 256, np.maximum(64.0, _round_up(raw_bs, 32)), np.where(raw_bs < 1024, _round_up(raw_bs, 128), _round_up(raw_bs, 256)))
    tok = np.where(raw_tok < 4096, np.maximum(2048.0, _round_up(raw_tok, 256)), np.where(raw_tok < 8192, _round_up(raw_tok, 512), _round_up(raw_tok, 1024)))
    return bs, tok


def default_limits(engine: str, kv_requests, isl, osl, pp, large_gpu=True):
    """Default `(max_batch_size, max_num_tokens)` arrays for an engine and workload (`large_gpu`:
    per configuration, whether vLLM's larger defaults apply, see `vllm_large_gpu`)."""
    if engine == "trtllm":
        return trtllm_bench_limits(kv_requests, isl, osl, pp)
    large = np.broadcast_to(np.asarray(large_gpu, bool), np.broadcast(np.asarray(kv_requests), np.asarray(isl), np.asarray(pp), np.asarray(large_gpu)).shape)
    seqs = np.where(large, float(VLLM_MAX_NUM_SEQS), float(VLLM_SMALL_GPU_MAX_NUM_SEQS))
    return seqs, vllm_default_tokens(large)


def vllm_default_tokens(large_gpu) -> np.ndarray:
    """vLLM V1's default `max_num_batched_tokens` per step, by whether its larger defaults apply (`vllm_large_gpu`)."""
    return np.where(np.asarray(large_gpu, bool), float(VLLM_MAX_BATCHED_TOKENS), float(VLLM_SMALL_GPU_MAX_BATCHED_TOKENS))


#: The first vLLM release that runs the V1 engine by default (`VLLM_USE_V1` defaults to 1 in
#: `vllm/envs.py` from 0.8.0), and the first whose V0 chunked-prefill step is 2048 tokens, not 512.
VLLM_V1_DEFAULT, VLLM_V0_CHUNK_2048 = (0, 8, 0), (0, 6, 5)


def vllm_v0_limits(max_model_len, version: str | None, sliding_window: bool = False):
    """vLLM V0's default `(max_num_seqs, max_num_batched_tokens)` (releases before 0.8), arrays.

    From vLLM 0.6.4-0.7.3's `EngineArgs` and `SchedulerConfig`: 256 sequences; chunked prefill is
    switched on by default only for a `max_model_len` over 32K (and no sliding window), with
    512-token steps before 0.6.5 and 2048 from it; otherwise a step holds a whole prompt,
    `max(max_model_len, 2048)` tokens. V0's memory profile runs a step of that many tokens, so a
    long `max_model_len` up to 32K takes its activation peak out of the KV cache.
    """
    mml = np.asarray(max_model_len, float)
    rel = release(version)
    chunk = float(VLLM_V0_OLD_CHUNK if rel is not None and rel < VLLM_V0_CHUNK_2048 else VLLM_V0_CHUNK)
    chunked = (mml > VLLM_V0_LONG_CONTEXT) & (not sliding_window)
    tokens = np.where(chunked, chunk, np.maximum(mml, 2048.0))
    return np.full(tokens.shape, float(VLLM_V0_MAX_NUM_SEQS)), tokens


#: SGLang's defaults by GPU memory (`server_args._handle_gpu_memory_settings`, SGLang PR #10975,
#: 2025-09-27, in releases from 0.5.3): below each bound in MiB, `(chunked_prefill_size,
#: cuda_graph_max_bs at TP < 4, at TP >= 4)`; above the last, 16384 and 512.
SGLANG_MEMORY_TIERS = ((20 * 1024, 2048, 8, 8), (35 * 1024, 2048, 24, 80), (60 * 1024, 4096, 32, 160), (160 * 1024, 8192, 256, 512))
SGLANG_LARGE_GPU = (16384, 512)
#: SGLang 0.4.8 to 0.5.2 (`server_args.__post_init__`, PR #7054): memory held back by GPU memory
#: (below each bound in MiB, `(GiB, GiB per GPU of tp x pp)`; above the last, 32 GiB), +4 GiB with
#: attention DP; the prefill chunk 2048 under 35 GiB, 8192 under 160 GiB, else 16384.
SGLANG_052_RESERVE = ((35 * 1024, 2.8, 0.1), (90 * 1024, 9.5, 0.5), (160 * 1024, 12.0, 0.5))
#: The first SGLang release whose defaults are modelled, and the first with today's rule.
SGLANG_OLDEST, SGLANG_CURRENT_RULE = (0, 4, 8), (0, 5, 3)


#: Version strings of builds made from an engine's main branch rather than a release (AIConfigurator
#: records SGLang runs as "nightly-dev", "nightly-5b8c30d6..."): the planner takes them as the newest release.
DEVELOPMENT_BUILD = re.compile(r"(?<![a-z])(nightly|dev|main|latest)(?![a-z])", re.IGNORECASE)


def is_development_build(version: str | None) -> bool:
    """Whether `version` names a development build rather than a release ('nightly-dev': yes; '0.5.1', 'banana': no)."""
    return bool(version) and release(version) is None and bool(DEVELOPMENT_BUILD.search(str(version)))


def release(version: str | None) -> tuple[int, int, int] | None:
    """`(major, minor, patch)` of a release string ('0.5.1.post1' -> (0, 5, 1)); None for none or a
    development build ('nightly-dev'), which the planner takes as the current release."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", str(version)) if version else None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def sglang_server_defaults(memory_gib, tp, pp, attention_dp, version: str | None = None):
    """SGLang's `(chunked_prefill_size per attention-DP rank, cuda_graph_max_bs, mem_fraction_static)`
    when the user sets none of them (arrays), for SGLang `version` (None: the current release; the
    CUDA-graph batch is the current rule's whatever the version, as only that rule sizes memory by it).

    From `server_args._handle_gpu_memory_settings` (PR #10975, SGLang 0.5.3 on): the GPU's memory
    sets the prefill chunk and the largest CUDA-graph batch; the static fraction (weights + KV
    cache over total memory) then holds back, in MiB, 512 + 1.5 x chunk + 2 x graph batch +
    1024 x tp x pp / 8, plus 3 (4.5 above a graph batch of 300) x graph batch x DP ranks with
    attention DP, at least 10 GiB on GPUs over 60 GiB, rounded to 3 decimals. Releases 0.4.8 to
    0.5.2 hold back a fixed amount per GPU memory class instead (`SGLANG_052_RESERVE`); older ones
    are refused. SGLang's `tp_size` counts every GPU of a stage, `tp x attention_dp` here; with
    attention DP each rank's chunk is the chunk / DP ranks (`_handle_data_parallelism`). SGLang
    reads the memory from nvidia-smi, the catalog from torch (0.7 % less on an H100): the fraction
    moves by under 0.002.
    """
    rel = release(version)
    if rel is not None and rel < SGLANG_OLDEST:
        raise PlannerError(
            f"SGLang {version} set its memory defaults by a rule the planner does not model (it models 0.4.8 on): "
            "give a later engine version, or none for the current release"
        )
    mib = np.asarray(memory_gib, float) * 1024.0
    adp = np.asarray(attention_dp, float)
    sgl_tp = np.asarray(tp, float) * adp
    parallel = sgl_tp * np.asarray(pp, float)
    dp = adp > 1
    chunk = np.full(np.broadcast(mib, sgl_tp, parallel).shape, float(SGLANG_LARGE_GPU[0]))
    graph = np.full(chunk.shape, float(SGLANG_LARGE_GPU[1]))
    for bound, c, small_tp, large_tp in reversed(SGLANG_MEMORY_TIERS):
        below = mib < bound
        chunk = np.where(below, float(c), chunk)
        graph = np.where(below, np.where(sgl_tp < 4, float(small_tp), float(large_tp)), graph)
    if rel is not None and rel < SGLANG_CURRENT_RULE:
        chunk = np.where(mib < 35 * 1024, 2048.0, np.where(mib < 160 * 1024, 8192.0, 16384.0))
        reserved = np.full(chunk.shape, 32.0 * 1024)
        for bound, fixed, per_gpu in reversed(SGLANG_052_RESERVE):
            reserved = np.where(mib < bound, (fixed + per_gpu * parallel) * 1024.0, reserved)
        reserved = reserved + np.where(dp, 4.0 * 1024, 0.0)
    else:
        reserved = 512.0 + np.maximum(chunk, 2048.0) * 1.5 + graph * 2.0 + parallel / 8.0 * 1024.0
        reserved = reserved + np.where(dp, graph * adp * 3.0 + np.where(graph > 300, graph * adp * 1.5, 0.0), 0.0)
        reserved = np.where(mib > 60 * 1024, np.maximum(reserved, 10 * 1024.0), reserved)
    fraction = np.round((mib - reserved) / mib, 3)
    rank_chunk = np.where(dp, np.floor(chunk / adp), chunk)
    return rank_chunk, graph, fraction


def sglang_max_running_requests(kv_tokens_per_rank, context_len):
    """SGLang's most running requests per attention-DP rank when `--max-running-requests` is not
    set: `min(clip(KV tokens / context length x 512, 2048, 4096), KV tokens // 2)` (the request
    pool of `model_runner`, capped by the scheduler at half the token pool)."""
    tokens = np.maximum(np.asarray(kv_tokens_per_rank, float), 0.0)
    pool = np.clip(np.floor(tokens / max(float(context_len), 1.0) * 512.0), 2048.0, 4096.0)
    return np.maximum(np.minimum(pool, np.floor(tokens / 2.0)), 1.0)
