"""Reading a Hugging Face `config.json` into a `ModelSpec`: validation, architectures, quantization.

Three steps, each with one job:

1. `validate_config`: the fields the planner reads, checked by pydantic (`ConfigFields`): types,
   whole numbers where sizes are meant, positive sizes with sane upper bounds, finite numbers and
   the relations between them (query heads a multiple of KV heads, heads that divide the hidden
   size when no `head_dim` is given, top-k within the experts). A bad field is one line naming it
   and what is allowed.
2. `ARCHITECTURES`: one small entry per architecture family, the facts about its layers that
   the config does not state (gated MLP or not, biases, norms, which layers are MoE, which attend
   to a window). An unknown `model_type` is refused with the supported list; `arch=` maps it to
   one of them explicitly (`--arch` on the CLI), never silently to Llama.
3. `model_from_config`: parameter counts and the `ModelSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from .errors import PlannerError, validation_line
from .specs import KvPrecision, ModelSpec, Precision

UNSUPPORTED_ARCHITECTURES = {
    "mamba": "state-space layers (no KV cache)",
    "mamba2": "state-space layers (no KV cache)",
    "jamba": "hybrid Mamba / attention layers",
    "falcon_h1": "hybrid Mamba / attention layers",
    "minimax": "lightning (linear) attention",
    "minimax_text_01": "lightning (linear) attention",
    "rwkv": "recurrent (RWKV) layers",
}


@dataclass(frozen=True)
class Architecture:
    """What a family's config does not state about its decoder layers."""

    gated_mlp: bool = True  # SwiGLU / GeGLU: gate, up and down projections (else up and down)
    qkv_bias: bool = False  # q, k, v biases whatever `attention_bias` says (Qwen2)
    out_bias: bool = False  # o_proj bias with `attention_bias` (gpt-oss)
    attention_sinks: bool = False  # one learned sink logit per head (gpt-oss)
    qk_norm: Literal["none", "per_head", "full"] = "none"  # RMSNorm on q and k: per head (Qwen3) or whole (MiniMax-M2, with use_qk_norm)
    tied_by_default: bool = False  # embeddings shared with the LM head when the config is silent
    norms_per_layer: int = 2  # RMSNorms of `hidden` weights in one decoder layer
    layernorm_bias: bool = False  # LayerNorms with a bias (GPT-J, Falcon): twice the weights
    mlp_bias: bool = False  # fc_in / fc_out biases and an LM-head bias (GPT-J)
    falcon: bool = False  # Falcon's multi_query / new_decoder_architecture / bias switches
    moe_width: Literal["moe_intermediate_size", "intermediate_size", "llama4"] = "moe_intermediate_size"
    expert_bias: bool = False  # gate_up / down biases per expert and a router bias (gpt-oss)
    routing_bias: bool = False  # e_score_correction_bias of noaux_tc routing (DeepSeek-V3 family)
    moe_layers: Literal["all", "first_k_dense", "interleaved", "sparse_step"] = "all"
    window: Literal["none", "all_layers", "qwen2", "alternate", "chunked"] = "none"  # sliding / chunked attention
    attn_output_gate: bool = False  # q_proj also outputs a sigmoid gate on the attention output (twice the width)
    shared_expert_gate: bool = False  # one sigmoid gate (hidden -> 1) on the shared expert per MoE layer
    gated_deltanet: bool = False  # "linear_attention" layers are Gated DeltaNet (a fixed-size state per sequence, no KV)
    sparse_attention: bool = False  # DeepSeek Sparse Attention: a lightning indexer picks index_topk tokens per query
    global_attention: bool = False  # full-attention layers of their own shape (global_head_dim, num_global_key_value_heads, attention_k_eq_v)
    parallel_moe: bool = False  # enable_moe_block: a dense MLP and the routed experts side by side in every layer, with their own norms


#: Architecture families the planner counts exactly (keys: the decoder's `model_type`).
ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture(),  # GQA, SwiGLU, RMSNorm
    "mistral": Architecture(window="all_layers"),  # Llama-style, sliding window on every layer when set
    "mixtral": Architecture(moe_width="intermediate_size", window="all_layers"),  # Mistral with MoE MLPs
    "qwen2": Architecture(qkv_bias=True, window="qwen2"),  # Llama-style with q/k/v biases
    "qwen3": Architecture(qk_norm="per_head"),  # Llama-style with per-head q/k norms
    "qwen3_moe": Architecture(qk_norm="per_head", moe_layers="sparse_step"),  # Qwen3 with MoE MLPs
    "phi3": Architecture(window="all_layers"),  # Llama-style (fused projections, same counts)
    "gemma": Architecture(tied_by_default=True),  # Llama-style, tied embeddings
    "gemma2": Architecture(tied_by_default=True, norms_per_layer=4, window="alternate"),  # Gemma with sandwich norms, every other layer windowed
    "gemma3_text": Architecture(tied_by_default=True, norms_per_layer=4),  # Gemma-3 text decoder (windows from layer_types)
    # Gemma 4 text decoder: sliding layers and global layers of their own shape (keys as values),
    # per-head q/k norms, and with enable_moe_block a dense MLP beside 128 routed experts
    "gemma4_text": Architecture(tied_by_default=True, norms_per_layer=4, qk_norm="per_head", global_attention=True, parallel_moe=True),
    "falcon": Architecture(gated_mlp=False, tied_by_default=True, layernorm_bias=True, falcon=True),  # Falcon (MQA or grouped new_decoder_architecture)
    "gptj": Architecture(gated_mlp=False, norms_per_layer=1, layernorm_bias=True, mlp_bias=True),  # GPT-J (parallel attention and MLP, biases)
    "gpt_oss": Architecture(out_bias=True, attention_sinks=True, moe_width="intermediate_size", expert_bias=True),  # gpt-oss MoE (sinks, biases)
    "deepseek_v2": Architecture(routing_bias=True, moe_layers="first_k_dense"),  # DeepSeek-V2 (MLA, MoE)
    "deepseek_v3": Architecture(routing_bias=True, moe_layers="first_k_dense"),  # DeepSeek-V3 / R1 (MLA, MoE)
    "kimi_k2": Architecture(routing_bias=True, moe_layers="first_k_dense"),  # Kimi K2 (DeepSeek-V3 layout)
    "glm4_moe": Architecture(moe_layers="first_k_dense"),  # GLM-4.5 MoE
    "llama4_text": Architecture(moe_width="llama4", moe_layers="interleaved", window="chunked"),  # Llama 4 text decoder (interleaved MoE, chunked attention)
    "minimax_m2": Architecture(qk_norm="full", moe_width="intermediate_size", routing_bias=True),  # MiniMax-M2 MoE
    # DeepSeek-V3.2 / GLM-5: MLA over the index_topk tokens a lightning indexer selects per query
    "deepseek_v32": Architecture(routing_bias=True, moe_layers="first_k_dense", sparse_attention=True),
    "glm_moe_dsa": Architecture(routing_bias=True, moe_layers="first_k_dense", sparse_attention=True),
    # Qwen3-Next / Qwen3.5: three Gated DeltaNet layers to one gated full-attention layer
    "qwen3_next": Architecture(qk_norm="per_head", moe_layers="sparse_step", attn_output_gate=True, shared_expert_gate=True, gated_deltanet=True),
    "qwen3_5_moe_text": Architecture(qk_norm="per_head", attn_output_gate=True, shared_expert_gate=True, gated_deltanet=True),
    "qwen3_5_text": Architecture(qk_norm="per_head", attn_output_gate=True, gated_deltanet=True),
}
# Vision-language checkpoints whose text decoder is one of the families above (their towers are
# counted from vision_config by `_vision_encoder`): Qwen2-VL / Qwen2.5-VL (decoder fields at the top
# level, or in text_config in newer exports) and Qwen3-VL.
ARCHITECTURES |= {
    name: ARCHITECTURES[family]
    for name, family in {
        "qwen2_vl": "qwen2",
        "qwen2_5_vl": "qwen2",
        "qwen2_vl_text": "qwen2",
        "qwen2_5_vl_text": "qwen2",
        "qwen3_vl_text": "qwen3",
        "qwen3_vl_moe_text": "qwen3_moe",
    }.items()
}


def architecture(model_type: str, source: str, arch: str | None = None) -> tuple[str, Architecture]:
    """The registry entry for a config's `model_type`, or for `arch` when given (which maps an
    unknown type to a known family); an unknown type is refused with the supported list."""
    if model_type in UNSUPPORTED_ARCHITECTURES:
        raise PlannerError(f"{source}: model_type {model_type!r} uses {UNSUPPORTED_ARCHITECTURES[model_type]}, which the planner cannot represent yet")
    name = arch or model_type
    if name not in ARCHITECTURES:
        what = f"arch {arch!r}" if arch else (f"model_type {model_type!r}" if model_type else "config.json has no model_type, which")
        hint = "" if arch else "; if it is laid out like one of them, map it with --arch NAME"
        raise PlannerError(f"{source}: {what} is not an architecture the planner knows (supported: {', '.join(sorted(ARCHITECTURES))}){hint}")
    return name, ARCHITECTURES[name]


# ---- validation of the fields read --------------------------------------------------------

_SIZE = 1 << 20  # hidden sizes, head widths, FFN widths: the largest real ones are < 2^17
Size = Annotated[StrictInt, Field(ge=1, le=_SIZE)]
Count = Annotated[StrictInt, Field(ge=0, le=_SIZE)]
Length = Annotated[StrictInt, Field(ge=1, le=1 << 30)]  # positions / windows (tokens)
Layers = Annotated[StrictInt, Field(ge=1, le=100_000)]
Vocab = Annotated[StrictInt, Field(ge=1, le=100_000_000)]
Factor = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]


class RopeScaling(BaseModel):
    model_config = ConfigDict(extra="allow")

    factor: Factor | None = None
    original_max_position_embeddings: Length | None = None
    rope_type: str | None = None
    type: str | None = None


class ConfigFields(BaseModel):
    """The `config.json` fields the planner reads (others pass through unread), with their bounds."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model_type: str = ""
    hidden_size: Size | None = None
    n_embd: Size | None = None
    d_model: Size | None = None
    num_hidden_layers: Layers | None = None
    n_layer: Layers | None = None
    num_layers: Layers | None = None
    num_attention_heads: Size | None = None
    n_head: Size | None = None
    num_key_value_heads: Size | None = None
    num_kv_heads: Size | None = None
    multi_query_group_num: Size | None = None
    head_dim: Size | None = None
    vocab_size: Vocab | None = None
    intermediate_size: Size | None = None
    n_inner: Size | None = None
    ffn_hidden_size: Size | None = None
    intermediate_size_mlp: Size | None = None
    moe_intermediate_size: Size | None = None
    shared_expert_intermediate_size: Count | None = None
    num_local_experts: Count | None = None
    num_experts: Count | None = None
    n_routed_experts: Count | None = None
    num_experts_per_tok: Count | None = None
    experts_per_token: Count | None = None
    num_experts_per_token: Count | None = None
    n_shared_experts: Count | None = None
    kv_lora_rank: Count | None = None
    q_lora_rank: Count | None = None
    qk_rope_head_dim: Count | None = None
    qk_nope_head_dim: Size | None = None
    v_head_dim: Size | None = None
    first_k_dense_replace: Annotated[StrictInt, Field(ge=0, le=100_000)] | None = None
    interleave_moe_layer_step: Layers | None = None
    decoder_sparse_step: Layers | None = None
    mlp_only_layers: list[Annotated[StrictInt, Field(ge=0, le=100_000)]] | None = None
    max_position_embeddings: Length | None = None
    n_positions: Length | None = None
    sliding_window: Length | None = None
    attention_chunk_size: Length | None = None
    layer_types: list[str] | None = None
    full_attention_interval: Layers | None = None
    linear_num_key_heads: Size | None = None
    linear_num_value_heads: Size | None = None
    linear_key_head_dim: Size | None = None
    linear_value_head_dim: Size | None = None
    linear_conv_kernel_dim: Size | None = None
    mamba_ssm_dtype: Literal["float32", "bfloat16", "float16", "auto"] | None = None
    index_topk: Length | None = None
    index_n_heads: Size | None = None
    index_head_dim: Size | None = None
    global_head_dim: Size | None = None
    num_global_key_value_heads: Size | None = None
    top_k_experts: Count | None = None
    hidden_size_per_layer_input: Count | None = None
    num_kv_shared_layers: Count | None = None
    rope_scaling: RopeScaling | None = None
    tie_word_embeddings: StrictBool | None = None
    attention_bias: StrictBool | None = None
    use_sliding_window: StrictBool | None = None
    use_qk_norm: StrictBool | None = None
    use_routing_bias: StrictBool | None = None
    new_decoder_architecture: StrictBool | None = None
    multi_query: StrictBool | None = None
    bias: StrictBool | None = None
    topk_method: str | None = None
    attention_k_eq_v: StrictBool | None = None
    enable_moe_block: StrictBool | None = None
    quantization_config: QuantizationConfig | None = None

    def first(self, *names: str) -> Any:
        """The first of these fields that the config sets."""
        for n in names:
            v = getattr(self, n)
            if v is not None:
                return v
        return None

    @model_validator(mode="after")
    def _relations(self) -> ConfigFields:
        hidden = self.first("hidden_size", "n_embd", "d_model")
        heads = self.first("num_attention_heads", "n_head")
        kv = self.first("num_key_value_heads", "num_kv_heads", "multi_query_group_num")
        layers = self.first("num_hidden_layers", "n_layer", "num_layers")
        if heads and kv and not self.kv_lora_rank and heads % kv:
            raise ValueError(f"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv})")
        if hidden and heads and self.head_dim is None and not self.kv_lora_rank and hidden % heads:
            raise ValueError(f"hidden_size ({hidden}) must be a multiple of num_attention_heads ({heads}) when head_dim is not given")
        experts = self.first("num_local_experts", "num_experts", "n_routed_experts") or 0
        top_k = self.first("num_experts_per_tok", "experts_per_token", "num_experts_per_token", "top_k_experts") or 0
        if experts and not top_k:
            raise ValueError(f"{experts} experts but no num_experts_per_tok")
        if top_k > max(experts, 0) and experts:
            raise ValueError(f"num_experts_per_tok ({top_k}) must not exceed the {experts} experts")
        if layers and self.first_k_dense_replace is not None and self.first_k_dense_replace > layers:
            raise ValueError(f"first_k_dense_replace ({self.first_k_dense_replace}) must not exceed num_hidden_layers ({layers})")
        if layers and self.layer_types is not None and len(self.layer_types) != layers:
            raise ValueError(f"layer_types lists {len(self.layer_types)} layers, num_hidden_layers says {layers}")
        return self


class VisionFields(BaseModel):
    """The `vision_config` fields `_vision_encoder` reads (ViT widths under their common names), with bounds."""

    model_config = ConfigDict(extra="allow")

    hidden_size: Size | None = None
    embed_dim: Size | None = None
    num_hidden_layers: Layers | None = None
    depth: Layers | None = None
    intermediate_size: Size | None = None
    mlp_ratio: Factor | None = None
    num_channels: Size | None = None
    in_channels: Size | None = None
    in_chans: Size | None = None
    patch_size: Size | None = None
    temporal_patch_size: Size | None = None
    spatial_merge_size: Size | None = None
    hidden_act: str | None = None


class QuantGroupWeights(BaseModel):
    model_config = ConfigDict(extra="allow")

    num_bits: StrictInt | None = Field(default=None, ge=1, le=64)
    type: str | None = None
    group_size: StrictInt | None = Field(default=None, ge=-1, le=1 << 20)


class QuantGroup(BaseModel):
    model_config = ConfigDict(extra="allow")

    weights: QuantGroupWeights | None = None
    input_activations: dict | None = None


class QuantizationConfig(BaseModel):
    """The `quantization_config` fields read by `checkpoint_quantization`."""

    model_config = ConfigDict(extra="allow")

    quant_method: str | None = None
    quant_algo: str | None = None
    kv_cache_quant_algo: str | None = None
    bits: StrictInt | None = Field(default=None, ge=1, le=64)
    w_bit: StrictInt | None = Field(default=None, ge=1, le=64)
    format: str | None = None
    config_groups: dict[str, QuantGroup] | None = None
    modules_to_not_convert: list[str] | None = None
    ignore: list[str] | None = None
    exclude_modules: list[str] | None = None
    weight_block_size: list[StrictInt] | None = None
    quantization: dict | None = None  # ModelOpt's hf_quant_config.json nests its fields here


ConfigFields.model_rebuild()


def validate_config(cfg: Any, source: str) -> ConfigFields:
    """The config's fields, validated; a bad one is a one-line `PlannerError` naming it."""
    if not isinstance(cfg, dict):
        raise PlannerError(f"{source}: config.json must hold a JSON object, not {type(cfg).__name__}")
    try:
        return ConfigFields.model_validate(cfg)
    except ValidationError as exc:
        raise PlannerError(f"{source}: invalid config.json: {_readable(exc)}") from None
    except RecursionError:
        raise PlannerError(f"{source}: invalid config.json: nested too deeply") from None


def _allowed(loc: tuple) -> str | None:
    """'a whole number from LO to HI' for a bounded whole-number field of `ConfigFields`."""
    field = ConfigFields.model_fields.get(str(loc[0])) if loc else None
    if field is None or len(loc) > 1:
        return None
    lo = next((m.ge for m in _metadata(field.annotation) if hasattr(m, "ge")), None)
    hi = next((m.le for m in _metadata(field.annotation) if hasattr(m, "le")), None)
    return f"must be a whole number from {lo} to {hi}" if lo is not None and hi is not None else None


def _metadata(annotation) -> list:
    """The constraint objects inside an `Annotated[...] | None` annotation."""
    out = []
    for m in getattr(annotation, "__metadata__", ()):
        out += [m, *getattr(m, "metadata", [])]  # a Field(...) inside Annotated keeps its bounds in .metadata
    for arg in getattr(annotation, "__args__", ()):
        out += _metadata(arg)
    return out


def _readable(exc: ValidationError) -> str:
    """`field: what is allowed (got value)`, one line."""
    err = exc.errors()[0]
    line = validation_line(exc)
    if err.get("type") != "value_error" and "input" in err:
        allowed = _allowed(tuple(err["loc"]))
        if allowed:
            line = f"{'.'.join(map(str, err['loc']))}: {allowed}"
        shown = repr(err["input"])
        line += f" (got {shown[:60] + '...' if len(shown) > 60 else shown})"
    return line


def _require(fields: ConfigFields, source: str, *names: str) -> int:
    v = fields.first(*names)
    if v is None:
        raise PlannerError(f"{source}: config.json lacks {' / '.join(repr(k) for k in names)}")
    return v


#: ModelOpt `quant_algo` -> precision (W4A16_AWQ / W4A8_AWQ keep 4-bit weights; SmoothQuant is W8A8).
_MODELOPT_ALGOS = {
    "FP8": "fp8",
    "FP8_BLOCK_SCALES": "fp8",
    "FP8_PER_CHANNEL_PER_TOKEN": "fp8",
    "NVFP4": "nvfp4",
    "MXFP4": "mxfp4",
    "W4A16_AWQ": "int4",
    "W4A8_AWQ": "int4",
    "INT4_AWQ": "int4",
    "W8A8_SQ_PER_CHANNEL": "int8",
    "INT8_SQ": "int8",
}
#: compressed-tensors `format` -> precision, where its config_groups do not say more.
_CT_FORMATS = {
    "float-quantized": "fp8",
    "naive-quantized": None,
    "int-quantized": "int8",
    "pack-quantized": "int4",
    "nvfp4-pack-quantized": "nvfp4",
    "mxfp4-pack-quantized": "mxfp4",
}


def _compressed_tensors_precision(quant: dict) -> str | None:
    """Precision of a compressed-tensors checkpoint from its first config group (or its format)."""
    for group in (quant.get("config_groups") or {}).values():
        w, a = (group or {}).get("weights") or {}, (group or {}).get("input_activations")
        bits, kind = w.get("num_bits"), str(w.get("type", "int")).lower()
        if bits == 4 and kind == "float":
            return "nvfp4" if w.get("group_size") == 16 else "mxfp4"
        if bits == 4 and kind == "int":
            return "int4" if not a else None  # W4A8 int is not a precision the planner has
        if bits == 8:
            return "fp8" if kind == "float" else ("int8" if a else None)  # W8A16 int is not one either
        return None
    return _CT_FORMATS.get(str(quant.get("format", "")).lower())


def _unquantized_parts(patterns: list) -> list[str]:
    """Decoder parts a checkpoint's ignore list keeps at 16 bits. Embeddings, LM head, routers and
    norms are 16-bit in the planner anyway; per-layer exceptions count for the whole part."""
    parts = set()
    for pat in map(str, patterns or []):
        low = pat.lower()
        if "attn" in low or "attention" in low:
            parts.add("attention")
        elif "shared_expert" in low:
            parts.add("shared_experts")
        elif "experts" in low:
            parts.add("experts")
        elif "mlp" in low and "proj" in low:
            parts.add("dense_mlp")
    return sorted(parts)


def checkpoint_quantization(quant: dict | None) -> tuple[Precision | None, KvPrecision | None, list[str], str | None]:
    """What a `quantization_config` says: (weight precision, KV precision, parts left at 16 bits, label).

    Reads ModelOpt (`quant_algo`, `kv_cache_quant_algo`, `exclude_modules`), block/tensor FP8
    (`quant_method: fp8`), MXFP4, AWQ / GPTQ (`bits`) and compressed-tensors (`config_groups`,
    `ignore`). The label is the scheme's name; a quantized checkpoint whose scheme has no planner
    precision gets `None` as its precision and its label, so that the caller can ask for one.
    """
    if not isinstance(quant, dict) or not quant:
        return None, None, [], None
    if isinstance(quant.get("quantization"), dict):  # hf_quant_config.json of ModelOpt
        quant = {**quant["quantization"], "quant_method": "modelopt"}
    method = str(quant.get("quant_method") or "").lower()
    algo = str(quant.get("quant_algo") or "").upper()
    kv = None
    if algo or method == "modelopt":
        name = _MODELOPT_ALGOS.get(algo)
        kv_algo = str(quant.get("kv_cache_quant_algo") or "").upper()
        kv = {"FP8": KvPrecision.fp8, "NVFP4": KvPrecision.nvfp4, "INT8": KvPrecision.int8}.get(kv_algo)
        label = f"ModelOpt {algo or '?'}"
    elif method == "fp8":
        name, label = "fp8", "FP8" + (" (block scales)" if quant.get("weight_block_size") else "")
    elif method == "mxfp4":
        name, label = "mxfp4", "MXFP4"
    elif method in ("awq", "gptq"):
        bits = quant.get("bits", quant.get("w_bit"))
        name, label = ("int4" if bits == 4 else None), f"{method.upper()} {bits}-bit"
    elif method == "compressed-tensors":
        name, label = _compressed_tensors_precision(quant), f"compressed-tensors {quant.get('format', '')}".strip()
    else:
        name, label = None, method or "unknown scheme"
    ignore = quant.get("modules_to_not_convert") or quant.get("ignore") or quant.get("exclude_modules") or []
    return (Precision(name) if name else None), kv or _kv_cache_scheme(quant.get("kv_cache_scheme")), _unquantized_parts(ignore), label


def _kv_cache_scheme(scheme) -> KvPrecision | None:
    """The KV precision a `kv_cache_scheme` states (compressed-tensors, and ModelOpt's config.json
    from 0.37): 8-bit float is FP8, 8-bit int INT8; anything else is not read."""
    if not isinstance(scheme, dict) or scheme.get("num_bits") != 8:
        return None
    return {"float": KvPrecision.fp8, "int": KvPrecision.int8}.get(str(scheme.get("type", "")).lower())


def _context_window(f: ConfigFields) -> int | None:
    """max_position_embeddings, or, for YaRN / linear / dynamic RoPE scaling (whose configs keep the
    original length there), original_max_position_embeddings x factor when that is longer. Llama 3's
    `llama3` scaling already states the extended length in max_position_embeddings."""
    window = f.first("max_position_embeddings", "n_positions")
    scaling = f.rope_scaling
    if scaling is not None:
        kind = str(scaling.rope_type or scaling.type or "").lower()
        original = scaling.original_max_position_embeddings or window
        if kind in ("yarn", "linear", "dynamic") and original and scaling.factor and scaling.factor > 1:
            window = max(int(window or 0), int(original * scaling.factor))
    return window


def model_from_config(cfg: dict, model_id: str, source: str | None = None, arch: str | None = None) -> ModelSpec:
    """Build a `ModelSpec` from a Hugging Face config dict; raise `PlannerError` on what it cannot
    represent. `arch` names the registry family to read an unknown `model_type` as."""
    source = source or model_id
    top = validate_config(cfg, source)
    quant = top.quantization_config
    f = top
    if isinstance(cfg.get("text_config"), dict):  # multimodal wrappers (Llama 4, Kimi K2.5): the decoder
        inner = cfg["text_config"]
        if top.model_type in UNSUPPORTED_ARCHITECTURES:
            architecture(top.model_type, source)
        f = validate_config({**inner, "tie_word_embeddings": cfg.get("tie_word_embeddings", inner.get("tie_word_embeddings"))}, f"{source} (text_config)")
        quant = quant or f.quantization_config
    mt = f.model_type or top.model_type
    mt, a = architecture(mt, source, arch)
    layer_types = f.layer_types or []
    if any("mamba" in t or ("linear" in t and t != "linear_attention") for t in layer_types) or ("linear_attention" in layer_types and not a.gated_deltanet):
        raise PlannerError(f"{source}: layers of type {sorted(set(layer_types))} include linear/state-space attention, which the planner cannot represent yet")

    hidden = _require(f, source, "hidden_size", "n_embd", "d_model")
    layers = _require(f, source, "num_hidden_layers", "n_layer", "num_layers")
    heads = _require(f, source, "num_attention_heads", "n_head")
    vocab = _require(f, source, "vocab_size")
    kv_heads = f.first("num_key_value_heads", "num_kv_heads", "multi_query_group_num") or heads
    if a.falcon and not f.new_decoder_architecture and f.multi_query is not False:
        kv_heads = 1
    head_dim = f.head_dim or hidden // heads
    v_head_dim = head_dim
    tie = f.tie_word_embeddings if f.tie_word_embeddings is not None else a.tied_by_default

    ckpt, ckpt_kv, kept, label = checkpoint_quantization(quant.model_dump(exclude_none=True) if quant else None)

    # ---- attention -------------------------------------------------------
    mla = bool(f.kv_lora_rank)
    kv_lora = rope = 0
    if mla:
        kv_lora = f.kv_lora_rank
        rope = f.qk_rope_head_dim if f.qk_rope_head_dim is not None else 64
        nope = f.qk_nope_head_dim or 128
        v_head_dim = f.v_head_dim or nope
        head_dim = nope + rope
        q_lora = f.q_lora_rank
        q = (hidden * q_lora + q_lora + q_lora * heads * head_dim) if q_lora else hidden * heads * head_dim
        kv = hidden * (kv_lora + rope) + kv_lora + kv_lora * heads * (nope + v_head_dim)
        attn = q + kv + heads * v_head_dim * hidden
        attention = "mla"
        kv_heads = heads
    else:
        q_out, kv_out = heads * head_dim, kv_heads * head_dim
        attn = hidden * q_out * (2 if a.attn_output_gate else 1) + 2 * hidden * kv_out + q_out * hidden
        if f.attention_bias or a.qkv_bias:
            attn += q_out + 2 * kv_out  # q, k, v biases
        if f.attention_bias and a.out_bias:
            attn += hidden  # o_proj bias
        if a.attention_sinks:
            attn += heads
        if a.qk_norm == "per_head":
            attn += 2 * head_dim
        elif a.qk_norm == "full" and f.use_qk_norm:
            attn += q_out + kv_out
        if a.falcon and f.bias:
            attn += q_out + 2 * kv_out + hidden
        attention = "mha" if kv_heads == heads else ("mqa" if kv_heads == 1 else "gqa")

    # ---- MLP / MoE -------------------------------------------------------
    inter = f.first("intermediate_size", "n_inner", "ffn_hidden_size") or 4 * hidden
    dense_mlp = (3 if a.gated_mlp else 2) * hidden * inter + (inter + hidden if a.mlp_bias else 0)
    experts = f.first("num_local_experts", "num_experts", "n_routed_experts") or 0
    top_k = f.first("num_experts_per_tok", "experts_per_token", "num_experts_per_token", "top_k_experts") or 0
    if a.parallel_moe and not f.enable_moe_block:
        experts = top_k = 0  # a dense Gemma 4: the expert fields, if any, are unused
    expert = shared = router = 0
    n_moe = 0
    if experts:
        if a.moe_width == "intermediate_size":
            moe_inter = inter
        elif a.moe_width == "llama4":  # intermediate_size is the experts'; the dense layers have their own
            moe_inter = inter
            inter = f.intermediate_size_mlp or inter
            dense_mlp = 3 * hidden * inter
        else:
            moe_inter = f.moe_intermediate_size or inter
        expert = 3 * hidden * moe_inter
        router = hidden * experts
        if a.expert_bias:
            expert += 2 * moe_inter + hidden  # gate_up and down biases
            router += experts
        if a.routing_bias and (f.topk_method or "noaux_tc") == "noaux_tc" or f.use_routing_bias:
            router += experts  # e_score_correction_bias
        if a.shared_expert_gate:
            router += hidden
        n_shared = f.n_shared_experts or 0
        shared_inter = f.shared_expert_intermediate_size or 0
        if a.moe_width == "llama4":
            n_shared, shared_inter = 1, moe_inter
        shared = 3 * hidden * (shared_inter if shared_inter else n_shared * moe_inter) if (n_shared or shared_inter) else 0
        if a.parallel_moe:  # the dense MLP runs beside the experts for every token: a shared expert in all but name
            shared = dense_mlp
            router += hidden + experts  # the router's input scale and its per-expert output scale
        if a.moe_layers == "first_k_dense":
            n_moe = layers - (f.first_k_dense_replace or 0)
        elif a.moe_layers == "interleaved":
            step = f.interleave_moe_layer_step or 1
            n_moe = len([i for i in range(layers) if (i + 1) % step == 0])
        elif a.moe_layers == "sparse_step":
            step, skip = f.decoder_sparse_step or 1, set(f.mlp_only_layers or [])
            n_moe = len([i for i in range(layers) if i not in skip and (i + 1) % step == 0])
        else:
            n_moe = layers
    n_dense = layers - n_moe

    # ---- norms (MLA's q_a / kv_a norms are counted inside attention) -----
    norms_per_layer = (2 if f.new_decoder_architecture else 1) if a.falcon else a.norms_per_layer
    width = 2 * hidden if a.layernorm_bias else hidden
    norms = layers * norms_per_layer * width + width
    if a.parallel_moe and n_moe:
        norms += n_moe * 3 * hidden  # the MLP's and the experts' own post-norms, and the experts' pre-norm

    # ---- sliding window / chunked attention -----------------------------
    window, n_window = None, 0
    if layer_types:
        n_window = sum(1 for t in layer_types if "sliding" in t)
        window = f.sliding_window if n_window else None
    elif a.window == "alternate":
        window, n_window = f.sliding_window, layers // 2 + layers % 2
    elif a.window == "chunked" and f.attention_chunk_size:
        window, n_window = f.attention_chunk_size, layers - layers // 4
    elif f.sliding_window and (a.window == "all_layers" or (a.window == "qwen2" and f.use_sliding_window)):
        window, n_window = f.sliding_window, layers
    if window is None:
        n_window = 0

    linear = _gated_deltanet(f, a, layers, hidden, source)
    sparse = _lightning_indexer(f, a, hidden, source) if mla else {}
    global_layers = _global_attention(f, a, layer_types, hidden, heads, source)
    attn += sparse.get("params_indexer_per_layer", 0)

    lm_head = 0 if tie else vocab * hidden + (vocab if a.mlp_bias else 0)
    return ModelSpec(
        id=model_id,
        model_type=mt,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        v_head_dim=v_head_dim,
        vocab_size=vocab,
        max_position_embeddings=f.first("max_position_embeddings", "n_positions"),
        context_window=_context_window(f),
        attention=attention,
        kv_lora_rank=kv_lora,
        qk_rope_head_dim=rope,
        num_dense_layers=n_dense,
        num_moe_layers=n_moe,
        num_experts=experts,
        experts_per_token=top_k,
        sliding_window=window,
        num_window_layers=n_window,
        params_embedding=vocab * hidden,
        params_lm_head=lm_head,
        params_attention_per_layer=attn,
        params_dense_mlp_per_layer=dense_mlp if n_dense else 0,
        params_expert=expert,
        params_shared_per_moe_layer=shared,
        params_router_per_moe_layer=router,
        params_norms=norms,
        quantization=label,
        checkpoint_precision=ckpt,
        checkpoint_kv_precision=ckpt_kv,
        unquantized=kept,
        **linear,
        **sparse,
        params_vision_encoder=_vision_encoder(cfg, hidden, source),
        **global_layers,
    )


def _global_attention(f: ConfigFields, a: Architecture, layer_types: list, hidden: int, heads: int, source: str) -> dict:
    """Gemma 4's full-attention ("global") layers, whose attention has its own shape, as `ModelSpec`
    fields: `global_head_dim`-wide heads, `num_global_key_value_heads` KV heads and, with
    `attention_k_eq_v`, no value projection (the keys serve as values). Like the sliding layers
    they have per-head q and k norms (the v norm has no weights). Per-layer input embeddings and
    KV-sharing layers (the small Gemma 4 models) are refused by name.
    """
    if not a.global_attention:
        return {}
    for name in ("hidden_size_per_layer_input", "num_kv_shared_layers"):
        if getattr(f, name):
            raise PlannerError(
                f"{source}: {name} = {getattr(f, name)} (per-layer input embeddings / KV-sharing layers), which the planner cannot represent yet"
            )
    n_global = sum(1 for t in layer_types if t == "full_attention")
    if not f.global_head_dim or not n_global:
        return {}
    dim = f.global_head_dim
    kv_heads = f.num_global_key_value_heads or f.first("num_key_value_heads", "num_kv_heads") or heads
    if heads % kv_heads:
        raise PlannerError(f"{source}: num_attention_heads ({heads}) must be a multiple of num_global_key_value_heads ({kv_heads})")
    kv_projections = 1 if f.attention_k_eq_v else 2
    params = hidden * heads * dim + kv_projections * hidden * kv_heads * dim + heads * dim * hidden + 2 * dim
    if f.attention_bias:
        params += heads * dim + kv_projections * kv_heads * dim
    return {"num_global_layers": n_global, "global_head_dim": dim, "global_kv_heads": kv_heads, "params_global_attention_per_layer": params}


def _vision_encoder(cfg: dict, text_hidden: int, source: str) -> int:
    """Parameters of a multimodal checkpoint's vision encoder, from its `vision_config` (0 without one).

    The engines load the tower with the decoder (vLLM, SGLang and TensorRT-LLM's PyTorch flow), so
    its weights take memory; it takes no part in a decode step. Counted as a ViT from the config's
    widths: per layer q, k, v and output projections (4 w^2), an MLP of 3 w x i matrices with a
    SiLU (gated, as Pixtral and Qwen2.5-VL) or 2 otherwise (GELU: SigLIP, Llama 4, Qwen2-VL) and
    two norms; the patch embedding (channels x patch^2 x temporal patch x w); and a projector into
    the decoder, taken as two matrices, (w x merge^2) x h and h x h. The projector's true shape
    differs by family (Mistral 3: 36M parameters where this gives 47M; Llama 4: 61M for 33M), a
    few percent of a tower. A tower without a width or depth is refused by name rather than left out.
    """
    raw = cfg.get("vision_config")
    if not isinstance(raw, dict):
        return 0
    where = f"{source} (vision_config)"
    try:
        v = VisionFields.model_validate(raw)
    except ValidationError as exc:
        raise PlannerError(f"{where}: invalid: {_readable(exc)}") from None
    width = v.embed_dim or v.hidden_size  # Qwen2-VL: embed_dim is the tower's width, hidden_size the decoder's
    depth = v.num_hidden_layers or v.depth
    inter = v.intermediate_size or (round(v.mlp_ratio * width) if v.mlp_ratio and width else None)
    if not (width and depth and inter):
        missing = "hidden_size / embed_dim" if not width else ("num_hidden_layers / depth" if not depth else "intermediate_size / mlp_ratio")
        raise PlannerError(
            f"{where}: no {missing}: the planner counts the vision encoder's weights from it; add it, or remove vision_config to plan the text decoder alone"
        )
    gated = (v.hidden_act or "").lower() in ("silu", "swish", "swiglu")
    layer = 4 * width * width + (3 if gated else 2) * width * inter + 4 * width
    channels = v.num_channels or v.in_channels or v.in_chans or 3
    patch = channels * (v.patch_size or 14) ** 2 * (v.temporal_patch_size or 1) * width
    merge = v.spatial_merge_size or (cfg.get("spatial_merge_size") if isinstance(cfg.get("spatial_merge_size"), int) else None) or 1
    projector = width * merge * merge * text_hidden + text_hidden * text_hidden
    return depth * layer + patch + 2 * width + projector


def _lightning_indexer(f: ConfigFields, a: Architecture, hidden: int, source: str) -> dict:
    """DeepSeek Sparse Attention (DeepSeek-V3.2, GLM-5), as `ModelSpec` fields.

    Each MLA layer has a lightning indexer: `index_n_heads` query heads of `index_head_dim` from
    the query latent (wq_b), one key head from the hidden state (wk, LayerNorm with bias) and a
    weight per head (weights_proj). It scores every cached token for each query, and attention
    runs over the `index_topk` best. Its keys are cached too (FP8 with a float32 scale per 128).
    """
    if not a.sparse_attention or not f.index_topk:
        return {}
    heads = _require(f, source, "index_n_heads")
    dim = _require(f, source, "index_head_dim")
    q_in = f.q_lora_rank or hidden
    return {
        "index_topk": f.index_topk,
        "index_n_heads": heads,
        "index_head_dim": dim,
        "params_indexer_per_layer": q_in * heads * dim + hidden * dim + 2 * dim + hidden * heads,
    }


def _gated_deltanet(f: ConfigFields, a: Architecture, layers: int, hidden: int, source: str) -> dict:
    """The Gated DeltaNet ("linear_attention") layers of a hybrid model, as `ModelSpec` fields.

    Which layers: `layer_types`, else every layer but each `full_attention_interval`-th. One layer
    holds in_proj_qkvz (hidden -> 2 key_dim + 2 value_dim: q, k, v and the output gate z),
    in_proj_ba (hidden -> 2 value heads: the write strength beta and the decay a), a depthwise
    causal conv1d over q, k, v (`linear_conv_kernel_dim` taps), A_log and dt_bias per value head,
    a gated RMSNorm of one value head's width and out_proj (value_dim -> hidden). Each sequence
    keeps, per layer, a recurrent state of value_heads x key_head_dim x value_head_dim in
    `mamba_ssm_dtype` (Qwen3.5 ships float32) and the conv's last kernel-1 inputs in 16 bits.
    """
    if not a.gated_deltanet:
        return {}
    if f.layer_types:
        n_linear = sum(1 for t in f.layer_types if t == "linear_attention")
    else:
        interval = f.full_attention_interval or 4
        n_linear = layers - layers // interval
    if not n_linear:
        return {}
    nk = _require(f, source, "linear_num_key_heads")
    nv = _require(f, source, "linear_num_value_heads")
    dk = _require(f, source, "linear_key_head_dim")
    dv = _require(f, source, "linear_value_head_dim")
    kernel = f.linear_conv_kernel_dim or 4
    if nv % nk:
        raise PlannerError(f"{source}: linear_num_value_heads ({nv}) must be a multiple of linear_num_key_heads ({nk})")
    key_dim, value_dim = nk * dk, nv * dv
    conv_dim = 2 * key_dim + value_dim
    params = hidden * (2 * key_dim + 2 * value_dim) + hidden * 2 * nv + conv_dim * kernel + 2 * nv + dv + value_dim * hidden
    state_dtype_bytes = 2.0 if f.mamba_ssm_dtype in ("bfloat16", "float16") else 4.0
    return {
        "num_linear_layers": n_linear,
        "params_linear_attention_per_layer": params,
        "linear_value_heads": nv,
        "linear_state_elements_per_layer": nv * dk * dv,
        "linear_conv_elements_per_layer": (kernel - 1) * conv_dim,
        "linear_state_bytes": state_dtype_bytes,
    }
