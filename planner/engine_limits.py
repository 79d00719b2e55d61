"""Engine batch limits (`max_batch_size`, `max_num_tokens`) when the user does not set them.

TensorRT-LLM: `trtllm-bench build` sizes the engine for the dataset. It estimates how many
requests of ISL+OSL tokens the KV cache holds, caps that at 4096 (split over pipeline stages),
and allows enough tokens per step for those requests' decode plus their share of prefill,
`batch x (1 + ISL/OSL)`, kept between 2048 and 32768; both are rounded up to coarse steps
(documented in TensorRT-LLM's `bench/build/tuning.py`). vLLM (and SGLang, modelled alike): the
OpenAI server's defaults of `vllm/engine/arg_utils.py`, 1024 sequences and 8192 batched tokens
per step on GPUs of at least 70 GiB other than the A100, else 256 and 2048.
"""

from __future__ import annotations

import numpy as np

from .defaults import VLLM_MAX_BATCHED_TOKENS, VLLM_MAX_NUM_SEQS, VLLM_SMALL_GPU_MAX_BATCHED_TOKENS, VLLM_SMALL_GPU_MAX_NUM_SEQS


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
    tokens = np.where(large, float(VLLM_MAX_BATCHED_TOKENS), float(VLLM_SMALL_GPU_MAX_BATCHED_TOKENS))
    return seqs, tokens
