"""Engine batch limits (`max_batch_size`, `max_num_tokens`) when the user does not set them.

TensorRT-LLM: `trtllm-bench build` sizes the engine for the dataset. It estimates how many
requests of ISL+OSL tokens the KV cache holds, caps that at 4096 (split over pipeline stages),
and allows enough tokens per step for those requests' decode plus their share of prefill,
`batch x (1 + ISL/OSL)`, kept between 2048 and 32768; both are rounded up to coarse steps
(documented in TensorRT-LLM's `bench/build/tuning.py`). vLLM and SGLang defaults on
data-centre GPUs: 1024 sequences and 8192 batched tokens per step (vLLM V1 defaults).
"""

from __future__ import annotations

import numpy as np

VLLM_MAX_NUM_SEQS = 1024
VLLM_MAX_BATCHED_TOKENS = 8192


def _round_up(x, step):
    return step * np.ceil(x / step)


def trtllm_bench_limits(kv_requests, isl, osl, pp):
    """`(max_batch_size, max_num_tokens)` as trtllm-bench builds them, from the requests the KV cache holds."""
    raw_bs = np.minimum(np.maximum(np.asarray(kv_requests, float), 1.0), 4096.0) / np.asarray(pp, float)
    raw_tok = np.minimum(raw_bs * (1.0 + np.asarray(isl, float) / np.asarray(osl, float)), 32768.0)
    bs = np.where(raw_bs < 256, np.maximum(64.0, _round_up(raw_bs, 32)), np.where(raw_bs < 1024, _round_up(raw_bs, 128), _round_up(raw_bs, 256)))
    tok = np.where(raw_tok < 4096, np.maximum(2048.0, _round_up(raw_tok, 256)), np.where(raw_tok < 8192, _round_up(raw_tok, 512), _round_up(raw_tok, 1024)))
    return bs, tok


def default_limits(engine: str, kv_requests, isl, osl, pp):
    """Default `(max_batch_size, max_num_tokens)` arrays for an engine and workload."""
    if engine == "trtllm":
        return trtllm_bench_limits(kv_requests, isl, osl, pp)
    shape = np.broadcast(np.asarray(kv_requests), np.asarray(isl), np.asarray(pp)).shape
    return np.full(shape, float(VLLM_MAX_NUM_SEQS)), np.full(shape, float(VLLM_MAX_BATCHED_TOKENS))
