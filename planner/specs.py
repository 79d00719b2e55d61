"""Typed specifications: GPU, model, precision, parallelism and engine settings.

Units are in the field names (`_gib`, `_tb_s`, `_gb_s`, `_us`). Every model is built from a
Hugging Face `config.json`; every GPU from a `gpu_specs/<id>.yaml` file. Descriptions and ranges
live on the pydantic fields, so the CLI and the UI read them from here instead of repeating them.
"""

from __future__ import annotations

import itertools
import math
from enum import Enum, StrEnum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import PlannerError, validation_line

GIB = 1024**3


class Precision(StrEnum):
    """Weight / compute precision of the linear layers."""

    fp16 = "fp16"
    bf16 = "bf16"
    fp8 = "fp8"
    int8 = "int8"  # W8A8 (SmoothQuant-style), INT8 tensor cores
    int4 = "int4"  # W4A16 (AWQ / GPTQ, group 128): 4-bit weights, FP16 math
    nvfp4 = "nvfp4"  # 4-bit weights and activations, FP8 scale per 16 values (Blackwell)
    mxfp4 = "mxfp4"  # 4-bit (E2M1) weights, E8M0 scale per 32 values (OCP MX; gpt-oss); FP4 tensor cores or weight-only


class KvPrecision(StrEnum):
    """Precision of the KV cache, chosen separately from the weights."""

    fp16 = "fp16"
    bf16 = "bf16"
    fp8 = "fp8"
    int8 = "int8"
    nvfp4 = "nvfp4"


#: Bytes per weight of a quantized linear layer. INT4 AWQ/GPTQ keeps an FP16 scale per group of
#: 128 weights (0.5 + 2/128); NVFP4 keeps an FP8 scale per 16 values (0.5 + 1/16 = 9/16); MXFP4 an
#: 8-bit power-of-two scale per 32 values (0.5 + 1/32 = 17/32).
WEIGHT_BYTES: dict[Precision, float] = {
    Precision.fp16: 2.0,
    Precision.bf16: 2.0,
    Precision.fp8: 1.0,
    Precision.int8: 1.0,
    Precision.int4: 0.5 + 2.0 / 128,
    Precision.nvfp4: 9.0 / 16.0,
    Precision.mxfp4: 17.0 / 32.0,
}
#: Which peak of the GPU a precision's matrix multiplies run at (key into `GpuSpec.tflops`).
COMPUTE_KEY: dict[Precision, str] = {
    Precision.fp16: "fp16",
    Precision.bf16: "bf16",
    Precision.fp8: "fp8",
    Precision.int8: "int8",
    Precision.int4: "fp16",
    Precision.nvfp4: "fp4",
    Precision.mxfp4: "fp4",
}
#: Precisions a search considers for a 16-bit checkpoint when none are named: every one the planner
#: models except MXFP4, which serving engines run for checkpoints shipped in it (gpt-oss), not as a
#: quantization of another model.
SEARCH_PRECISIONS: tuple[Precision, ...] = tuple(p for p in Precision if p != Precision.mxfp4)
#: Precisions a GPU without their tensor cores still runs through a weight-only kernel, per engine
#: (the weights are unpacked to 16 bits inside the GEMM; the math runs at the 16-bit peak). MXFP4
#: (gpt-oss) on Hopper: TensorRT-LLM's W4A16 MXFP4 MoE, vLLM's Marlin and SGLang's Triton kernels.
#: NVFP4 only in vLLM, whose Marlin FP4 kernel (group size 16) serves ModelOpt NVFP4 checkpoints
#: on compute capability 8.0+ (`is_fp4_marlin_supported`); TensorRT-LLM and SGLang need Blackwell.
WEIGHT_ONLY_FALLBACK: dict[str, frozenset[Precision]] = {
    "trtllm": frozenset({Precision.mxfp4}),
    "vllm": frozenset({Precision.mxfp4, Precision.nvfp4}),
    "sglang": frozenset({Precision.mxfp4}),
}
#: Any engine's: what a GPU's peaks are looked up with when the engine is not known.
ANY_WEIGHT_ONLY_FALLBACK: frozenset[Precision] = frozenset().union(*WEIGHT_ONLY_FALLBACK.values())
#: Parts of the decoder layers a checkpoint may quantize separately.
WEIGHT_PARTS = ("attention", "dense_mlp", "experts", "shared_experts")
#: Bytes per activation element moved between GPUs (all-reduce payload): 16-bit in every mode.
ACT_BYTES = 2.0
#: Bytes per element of hidden states TensorRT-LLM sends to an NVFP4 MoE layer's attention-DP
#: all-gather: it quantizes them first (4-bit values and one 8-bit scale per 16; `fused_moe`'s
#: `fp4_quantize` before `allgather`, unless TLLM_DISABLE_FP4_ALLGATHER=1); the combine
#: (reduce-scatter) stays 16-bit.
NVFP4_DISPATCH_BYTES = 0.5 + 1.0 / 16.0
KV_BYTES: dict[KvPrecision, float] = {
    KvPrecision.fp16: 2.0,
    KvPrecision.bf16: 2.0,
    KvPrecision.fp8: 1.0,
    KvPrecision.int8: 1.0,
    KvPrecision.nvfp4: 9.0 / 16.0,
}
#: The GPU capability a KV precision needs (key into `GpuSpec.tflops`); INT8 KV works everywhere.
KV_NEEDS: dict[KvPrecision, str | None] = {
    KvPrecision.fp16: "fp16",
    KvPrecision.bf16: "bf16",
    KvPrecision.fp8: "fp8",
    KvPrecision.int8: None,
    KvPrecision.nvfp4: "fp4",
}
#: The default KV precision for each weight precision: quantized checkpoints in TensorRT-LLM
#: (FP8, NVFP4) set an FP8 KV cache; the 16-bit and weight-only modes keep a 16-bit cache.
DEFAULT_KV: dict[Precision, KvPrecision] = {
    Precision.fp16: KvPrecision.fp16,
    Precision.bf16: KvPrecision.bf16,
    Precision.fp8: KvPrecision.fp8,
    Precision.int8: KvPrecision.int8,
    Precision.int4: KvPrecision.fp16,
    Precision.nvfp4: KvPrecision.fp8,
    Precision.mxfp4: KvPrecision.fp16,
}


def compute_key(precision: Precision, tflops: dict[str, float], engine: str | None = None) -> str:
    """The peak (key into `GpuSpec.tflops`) a precision's matrix multiplies run at on a GPU with
    these peaks: its own, or the 16-bit one for a weight-only fallback of the engine
    (`WEIGHT_ONLY_FALLBACK`; any engine's when it is not given)."""
    key = COMPUTE_KEY[precision]
    fallback = WEIGHT_ONLY_FALLBACK.get(engine, ANY_WEIGHT_ONLY_FALLBACK) if engine else ANY_WEIGHT_ONLY_FALLBACK
    if key not in tflops and precision in fallback:
        return "bf16" if "bf16" in tflops else "fp16"
    return key


def parse_choice(enum: type[Enum], value: Any, field: str) -> Any:
    """Turn a string into an enum member, or raise a one-line error listing what is allowed."""
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise PlannerError(f"{field} {value!r} is not one of: {allowed}") from None


class GpuSpec(BaseModel):
    """One GPU model, read from `gpu_specs/<id>.yaml`. Figures are per GPU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    vendor: str
    architecture: str
    aliases: list[str] = []
    memory_gb_marketed: float = Field(gt=0, description="Memory on the box, as marketed (GB)")
    memory_gib: float = Field(gt=0, description="Memory the driver reports usable (GiB)")
    memory_bandwidth_tb_s: float = Field(gt=0, description="Peak memory bandwidth (TB/s)")
    tflops: dict[str, float] = Field(description="Dense peak tensor TFLOP/s per precision (fp16, bf16, fp8, int8, fp4); a missing key means the GPU lacks it")
    interconnect: str
    nvlink_domain_gpus: int = Field(ge=1, description="GPUs joined by the fast link")
    gpus_per_node: int = Field(ge=1, description="GPUs in one server (or rack domain)")
    gpus_per_host: int | None = Field(
        default=None,
        ge=1,
        description="GPUs one operating-system host (a Kubernetes node) holds where fewer than gpus_per_node: the compute trays of a rack-scale NVLink system",
    )
    multi_gpu_system: str | None = Field(
        default=None,
        description="Catalog id of the multi-GPU system this GPU also ships in, for a measured run that used more GPUs "
        "than one of its nodes holds (GH200: one superchip per node; DGX-GH200: up to 256 joined by NVLink)",
    )
    intra_node_bandwidth_gb_s: float = Field(gt=0, description="Fast-link bandwidth per GPU, one direction (GB/s)")
    pcie_bandwidth_gb_s: float = Field(gt=0, description="PCIe bandwidth per GPU, one direction (GB/s)")
    inter_node_bandwidth_gb_s: float = Field(gt=0, description="Network bandwidth per GPU between nodes (GB/s)")
    inter_node_latency_us: float = Field(ge=0, description="Network latency per message (µs)")
    tdp_w: float = Field(gt=0)
    sm_clock_max_mhz: float | None = Field(default=None, gt=0, description="Maximum (boost) SM clock; the calibration runner warns when the host differs")
    price_usd_per_hour: float | None = Field(default=None, ge=0, description="On-demand price per GPU-hour (USD)")
    price_source: str = ""
    price_date: str | None = None
    price_market: str | None = Field(
        default=None,
        description="The market the price is from: 'neocloud on-demand' (RunPod, Lambda and like clouds' list prices) or "
        "'hyperscaler on-demand (AWS us-east-1)'; prices from different markets do not compare",
    )
    sources: dict[str, str]

    @model_validator(mode="after")
    def _tflops_known(self) -> GpuSpec:
        unknown = set(self.tflops) - {"fp16", "bf16", "fp8", "int8", "fp4"}
        if unknown:
            raise ValueError(f"tflops has unknown precisions {sorted(unknown)}")
        if self.gpus_per_host is not None and self.gpus_per_host > self.gpus_per_node:
            raise ValueError(f"gpus_per_host {self.gpus_per_host} must be at most gpus_per_node {self.gpus_per_node}")
        return self

    def supports(self, precision: Precision, engine: str | None = None) -> bool:
        """Whether the GPU runs this precision's matrix multiplies (natively, or weight-only in
        the engine; in any engine when it is not given)."""
        return compute_key(precision, self.tflops, engine) in self.tflops

    def runs_natively(self, precision: Precision) -> bool:
        """Whether the GPU has tensor cores for the precision itself (not a weight-only fallback)."""
        return COMPUTE_KEY[precision] in self.tflops

    def peak_tflops(self, precision: Precision, engine: str | None = None) -> float:
        """Dense peak TFLOP/s for a precision in an engine; raises a user error when the GPU lacks it."""
        key = compute_key(precision, self.tflops, engine)
        if key not in self.tflops:
            allowed = ", ".join(p.value for p in Precision if self.supports(p, engine))
            others = sorted(e for e, f in WEIGHT_ONLY_FALLBACK.items() if precision in f and self.supports(precision, e))
            hint = f"; {', '.join(others)} runs it weight-only (16-bit math)" if others else ""
            where = f" with engine {engine}" if engine and others else ""
            raise PlannerError(f"precision {precision.value!r} is not supported on {self.id}{where} (no {key} tensor cores{hint}); allowed: {allowed}")
        return self.tflops[key]

    def across_servers_note(self, tp: int, attention_dp: int = 1) -> str | None:
        """A note where one pipeline stage's TP group (x attention DP) needs more GPUs than one
        server holds, so that its all-reduces (or all-to-alls) cross the network; None otherwise."""
        group = tp * attention_dp
        if group <= self.gpus_per_node:
            return None
        system = f"; {self.multi_gpu_system} joins its GPUs over NVLink" if self.multi_gpu_system else ""
        return (
            f"TP {tp}{f' x attention DP {attention_dp}' if attention_dp > 1 else ''} spans {math.ceil(group / self.gpus_per_node)} servers of "
            f"{self.gpus_per_node} {self.id}: every layer's {'all-to-all' if attention_dp > 1 else 'all-reduce'} crosses the network ({self.inter_node_bandwidth_gb_s:g} GB/s per GPU){system}"
        )

    def check_kv(self, kv: KvPrecision) -> None:
        need = KV_NEEDS[kv]
        if need is not None and need not in self.tflops:
            allowed = ", ".join(k.value for k in KvPrecision if KV_NEEDS[k] is None or KV_NEEDS[k] in self.tflops)
            raise PlannerError(f"kv precision {kv.value!r} is not supported on {self.id}; allowed: {allowed}")


class Parallelism(BaseModel):
    """How one model replica is split: tensor (TP), pipeline (PP), attention data (DP) and expert
    (EP) parallel. GPUs = tp x pp x attention_dp; a MoE layer's experts are spread over the
    tp x attention_dp GPUs of a stage as moe_tp x ep (EP: whole experts per GPU; moe_tp: every
    expert sliced). DEP-N (DeepSeek-style) is tp 1, attention_dp N, ep N."""

    model_config = ConfigDict(frozen=True)

    tp: int = Field(default=1, ge=1, le=1024, description="Tensor-parallel GPUs of each attention rank")
    pp: int = Field(default=1, ge=1, le=256, description="Pipeline stages")
    ep: int = Field(default=1, ge=1, le=1024, description="Expert-parallel GPUs: each holds 1/ep of the experts, whole (MoE only)")
    attention_dp: int = Field(
        default=1, ge=1, le=1024, description="Attention data-parallel ranks: each runs attention for its own requests with its own KV cache"
    )

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.attention_dp


#: Each engine's name for its memory fraction (`EngineSettings.free_gpu_memory_fraction`, `Estimate.memory_fraction`).
MEMORY_SETTING = {"trtllm": "free_gpu_memory_fraction", "vllm": "gpu_memory_utilization", "sglang": "mem_fraction_static"}


class EngineSettings(BaseModel):
    """Serving-engine limits and memory semantics (defaults follow each engine's documentation)."""

    model_config = ConfigDict(frozen=True)

    engine: Literal["trtllm", "vllm", "sglang"] = Field(default="trtllm", description="Serving engine")
    version: str | None = Field(
        default=None,
        description="Engine release the defaults are for (SGLang's memory fraction and prefill chunk changed in 0.5.3); "
        "None or a development build: the current release",
    )
    trtllm_backend: Literal["cpp", "pytorch"] | None = Field(
        default=None,
        description="TensorRT-LLM's runtime: the C++ runtime of TensorRT engines (cpp) or the PyTorch backend (pytorch); "
        "default: cpp before 1.0, pytorch from 1.0 (where it became the default of trtllm-bench and trtllm-serve)",
    )
    free_gpu_memory_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="KV-cache share: TensorRT-LLM, of memory free after loading (default 0.9); "
        "vLLM/SGLang, of total memory (gpu_memory_utilization, default 0.9)",
    )
    max_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=65536,
        description="Most sequences in one step (default: TensorRT-LLM as trtllm-bench builds it for the workload; vLLM / SGLang 1024)",
    )
    max_num_tokens: int | None = Field(
        default=None,
        ge=1,
        le=1048576,
        description="Most tokens (prefill + decode) in one step (default: TensorRT-LLM as trtllm-bench builds it; vLLM / SGLang 8192)",
    )
    tokens_per_block: int | None = Field(default=None, ge=1, le=1024, description="KV-cache block size (TRT-LLM 32, vLLM 16)")
    max_model_len: int | None = Field(
        default=None,
        ge=1,
        le=16_777_216,
        description="Longest sequence (prompt + output, tokens) the engine accepts: vLLM --max-model-len, SGLang --context-length, "
        "TensorRT-LLM max_seq_len (default: the model's context window). vLLM refuses to start when its KV cache cannot hold one "
        "sequence this long, and vLLM before 0.8 (the V0 engine) sizes its default step, and so its memory profile, by it",
    )
    sliding_window: bool | None = Field(
        default=None,
        description="Whether sliding-window layers attend to and keep only their window. Default: vLLM and "
        "SGLang yes; TensorRT-LLM no, as trtllm-bench leaves max_attention_window_size at the full "
        "length (its published Mistral-7B results at 20000/2000 tokens match Llama-3-8B's, which has the "
        "same KV size and no window)",
    )

    chunked_prefill: bool = Field(
        default=True,
        description="Split prompts longer than the step's token budget over several steps (vLLM V1 and SGLang do by "
        "default; TensorRT-LLM with enable_chunked_prefill). Off: a prompt runs whole or waits, and prompts "
        "longer than max_num_tokens are refused",
    )
    prefix_caching: bool = Field(
        default=True,
        description="Reuse KV blocks of prompt prefixes seen before (on by default in vLLM, SGLang and TensorRT-LLM's "
        "PyTorch backend, enable_block_reuse): a workload's shared prefix or cache-hit rate removes that prefill work",
    )

    @property
    def vllm_v0(self) -> bool:
        """vLLM releases before 0.8 ran the V0 engine by default (`VLLM_USE_V1` defaulted to 0), whose
        scheduler defaults and memory profile differ from V1's (`planner.engine_limits.vllm_v0_limits`)."""
        from .engine_limits import VLLM_V1_DEFAULT, release

        rel = release(self.version)
        return self.engine == "vllm" and rel is not None and rel < VLLM_V1_DEFAULT

    @property
    def trtllm_cpp(self) -> bool:
        """Whether this is TensorRT-LLM's C++ runtime (`trtllm_backend`, else by release: before 1.0)."""
        if self.engine != "trtllm":
            return False
        if self.trtllm_backend is not None:
            return self.trtllm_backend == "cpp"
        from .engine_limits import release

        rel = release(self.version)
        return rel is not None and rel < (1, 0, 0)

    @property
    def requests_per_micro_batch(self) -> bool:
        """Whether a request runs in one PP micro-batch at a time, each micro-batch with its own
        max_batch_size: TensorRT-LLM (a request in flight is not scheduled again until its
        micro-batch is done) and vLLM V0 (one scheduler per virtual engine, each with its own
        max_num_seqs and 1/PP of the KV blocks). vLLM V1 schedules every micro-batch from all
        running requests within one max_num_seqs; SGLang keeps a running batch per micro-batch of
        up to max_running_requests // PP, max_running_requests in all. Both put a prompt's
        consecutive chunks in consecutive micro-batches (vLLM advances `num_computed_tokens` when
        it schedules a chunk; SGLang's chunked pipeline parallelism). Every engine gives each
        micro-batch the whole max_num_tokens."""
        return self.engine == "trtllm" or self.vllm_v0

    @property
    def reserves_outputs(self) -> bool:
        """Whether a request is admitted only with KV reserved for its whole prompt and all its
        outputs (TensorRT-LLM's GUARANTEED_NO_EVICT); vLLM and SGLang admit against what it holds
        and preempt (vLLM) or retract (SGLang) a request when the cache runs out."""
        return self.engine == "trtllm"

    @property
    def preempts_when_full(self) -> bool:
        """Whether the engine admits a waiting prompt as soon as KV blocks are free, reserving nothing
        for outputs, and preempts the newest running request (its KV freed, its tokens computed again)
        when a decode finds no block: vLLM's scheduler (V1: running requests first, then waiting ones
        while blocks last; V0 likewise). SGLang reserves a share of the outputs to come before it
        admits (`SGLANG_NEW_TOKEN_RATIO`); TensorRT-LLM reserves all of them."""
        return self.engine == "vllm"

    @property
    def mixed_steps(self) -> bool:
        """Whether one step carries prompt chunks and decodes together (TensorRT-LLM, vLLM); SGLang
        (mixed chunking off by default) runs prefill-only and decode-only steps, prefill first."""
        return self.engine != "sglang"

    @classmethod
    def of(cls, engine: str | EngineSettings) -> EngineSettings:
        """Settings as given, or an engine name's defaults."""
        return engine if isinstance(engine, EngineSettings) else cls(engine=engine)

    @property
    def windows_applied(self) -> bool:
        return self.engine != "trtllm" if self.sliding_window is None else self.sliding_window

    def as_stored(self, model: ModelSpec) -> ModelSpec:
        """The model as this engine stores its KV cache: sliding-window layers keep only their
        window where the engine applies windows, else every layer keeps the whole sequence."""
        if not model.num_window_layers or self.windows_applied:
            return model
        return model.model_copy(update={"num_window_layers": 0, "sliding_window": None})

    def window_pool(self, model: ModelSpec) -> float | None:
        """How the engine keeps sliding-window layers' KV (`memory.kv_bytes_per_sequence`): None where
        what leaves a window goes back to its one pool (vLLM's hybrid KV cache manager; TensorRT-LLM
        where windows are applied, its per-window pools sized to the sequences it is set up for), else
        the tokens its window layers hold per token of a sequence: SGLang's pool of their own
        (`SGLANG_SWA_FULL_TOKENS_RATIO`) for the decoders it runs as hybrid SWA, 1 (the whole
        sequence, as the full layers) for every other model."""
        if self.engine != "sglang" or not model.num_window_layers:
            return None
        from .defaults import SGLANG_HYBRID_SWA_MODEL_TYPES, SGLANG_SWA_FULL_TOKENS_RATIO

        return SGLANG_SWA_FULL_TOKENS_RATIO if model.model_type in SGLANG_HYBRID_SWA_MODEL_TYPES else 1.0

    @property
    def kv_fraction(self) -> float:
        return 0.9 if self.free_gpu_memory_fraction is None else self.free_gpu_memory_fraction

    @property
    def block_tokens(self) -> int:
        if self.tokens_per_block is not None:
            return self.tokens_per_block
        return 32 if self.engine == "trtllm" else 16


class ModelSpec(BaseModel):
    """A decoder-only transformer, read from its Hugging Face `config.json`.

    Parameter counts are exact for the architectures listed in the README (embeddings, attention,
    MLP / MoE experts, routers, norms, biases, tied embeddings). Figures are for the whole model.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    model_type: str
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1, description="Query/key head dimension")
    v_head_dim: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    max_position_embeddings: int | None = None
    context_window: int | None = Field(
        default=None,
        description="Tokens of context the model supports: max_position_embeddings, or the RoPE-scaled length when the config scales an original window",
    )
    attention: Literal["mha", "gqa", "mqa", "mla"]
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    # MLP / MoE structure
    num_dense_layers: int = Field(ge=0)
    num_moe_layers: int = Field(ge=0)
    num_experts: int = 0
    experts_per_token: int = 0
    # sliding-window / chunked attention
    sliding_window: int | None = None
    num_window_layers: int = 0
    # full-attention layers shaped unlike the others (Gemma 4: wider heads, fewer KV heads, keys as values)
    num_global_layers: int = Field(default=0, ge=0, description="Layers whose attention has its own shape (global_* fields); 0: every layer alike")
    global_head_dim: int = Field(default=0, ge=0, description="Key / value head dimension of those layers")
    global_kv_heads: int = Field(default=0, ge=0, description="KV heads of those layers")
    params_global_attention_per_layer: int = Field(default=0, ge=0, description="Attention weights of one of those layers")
    # hybrid models: Gated DeltaNet ("linear attention") layers keep a fixed-size state per sequence, no KV
    num_linear_layers: int = Field(default=0, ge=0, description="Layers with linear attention (Gated DeltaNet) instead of full attention")
    params_linear_attention_per_layer: int = Field(default=0, ge=0)
    linear_value_heads: int = Field(default=0, ge=0, description="Value heads of a linear-attention layer (its state splits over TP by them)")
    linear_state_elements_per_layer: int = Field(
        default=0, ge=0, description="Recurrent state of one sequence in one linear layer: value heads x key dim x value dim"
    )
    linear_conv_elements_per_layer: int = Field(default=0, ge=0, description="Causal-conv state of one sequence in one linear layer (16-bit)")
    linear_state_bytes: float = Field(
        default=4.0, gt=0, le=8, description="Bytes per recurrent-state element (mamba_ssm_dtype; float32 unless the config says otherwise)"
    )
    # DeepSeek Sparse Attention: attention over the index_topk tokens a lightning indexer picks per query
    index_topk: int = Field(default=0, ge=0, description="Tokens each query attends to (0: all of its context)")
    index_n_heads: int = Field(default=0, ge=0, description="Lightning-indexer query heads (scores every cached token)")
    index_head_dim: int = Field(default=0, ge=0)
    params_indexer_per_layer: int = Field(
        default=0, ge=0, description="Lightning-indexer weights of one layer (inside params_attention_per_layer; replicated on every GPU of a TP group)"
    )
    # parameter counts
    params_embedding: int
    params_lm_head: int
    params_attention_per_layer: int
    params_dense_mlp_per_layer: int
    params_expert: int = Field(description="One routed expert of one layer")
    params_shared_per_moe_layer: int
    params_router_per_moe_layer: int
    params_norms: int = Field(description="All norm weights and biases, all layers plus the final norm")
    params_vision_encoder: int = Field(
        default=0,
        ge=0,
        description="A multimodal checkpoint's vision encoder and projector (from vision_config): loaded at 16 bits with the decoder, "
        "held by the first pipeline stage, no part of a decode step",
    )
    quantization: str | None = Field(default=None, description="quant_algo / quant_method of the checkpoint, if any")
    checkpoint_precision: Precision | None = Field(
        default=None, description="Precision the checkpoint's linear weights ship in, from quantization_config (None: a 16-bit checkpoint)"
    )
    checkpoint_kv_precision: KvPrecision | None = Field(
        default=None, description="KV-cache precision the checkpoint was calibrated for (ModelOpt kv_cache_quant_algo)"
    )
    unquantized: list[Literal["attention", "dense_mlp", "experts", "shared_experts"]] = Field(
        default=[], description="Decoder parts the quantized checkpoint keeps at 16 bits (modules_to_not_convert / ignore / exclude_modules)"
    )

    # ---- derived figures -------------------------------------------------
    @property
    def search_precisions(self) -> list[Precision]:
        """The precisions a search or sweep considers unless told: a quantized checkpoint's own
        (planning it at another would need another checkpoint), else every one but MXFP4."""
        return [self.checkpoint_precision] if self.checkpoint_precision else list(SEARCH_PRECISIONS)

    @property
    def is_moe(self) -> bool:
        return self.num_moe_layers > 0

    def part_weight_bytes(self, precision: Precision) -> dict[str, float]:
        """Bytes per weight of each part of the decoder layers (`WEIGHT_PARTS`) at `precision`: the
        parts the checkpoint leaves unquantized stay at 16 bits when it runs at its own precision."""
        keep = set(self.unquantized) if precision == self.checkpoint_precision else set()
        return {part: 2.0 if part in keep else WEIGHT_BYTES[precision] for part in WEIGHT_PARTS}

    @property
    def num_kv_layers(self) -> int:
        """Layers that keep a KV cache (full or windowed attention; not the linear-attention ones)."""
        return self.num_layers - self.num_linear_layers

    @property
    def kv_layer_fraction(self) -> float:
        return self.num_kv_layers / self.num_layers

    def replicated_indexer_params(self, tp) -> object:
        """Indexer weights each GPU holds beyond its 1/TP share of the attention weights (the
        indexer is replicated, not split): layers x indexer x (1 - 1/TP)."""
        return self.num_layers * self.params_indexer_per_layer * (1.0 - 1.0 / np.asarray(tp, dtype=float))

    @property
    def params_attention(self) -> int:
        """Attention weights of all layers: full attention (the global layers' own shape where they
        have one), and the linear-attention layers' own."""
        regular = self.num_kv_layers - self.num_global_layers
        return (
            regular * self.params_attention_per_layer
            + self.num_global_layers * self.params_global_attention_per_layer
            + self.num_linear_layers * self.params_linear_attention_per_layer
        )

    def linear_state_bytes_per_sequence(self, tp: int = 1) -> float:
        """Bytes of one sequence's linear-attention state (recurrent state and conv inputs) on one
        GPU of a TP group, every linear layer (the state splits over TP by value heads)."""
        if not self.num_linear_layers:
            return 0.0
        share = math.ceil(self.linear_value_heads / tp) / self.linear_value_heads
        return self.num_linear_layers * share * (self.linear_state_elements_per_layer * self.linear_state_bytes + self.linear_conv_elements_per_layer * 2.0)

    @property
    def params_layers_linear(self) -> int:
        """Weights of every linear layer inside the decoder layers (quantizable)."""
        return (
            self.params_attention
            + self.num_dense_layers * self.params_dense_mlp_per_layer
            + self.num_moe_layers * (self.num_experts * self.params_expert + self.params_shared_per_moe_layer)
        )

    @property
    def params_high_precision(self) -> int:
        """Weights kept at 16 bits in every mode: embeddings, LM head, routers, norms, a vision encoder."""
        return (
            self.params_embedding
            + self.params_lm_head
            + self.num_moe_layers * self.params_router_per_moe_layer
            + self.params_norms
            + self.params_vision_encoder
        )

    @property
    def params_total(self) -> int:
        return self.params_layers_linear + self.params_high_precision

    @property
    def params_active(self) -> int:
        """Parameters used per text token (routed experts counted top-k of E; embeddings included, a vision encoder not)."""
        idle = self.num_moe_layers * (self.num_experts - self.experts_per_token) * self.params_expert
        return self.params_total - idle - self.params_vision_encoder

    @property
    def flop_params_per_token(self) -> int:
        """Matmul weights a token passes through in the decoder layers (2 FLOPs each)."""
        return (
            self.params_attention
            + self.num_dense_layers * self.params_dense_mlp_per_layer
            + self.num_moe_layers * (self.experts_per_token * self.params_expert + self.params_shared_per_moe_layer + self.params_router_per_moe_layer)
        )

    @property
    def kv_elements_per_token_layer(self) -> int:
        """KV-cache elements one token stores in one layer (whole model, all heads; a layer of the
        common shape where the global layers have their own)."""
        if self.attention == "mla":
            return self.kv_lora_rank + self.qk_rope_head_dim
        return self.num_kv_heads * (self.head_dim + self.v_head_dim)

    @property
    def global_kv_elements_per_token_layer(self) -> int:
        """KV-cache elements one token stores in one global layer: K and V of its own heads (the
        engines cache V even where the checkpoint takes keys as values, `attention_k_eq_v`)."""
        return self.global_kv_heads * 2 * self.global_head_dim if self.num_global_layers else self.kv_elements_per_token_layer

    @property
    def indexer_bytes_per_token_layer(self) -> float:
        """Bytes of one token's lightning-indexer key in one layer: FP8 with a float32 scale per 128
        values, whatever the KV precision (0 without sparse attention)."""
        return float(self.index_head_dim + 4 * math.ceil(self.index_head_dim / 128)) if self.index_topk else 0.0

    def kv_bytes_per_token_layer(self, kv_bytes):
        """KV-cache bytes of one token in one layer holding it, whole model (`kv_bytes` a number or
        an array). Sparse MLA with an FP8 cache stores FlashMLA's layout (vLLM's `fp8_ds_mla`): the
        latent in FP8 with a float32 scale per 128 values and the rope part in 16 bits (656 B for
        DeepSeek-V3.2), beside the indexer's key."""
        kv_bytes = np.asarray(kv_bytes, dtype=float)
        plain = self.kv_elements_per_token_layer * kv_bytes
        if self.attention == "mla" and self.index_topk:
            fp8 = self.kv_lora_rank + 4 * math.ceil(self.kv_lora_rank / 128) + 2 * self.qk_rope_head_dim
            plain = np.where(kv_bytes == 1.0, fp8, plain)
        return plain + self.indexer_bytes_per_token_layer

    def kv_bytes_per_token(self, kv_bytes: float) -> float:
        """KV-cache bytes per token of context, whole model, every layer holding it (with the
        lightning indexer's keys under sparse attention, and the global layers' own shape)."""
        regular = self.num_kv_layers - self.num_global_layers
        return float(regular * self.kv_bytes_per_token_layer(kv_bytes) + self.num_global_layers * self.global_kv_elements_per_token_layer * kv_bytes)

    def kv_bytes_formula(self, kv_bytes: float) -> str:
        """`kv_bytes_per_token` written out with this model's numbers, for people to check."""
        if self.attention == "mla":
            terms = f"(kv_lora_rank {self.kv_lora_rank} + rope dim {self.qk_rope_head_dim})"
        else:
            terms = f"{self.num_kv_heads} KV heads x (K {self.head_dim} + V {self.v_head_dim})"
        layers = f"{self.num_kv_layers} full-attention layers (of {self.num_layers})" if self.num_linear_layers else f"{self.num_layers} layers"
        if self.num_global_layers:
            regular = self.num_kv_layers - self.num_global_layers
            return (
                f"{regular} layers x {terms} + {self.num_global_layers} global layers x {self.global_kv_heads} KV heads x "
                f"(K {self.global_head_dim} + V {self.global_head_dim}), x {kv_bytes:g} B = {self.kv_bytes_per_token(kv_bytes):,.0f} B per token"
            )
        if self.index_topk:
            latent = float(self.kv_bytes_per_token_layer(kv_bytes)) - self.indexer_bytes_per_token_layer
            terms = f"({terms} at {kv_bytes:g} B = {latent:g} B" + (", FP8 latent with scales and a 16-bit rope part" if kv_bytes == 1.0 else "")
            terms += f" + indexer key {self.indexer_bytes_per_token_layer:g} B)"
            return f"{layers} x {terms} = {self.kv_bytes_per_token(kv_bytes):,.0f} B per token"
        return f"{layers} x {terms} x {kv_bytes:g} B = {self.kv_bytes_per_token(kv_bytes):,.0f} B per token"

    def kv_heads_per_gpu(self, tp: int) -> int:
        """KV heads each GPU stores: heads split by TP, replicated when TP exceeds them."""
        return math.ceil(self.num_kv_heads / tp)

    def check_max_model_len(self, max_model_len, request_tokens: int) -> None:
        """Refuse a `max_model_len` that is not a whole number of tokens from the requests' ISL + OSL
        (the engine would reject them) to the model's context window."""
        longest = self.context_window or 16_777_216
        if not isinstance(max_model_len, int) or isinstance(max_model_len, bool) or not request_tokens <= max_model_len <= longest:
            shown = f"{max_model_len:,}" if isinstance(max_model_len, int) else repr(max_model_len)
            raise PlannerError(
                f"max_model_len {shown}: must be a whole number of tokens from {request_tokens:,} (the requests' ISL + OSL) "
                f"to {longest:,} ({self.id}'s context window)"
            )

    def splits(self, tps, pps) -> list[tuple[int, int]]:
        """The (TP, PP) pairs of `tps` x `pps` this model's shape allows (`check_parallelism`); when
        none is, the user error of the first one refused."""
        ok, first = [], None
        for tp, pp in itertools.product(tps, pps):
            try:
                self.check_parallelism(Parallelism(tp=int(tp), pp=int(pp)))
            except ValidationError as exc:
                first = first or PlannerError(validation_line(exc))
            except PlannerError as exc:
                first = first or exc
            else:
                ok.append((int(tp), int(pp)))
        if not ok and first is not None:
            raise first
        return ok

    def check_parallelism(self, par: Parallelism) -> None:
        """Raise a user error when a TP/PP/EP split does not fit this model's shape."""
        if self.num_heads % par.tp:
            divisors = [d for d in range(1, self.num_heads + 1) if self.num_heads % d == 0 and d <= 64]
            raise PlannerError(f"tp {par.tp} does not divide the {self.num_heads} attention heads of {self.id}; allowed tp: {', '.join(map(str, divisors))}")
        if par.tp > self.num_kv_heads and par.tp % self.num_kv_heads and self.attention != "mla":
            raise PlannerError(f"tp {par.tp} is neither a divisor nor a multiple of the {self.num_kv_heads} KV heads of {self.id}")
        if self.num_global_layers and par.tp > self.global_kv_heads and par.tp % self.global_kv_heads:
            raise PlannerError(f"tp {par.tp} is neither a divisor nor a multiple of the {self.global_kv_heads} KV heads of {self.id}'s global layers")
        if par.pp > self.num_layers:
            raise PlannerError(f"pp {par.pp} exceeds the {self.num_layers} layers of {self.id}; allowed pp: 1..{self.num_layers}")
        group = par.tp * par.attention_dp
        if par.ep > 1:
            if not self.is_moe:
                raise PlannerError(f"ep {par.ep} needs a mixture-of-experts model; {self.id} is dense (use ep 1)")
            if group % par.ep or self.num_experts % par.ep:
                raise PlannerError(
                    f"ep {par.ep} must divide both tp x attention_dp = {group} (the GPUs a MoE layer spans) and the {self.num_experts} experts of {self.id}"
                )
        if par.attention_dp > 1 and not self.is_moe:
            raise PlannerError(f"attention_dp {par.attention_dp} needs a mixture-of-experts model; for {self.id} run {par.attention_dp} replicas instead")


def resolve_precision(model: ModelSpec, precision: str | Precision | None) -> tuple[Precision, str, list[str]]:
    """The precision to plan `model` at: (precision, where it came from, warnings).

    Without one asked for, a quantized checkpoint runs at its own precision and a 16-bit one at
    FP16; a quantized checkpoint whose scheme has no planner precision is an error that asks for
    one by name. Asking for another precision than the checkpoint's works, with a warning that
    it needs a different checkpoint (a 16-bit copy, or a re-quantized one).
    """
    own = model.checkpoint_precision
    if precision in (None, ""):
        if own is not None:
            return own, f"the checkpoint's own ({model.quantization})", []
        if model.quantization:
            allowed = ", ".join(p.value for p in Precision)
            raise PlannerError(
                f"{model.id} ships quantized weights ({model.quantization}) that the planner cannot map to a precision; pass precision (one of: {allowed})"
            )
        return Precision.fp16, "16-bit checkpoint (fp16 by default)", []
    prec = parse_choice(Precision, precision, "precision")
    warnings = []
    if own is not None and prec != own:
        kind = "a 16-bit copy of the weights" if WEIGHT_BYTES[prec] > WEIGHT_BYTES[own] else f"a checkpoint re-quantized to {prec.value}"
        warnings.append(f"{model.id} ships {own.value} weights ({model.quantization}); planning it at {prec.value} assumes {kind}")
    return prec, "asked for", warnings


def default_kv(model: ModelSpec, precision: Precision) -> KvPrecision:
    """KV precision when none is asked for: the checkpoint's own at its own precision, else
    `DEFAULT_KV` (FP8 with FP8 / NVFP4 weights). vLLM and SGLang started without flags keep a
    16-bit cache (`kv_cache_dtype=auto`); the AIConfigurator sweeps of FP8 models on those engines
    only fit their measured concurrency with an FP8 cache, which is the deployment planned here."""
    if precision == model.checkpoint_precision and model.checkpoint_kv_precision is not None:
        return model.checkpoint_kv_precision
    return DEFAULT_KV[precision]
