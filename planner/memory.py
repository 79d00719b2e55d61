"""Memory model: weights, KV cache, activations, runtime overhead, KV capacity, concurrency.

Pure functions. The model (`ModelSpec`) is a scalar; every other argument may be a number or a
numpy array, and arrays broadcast, so one call sizes a whole grid of configurations.
All results are per GPU unless the name says otherwise; bytes unless the name says GiB.
"""

from __future__ import annotations

import numpy as np

from .defaults import (
    ACTIVATION_HIDDEN_MULTIPLE,
    COMM_BUFFER_GIB,
    RUNTIME_OVERHEAD_GIB,
    TRTLLM_CPP_DECODER_BYTES_PER_LOGIT,
    TRTLLM_CPP_DECODER_BYTES_PER_TOKEN,
    TRTLLM_CPP_TOPK_SCRATCH_BYTES,
    VLLM_COMM_GIB,
    VLLM_NON_TORCH_GIB,
    VLLM_SAMPLER_BYTES_PER_LOGIT,
)
from .specs import GIB, WEIGHT_PARTS, ModelSpec


def layers_per_stage(model: ModelSpec, pp):
    """Decoder layers on the largest pipeline stage."""
    return np.ceil(model.num_layers / np.asarray(pp))


def part_bytes(weight_bytes_per_param) -> dict[str, np.ndarray]:
    """Bytes per weight of each decoder part (`WEIGHT_PARTS`): from one value or array for all
    parts, or from a dict of them (a checkpoint that leaves some parts at 16 bits)."""
    if isinstance(weight_bytes_per_param, dict):
        return {part: np.asarray(weight_bytes_per_param[part], dtype=float) for part in WEIGHT_PARTS}
    return dict.fromkeys(WEIGHT_PARTS, np.asarray(weight_bytes_per_param, dtype=float))


def weight_bytes_per_gpu(model: ModelSpec, weight_bytes_per_param, tp, pp, attention_dp=1, ffn_over_group=False):
    """Weight bytes on the most loaded GPU.

    Linear layers of the decoder are stored at `weight_bytes_per_param` (one value, or one per
    part as `part_bytes` takes it); embeddings, LM head, routers and norms stay at 16 bits.
    Matrices split over TP (vocab-parallel embeddings); routed experts over the tp x attention_dp
    GPUs of a stage (sliced or whole, by moe_tp x ep alike), everything else replicated on each
    attention data-parallel rank; layers split over PP, the first stage holding the embedding (and
    a vision encoder, split over TP as vLLM's default does) and the last the LM head (the larger of
    the two is counted). `ffn_over_group`: with attention DP,
    only attention is replicated per rank, and the dense MLPs, shared experts, embeddings and LM
    head are split over all tp x attention_dp GPUs (SGLang's DP attention: "DP for attention, TP
    for FFN"); TensorRT-LLM and vLLM replicate them per rank.
    """
    tp, pp, adp = np.asarray(tp), np.asarray(pp), np.asarray(attention_dp)
    b = part_bytes(weight_bytes_per_param)
    share = layers_per_stage(model, pp) / model.num_layers
    layer_high = model.params_norms + model.num_moe_layers * model.params_router_per_moe_layer
    ffn_split = np.where(ffn_over_group, adp, 1)
    attention = model.params_attention * b["attention"]
    ffn = (
        model.num_dense_layers * model.params_dense_mlp_per_layer * b["dense_mlp"]
        + model.num_moe_layers * model.params_shared_per_moe_layer * b["shared_experts"]
    )
    experts = model.num_moe_layers * model.num_experts * model.params_expert * b["experts"]
    layers = (attention + ffn / ffn_split + experts / adp) * share / tp + layer_high * 2.0 * share
    layers = layers + model.replicated_indexer_params(tp) * b["attention"] * share  # sparse attention's indexer: on every GPU
    first = model.params_embedding + model.params_vision_encoder  # a vision encoder runs before the first layer, beside the embedding
    vocab = np.where(pp > 1, max(first, model.params_lm_head), first + model.params_lm_head)
    return layers + vocab * 2.0 / (tp * ffn_split)


def kv_bytes_per_token_per_gpu(model: ModelSpec, kv_bytes, tp, pp):
    """KV bytes one token of context occupies on each GPU, counting every layer of the stage.

    GQA/MHA: `2 x layers x ceil(kv_heads / TP) x head_dim x bytes` (K and V; heads replicated when
    TP exceeds them). MLA: `layers x (kv_lora_rank + qk_rope_head_dim) x bytes`, not split by TP.
    """
    lps = layers_per_stage(model, pp) * model.kv_layer_fraction  # linear-attention layers keep no KV
    kv_bytes = np.asarray(kv_bytes)
    if model.attention == "mla":  # with sparse attention, plus the indexer's key per token and layer
        return lps * model.kv_bytes_per_token_layer(kv_bytes) + 0 * np.asarray(tp)
    heads = np.ceil(model.num_kv_heads / np.asarray(tp))
    regular = lps * heads * (model.head_dim + model.v_head_dim) * kv_bytes
    if not model.num_global_layers:
        return regular
    # global layers with their own shape (Gemma 4): their share of the stage's layers, their own heads
    g = model.num_global_layers / model.num_kv_layers
    global_heads = np.ceil(model.global_kv_heads / np.asarray(tp))
    return (1 - g) * regular + g * lps * global_heads * 2 * model.global_head_dim * kv_bytes


def window_kv_bytes_per_token_per_gpu(model: ModelSpec, kv_bytes, tp, pp):
    """Of `kv_bytes_per_token_per_gpu`, the bytes in sliding-window (or chunked) layers, which
    hold at most their window of each sequence (0 without windows). Window layers have the
    common shape: a model's global layers are its full-attention ones."""
    if not model.num_window_layers:
        return 0.0 * np.asarray(kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp))
    lps = layers_per_stage(model, pp) * model.kv_layer_fraction
    per_layer = np.ceil(model.num_kv_heads / np.asarray(tp)) * (model.head_dim + model.v_head_dim) * np.asarray(kv_bytes)
    return lps * (model.num_window_layers / model.num_kv_layers) * per_layer


def charged_kv_bytes_per_token_per_gpu(model: ModelSpec, kv_bytes, tp, pp, window_pool: float | None = None):
    """KV bytes per GPU a token of a sequence costs out of the KV budget: every layer's
    (`kv_bytes_per_token_per_gpu`), but where the engine keeps window layers in a pool of their own
    that holds `window_pool` tokens per token of the full-attention pool (SGLang's hybrid SWA models,
    `EngineSettings.window_pool`), their share at that ratio. The unit the KV capacity is counted in."""
    per_token = kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp)
    if window_pool is None or not model.num_window_layers:
        return per_token
    return per_token - (1.0 - window_pool) * window_kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp)


def state_bytes_per_sequence_per_gpu(model: ModelSpec, tp, pp):
    """Bytes of one sequence's linear-attention state on each GPU (0 for models without it):
    fixed whatever its length, the stage's share of `ModelSpec.linear_state_bytes_per_sequence`."""
    if not model.num_linear_layers:
        return 0.0 * np.asarray(tp, dtype=float)
    share = layers_per_stage(model, pp) / model.num_layers
    per_tp = np.vectorize(model.linear_state_bytes_per_sequence, otypes=[float])(np.asarray(tp, dtype=int))
    return per_tp * share


def vllm_hybrid_pages(model: ModelSpec, kv_per_token, state_per_seq, pp, base_block: int):
    """vLLM's page layout for a hybrid linear-attention model: `(block_tokens, padded state bytes
    per sequence)` on each GPU.

    vLLM keeps states and KV blocks in one pool of equal pages (`_align_hybrid_block_size`,
    without prefix caching): the attention block grows to the smallest multiple of its kernel
    block (16 tokens) whose page, one layer's KV for the block, holds one layer's state; each
    state is then padded to that page. Qwen3.5-397B at TP 8 with a 16-bit KV cache: 528 tokens.
    """
    lps = layers_per_stage(model, pp)
    attn_page_1_token = np.asarray(kv_per_token, dtype=float) / (lps * model.kv_layer_fraction)
    linear_layers = lps * (1.0 - model.kv_layer_fraction)
    state_page = np.asarray(state_per_seq, dtype=float) / linear_layers
    blocks = base_block * np.maximum(np.ceil(state_page / (base_block * attn_page_1_token)), 1.0)
    return blocks, linear_layers * blocks * attn_page_1_token


def kv_bytes_per_sequence(model: ModelSpec, kv_bytes, tp, pp, tokens, block_tokens, window_pool: float | None = None):
    """KV bytes per GPU held by one sequence of `tokens` tokens, in whole blocks.

    Sliding-window (or chunked-attention) layers hold at most `window` tokens where the engine frees
    what leaves the window into its one pool (`window_pool` None); with `window_pool` r their KV
    costs r tokens per token of the sequence (`charged_kv_bytes_per_token_per_gpu`).
    """
    tokens = np.asarray(tokens, dtype=float)
    blocks = np.ceil(tokens / block_tokens) * block_tokens
    if window_pool is not None:
        return blocks * charged_kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp, window_pool)
    per_token = kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp)
    if not model.num_window_layers:
        return blocks * per_token
    in_windows = window_kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp)
    windowed = np.minimum(blocks, np.ceil(model.sliding_window / block_tokens) * block_tokens + block_tokens)
    return (per_token - in_windows) * blocks + in_windows * windowed


def activation_bytes_per_gpu(model: ModelSpec, max_num_tokens, max_batch_size, tp, engine: str = "trtllm"):
    """Activation workspace the engine reserves for its largest step.

    The forward pass of `max_num_tokens` tokens: hidden-sized tensors (`ACTIVATION_HIDDEN_MULTIPLE`
    of them) plus the MLP's gate/up outputs (split by TP), in 16 bits. TensorRT-LLM adds FP32 logits
    for `max_batch_size` sequences over the vocabulary shard. vLLM reserves the larger of the
    forward pass and its sampler's profile run over `max_batch_size` (max_num_seqs) rows of the
    full vocabulary (`VLLM_SAMPLER_BYTES_PER_LOGIT`).
    """
    tp = np.asarray(tp)
    inter = _mlp_width(model)
    per_token = (ACTIVATION_HIDDEN_MULTIPLE * model.hidden_size + 2 * inter / tp) * 2.0
    forward = np.asarray(max_num_tokens) * per_token
    if engine == "vllm":
        return np.maximum(forward, np.asarray(max_batch_size) * model.vocab_size * VLLM_SAMPLER_BYTES_PER_LOGIT)
    return forward + np.asarray(max_batch_size) * model.vocab_size / tp * 4.0


def trtllm_cpp_decoder_bytes(model: ModelSpec, max_batch_size, max_seq_len):
    """Per GPU, what TensorRT-LLM's C++ runtime allocates for its decoder: per sequence slot, FP32
    buffers over the full vocabulary (`TRTLLM_CPP_DECODER_BYTES_PER_LOGIT`), the output and
    log-prob buffers over `max_seq_len` and top-K's candidate scratch (see `planner.defaults`)."""
    per_seq = (
        TRTLLM_CPP_DECODER_BYTES_PER_LOGIT * model.vocab_size
        + TRTLLM_CPP_DECODER_BYTES_PER_TOKEN * np.asarray(max_seq_len, float)
        + TRTLLM_CPP_TOPK_SCRATCH_BYTES
    )
    return np.asarray(max_batch_size, float) * per_seq


def _mlp_width(model: ModelSpec) -> float:
    """Widest MLP intermediate a token's activations pass through (dense MLP or its active experts)."""
    dense = model.params_dense_mlp_per_layer / (3 * model.hidden_size) if model.num_dense_layers else 0.0
    moe = model.experts_per_token * model.params_expert / (3 * model.hidden_size) if model.is_moe else 0.0
    return max(dense, moe)


def runtime_overhead_bytes(tp, pp, engine: str = "trtllm", attention_dp=1):
    """Memory outside weights, activations and KV that comes out of the KV budget: TensorRT-LLM
    and SGLang, the CUDA context and library workspaces, and communication buffers when the
    replica spans GPUs (by TP, PP or attention data parallelism, whose MoE layers dispatch and
    combine across the ranks); vLLM, only what its profile counts outside PyTorch
    (`VLLM_NON_TORCH_GIB`)."""
    multi = (np.asarray(tp) * np.asarray(pp) * np.asarray(attention_dp)) > 1
    if engine == "vllm":
        return (VLLM_NON_TORCH_GIB + VLLM_COMM_GIB * multi) * GIB
    return (RUNTIME_OVERHEAD_GIB + COMM_BUFFER_GIB * multi) * GIB


def kv_budget_bytes(memory_gib, weights, activations, overhead, engine: str, kv_fraction: float):
    """Bytes each GPU gives the KV cache.

    TensorRT-LLM: `free_gpu_memory_fraction` of the memory free after weights, activations and
    runtime are loaded. vLLM: `gpu_memory_utilization` of *total* memory, less weights, the
    profiled activation peak and non-PyTorch memory. SGLang: `mem_fraction_static` of total
    memory holds weights and KV (activations and CUDA graphs live in the rest), less the runtime
    already allocated when it measures free memory. Negative means the model does not fit.
    """
    total = np.asarray(memory_gib) * GIB
    if engine == "trtllm":
        return kv_fraction * (total - weights - activations - overhead)
    if engine == "sglang":
        return kv_fraction * total - weights - overhead
    return kv_fraction * total - weights - activations - overhead


def kv_capacity_tokens(budget, kv_per_token, block_tokens):
    """Tokens of context the KV cache holds (per replica: every GPU holds its share of each token)."""
    budget = np.maximum(np.asarray(budget, dtype=float), 0.0)
    return np.floor(budget / kv_per_token / block_tokens) * block_tokens


def max_sequences(budget, seq_bytes, max_batch_size):
    """Most sequences of a given size that fit in the KV budget at once, capped by `max_batch_size`."""
    budget = np.maximum(np.asarray(budget, dtype=float), 0.0)
    return np.minimum(np.floor(budget / seq_bytes), max_batch_size)
