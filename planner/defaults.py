"""Default efficiencies and overheads of the analytic model: every tunable constant in one place.

They are the same for every model and GPU (one value per precision where the hardware differs),
chosen from public measurements of kernels and engines, and checked against
`../shared/data/measured/` by `bench/accuracy.py`. Calibration (`planner.calibration`)
replaces them with values fitted per GPU x engine x precision.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Efficiencies(BaseModel):
    """The few physically meaningful parameters of the step-time model.

    A step's time is `combine(t_compute, t_memory) + t_comm + t_overhead`, where
    `t_compute = FLOPs / (peak x eta_compute)` and `t_memory = bytes / (bandwidth x eta_memory)`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    eta_compute: dict[str, float] = Field(
        default={"fp16": 0.60, "bf16": 0.60, "fp8": 0.51, "int8": 0.51, "fp4": 0.41},
        description="Achieved / peak tensor throughput of large GEMMs per compute precision. "
        "cuBLAS/TRT GEMMs reach ~70-80% of dense peak at large shapes on Hopper in 16 bit, less in "
        "FP8/FP4 where the peak doubles but the epilogue and quantisation work do not shrink; a whole "
        "layer (attention, norms, activation kernels) runs lower than its best GEMM. The values are "
        "round numbers checked against the v0.13 offline data (one per precision, not per model or GPU).",
    )
    eta_memory: float = Field(
        default=0.80,
        gt=0,
        le=1,
        description="Achieved / peak HBM bandwidth of weight and KV streaming (stream benchmarks reach 85-92%; decode kernels on real models ~75-85%).",
    )
    eta_kv: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Achieved / peak HBM bandwidth of attention reading the paged KV cache; None: the same as "
        "eta_memory (the measured data do not separate the two)",
    )
    eta_comm: float = Field(default=0.70, gt=0, le=1, description="Achieved / peak link bandwidth of all-reduce")
    overlap_exponent: float = Field(
        default=1.0,
        ge=1,
        le=50,
        description="How compute and memory time of one kind of kernel combine: (t_c^n + t_m^n)^(1/n). n=1 is no "
        "overlap (sum), large n the ideal roofline max. Chosen from the measured data: on TensorRT-LLM "
        "v0.13's offline results n=1 gives median / p90 errors of 10.3% / 32.9%, n=2 11.4% / 48.2%, n=4 "
        "13.0% / 55.2% (`python bench/accuracy.py --file trtllm_v0.13_offline.csv --set overlap_exponent=2`); "
        "offline batches sit near the ridge point, where GEMMs overlap poorly.",
    )
    step_overhead_ms: float = Field(
        default=0.35,
        ge=0,
        description="Fixed time per engine step: scheduling, sampling, kernel launches not hidden by CUDA graphs (ms)",
    )
    seq_overhead_us: float = Field(
        default=5.0,
        ge=0,
        description="Fixed time per sequence per step (µs): logits, sampling and the runtime's per-request bookkeeping. "
        "Checked on v0.13: 5 µs lowers the p90 error from 36.6% to 32.9% at about the same median "
        "(10.2% -> 10.3%; large TP8 batches were over-predicted without it); 10 µs gives 12.6% / 31.2% "
        "(`bench/accuracy.py --set seq_overhead_us=0`).",
    )
    layer_overhead_us: float = Field(
        default=6.0,
        ge=0,
        description="Fixed time per decoder layer per step: the launch / tail latency of its ~10 kernels (µs)",
    )
    allreduce_latency_us: dict[str, float] = Field(
        default={"nvlink": 25.0, "pcie": 50.0, "network": 60.0},
        description="Fixed cost of one all-reduce by link kind (µs), including the launch and the synchronisation "
        "around it: a custom one-shot NVLink all-reduce alone takes ~5-10 µs; 25 µs is a round value chosen "
        "by comparing the per-TP errors of `bench/accuracy.py` on TensorRT-LLM v0.13's TP 2-8 results. NCCL "
        "over PCIe or the network is slower.",
    )

    moe_layer_overhead_us: float = Field(
        default=20.0,
        ge=0,
        description="Fixed time per MoE layer per step (µs), on top of layer_overhead_us: the router's top-k, the "
        "permutation of tokens to their experts and the finalize that weights and sums them back, ~4 kernels "
        "(TensorRT-LLM's; vLLM and SGLang have their own, ENGINE_EFFICIENCIES). "
        "Compared on all files with `bench/accuracy.py --set moe_layer_overhead_us=N` (N for every engine): 0 -> 20 -> 30 µs "
        "moves AIConfigurator's ITL median 20.0% -> 16.1% -> 14.5%, v1.0 offline 18.1% -> 18.2% -> 18.0% (p90 44.0% -> "
        "42.3% -> 42.6%), v0.13 offline 10.3% -> 10.5% -> 10.6% (its Mixtral rows 8.1% -> 9.0% -> 9.5%). Copying the "
        "routed hidden states (4 x top-k x hidden x 2 bytes per token) as memory traffic made v1.0 worse "
        "(18.2% -> 19.9%, Qwen3-235B 16% -> 29%): the engines quantize before they permute, and that term is left out.",
    )

    @field_validator("eta_compute")
    @classmethod
    def _fractions(cls, eta: dict[str, float]) -> dict[str, float]:
        for key, value in eta.items():
            if not (math.isfinite(value) and 0 < value <= 1):
                raise ValueError(f"eta_compute[{key!r}] = {value!r} must be a fraction of the peak in (0, 1]")
        return eta

    @property
    def kv_memory(self) -> float:
        """Efficiency of KV-cache reads (`eta_kv`, or `eta_memory` when not set)."""
        return self.eta_memory if self.eta_kv is None else self.eta_kv


#: TensorRT-LLM runtime overhead on each GPU, outside weights, activations and KV cache:
#: CUDA context and cuBLAS / TensorRT workspaces (GiB).
RUNTIME_OVERHEAD_GIB = 1.0
#: Extra per-GPU memory for NCCL buffers and the custom all-reduce workspace when the replica spans GPUs (TP, PP or attention DP > 1; GiB).
COMM_BUFFER_GIB = 0.5
#: Activation workspace per token of `max_num_tokens`, in units of hidden-size elements of 16 bits,
#: besides the MLP's intermediate tensors (which are counted separately): residual, norm output,
#: QKV, attention output and projections, kept alive at once by the engine's memory planner.
ACTIVATION_HIDDEN_MULTIPLE = 8
#: TensorRT-LLM's C++ runtime (TensorRT engines; the default before 1.0) allocates its decoder
#: ("Allocated X GB GPU memory for decoder") per sequence slot of `max_batch_size`, on every rank,
#: over the full vocabulary: the decoding workspace's runtime logits and the top-K sampling
#: workspace's log-probs (`getTopKWorkspaceSizes`: the largest of the sampling layers' shared
#: workspace, AIR top-P's being a fraction of it), both in the engine's logits type, and the
#: DecoderState's embedding bias in the same type (`decoderState.cpp`): 3 x 4 bytes per entry with
#: FP32 logits (taken as the engines' type; not confirmed from trtllm-build's default here: FP16
#: logits would halve it).
TRTLLM_CPP_DECODER_BYTES_PER_LOGIT = 12.0
#: ... and over `max_seq_len`: output ids, parent ids, log-probs and tiled log-probs, 4 bytes each.
TRTLLM_CPP_DECODER_BYTES_PER_TOKEN = 16.0
#: ... and top-K's candidates: 8 blocks x 1,024 (TOP_K_MAX) x (int32 id + FP32 value) per sequence.
TRTLLM_CPP_TOPK_SCRATCH_BYTES = 8 * 1024 * 8
#: vLLM (V1) measures its activation peak with a profiling forward of `max_num_batched_tokens`
#: and a dummy sampler run over `max_num_seqs` rows of full-vocabulary FP32 logits (top-k/top-p
#: sorting, penalties, log-probs: several FP32 and int64 copies of the logits at once), and
#: reserves the larger. Bytes per logit element at that peak: the three llm-d start-ups on H100
#: with 1,024 sequences log a peak of 38.4-38.9 B x sequences x vocabulary (Llama-3.1-8B,
#: Qwen3-0.6B, gpt-oss; vocabularies 128k-201k), `bench/engine_memory.py`.
VLLM_SAMPLER_BYTES_PER_LOGIT = 38.5
#: Memory vLLM counts outside PyTorch's allocator in its profile (cuBLAS / NCCL workspaces, GiB):
#: 0.13 logged at TP 1; 0.54 at TP 2 (custom all-reduce and NCCL buffers). vLLM leaves the CUDA
#: context and CUDA graphs to the (1 - gpu_memory_utilization) headroom.
VLLM_NON_TORCH_GIB = 0.13
VLLM_COMM_GIB = 0.4
#: vLLM's scheduler defaults (OpenAI server, `vllm/engine/arg_utils.py`, vLLM PR #17885): 1024
#: sequences and 8192 batched tokens per step on GPUs of at least 70 GiB other than the A100, else
#: 256 and 2048 (`planner.engine_limits`; SGLang is modelled alike).
VLLM_MAX_NUM_SEQS = 1024
VLLM_MAX_BATCHED_TOKENS = 8192
VLLM_SMALL_GPU_MAX_NUM_SEQS = 256
VLLM_SMALL_GPU_MAX_BATCHED_TOKENS = 2048
#: vLLM V0's defaults (releases before 0.8, `vllm/engine/arg_utils.py` and `vllm/config.py` of
#: 0.6.4-0.7.3): 256 sequences; chunked prefill on by default above a 32K `max_model_len`, with
#: steps of 512 tokens before 0.6.5 and 2048 from it (`planner.engine_limits.vllm_v0_limits`).
VLLM_V0_MAX_NUM_SEQS = 256
VLLM_V0_LONG_CONTEXT = 32768
VLLM_V0_OLD_CHUNK = 512
VLLM_V0_CHUNK = 2048
#: SGLang's defaults for reserving future output tokens at admission (`schedule_policy.py`,
#: `environ.py`): start at SGLANG_INIT_NEW_TOKEN_RATIO 0.7 of the remaining outputs, decay over
#: SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS 600 decode steps to 0.7 x SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR 0.14.
SGLANG_NEW_TOKEN_RATIO = (0.7, 0.7 * 0.14, (0.7 - 0.7 * 0.14) / 600)
#: After a retraction SGLang sets the ratio to what the surviving requests show: (their decoded
#: tokens + SGLANG_RETRACT_DECODE_STEPS x their count) / (their max_new_tokens + 1), at most 1
#: (`estimate_new_token_ratio_after_retract`); back to the initial 0.7 only when the scheduler idles.
SGLANG_RETRACT_DECODE_STEPS = 20
#: SGLang's split of the KV budget for hybrid linear-attention models (`mamba_full_memory_ratio`,
#: server_args default 0.9): the state slots get ratio / (1 + ratio) of it, the full-attention KV
#: pool the rest (`model_runner.py`, "mamba_budget = total_rest_memory * ratio / (1 + ratio)").
#: vLLM's hybrid cache manager draws states and KV blocks from one pool; TensorRT-LLM is modelled
#: alike (its Python Mamba cache manager allocates max_batch_size states up front instead).
SGLANG_MAMBA_FULL_MEMORY_RATIO = 0.9
#: SGLang keeps sliding-window (and chunked-attention) layers' KV in a pool of their own only for
#: the decoders it runs as hybrid SWA (`is_hybrid_swa_model`, sglang/srt/configs/model_config.py:
#: Llama 4, gpt-oss, Gemma 4; MiMo-V2 and Step-3.5, which the planner does not read): by our
#: `model_type`. Every other windowed model (Gemma 2 and 3, Mistral, Phi-3, Qwen2 with windows) keeps
#: every layer's whole sequence; attention still looks at the window only.
SGLANG_HYBRID_SWA_MODEL_TYPES = ("gpt_oss", "llama4_text", "gemma4_text")
#: ... and that pool holds `swa_full_tokens_ratio` (server_args default 0.8) tokens per token of the
#: full-attention pool, the KV budget split so (`set_num_tokens_hybrid_swa`): a token of a sequence
#: costs the full layers' bytes plus 0.8 x the window layers'.
SGLANG_SWA_FULL_TOKENS_RATIO = 0.8
#: Uncertainty of an uncalibrated (analytic) estimate, in percent, per model class
#: (`model_class`): the largest p90 absolute percentage error of that class's throughput and ITL
#: predictions over the files of `../shared/data/measured/` (`python bench/accuracy.py` prints them
#: "by model_class"), rounded up to the next 5. Dense: 36.1 % (v0.14 online tokens/s; v0.13
#: offline 33.3 %, AIConfigurator ITL 34.8 %); mixture of experts: 54.9 % (v1.0 offline tokens/s,
#: whose MoE rows' parallelism the table leaves ambiguous; AIConfigurator ITL 39.5 %); MoE with
#: attention data parallelism: 46.5 % (AIConfigurator ITL, the only file with such rows). TTFT
#: under load has its own band (`TTFT_UNCERTAINTY_PCT_BY_ARRIVALS`).
ANALYTIC_UNCERTAINTY_PCT_BY_CLASS = {"dense": 40.0, "moe": 55.0, "moe, attention DP": 50.0}
#: Uncertainty of a TTFT under load, in percent, by how the requests arrive: the p90 absolute
#: percentage error of the TTFT predictions over the measured files, uncalibrated or with the
#: shipped profiles (calibration does not fit TTFT), rounded up to the next 5 (`python
#: bench/accuracy.py` and `--profiles shipped`, "ttft_ms: overall"). Open-loop arrivals (a request
#: rate or a replayed log): 28.3 % (v0.14 online, Poisson arrivals, shipped profiles; 26.0 %
#: uncalibrated). Closed-loop clients (a concurrency): 167.4 % (AIConfigurator, shipped profiles;
#: 128.2 % uncalibrated), where the TTFT is mostly how the clients queue behind each other's
#: prompts. It was 130.3 % with the shipped profiles (band ±135 %) until calibration fitted
#: closed-loop rows with the clients in groups and waves, as the simulation runs them: fitting
#: SGLang's ITL that way lowers its compute efficiency, which slows its prefill (SGLang TTFT p90
#: 266.9 % -> 474.2 %, its ITL median 13.1 % -> 8.2 %); 176.8 % (band ±180 %) until a profile's
#: parameters carried over to models it was not fitted on only as far as the prior's width
#: (`profiles.PRIOR_WIDTH_LOG`). No measured file has the TTFT of an offline queued burst, so it
#: states none.
TTFT_UNCERTAINTY_PCT_BY_ARRIVALS = {"open-loop arrivals": 30.0, "closed-loop clients": 170.0}
#: How an operating point's requests arrive.
ARRIVALS = {"rate": "open-loop arrivals", "trace": "open-loop arrivals", "concurrency": "closed-loop clients"}


def model_class(is_moe: bool, attention_dp: float = 1) -> str:
    """The class a deployment's analytic uncertainty is stated for: "dense", "moe" or "moe, attention DP"."""
    if not is_moe:
        return "dense"
    return "moe, attention DP" if attention_dp and attention_dp > 1 else "moe"


def ttft_uncertainty_pct(operating_point: str) -> float | None:
    """Uncertainty (percent) of the TTFT at an operating point ("rate", "trace", "concurrency"; None
    for "offline", whose queued-burst TTFT no measurement covers)."""
    arrivals = ARRIVALS.get(operating_point)
    return TTFT_UNCERTAINTY_PCT_BY_ARRIVALS[arrivals] if arrivals else None


def analytic_uncertainty_pct(is_moe: bool, attention_dp: float = 1) -> float:
    """Uncertainty (percent) of an uncalibrated estimate of a deployment of this class."""
    return ANALYTIC_UNCERTAINTY_PCT_BY_CLASS[model_class(is_moe, attention_dp)]


DEFAULT_EFFICIENCIES = Efficiencies()

#: The defaults that differ by engine, over `DEFAULT_EFFICIENCIES` (TensorRT-LLM's). vLLM and SGLang
#: run a MoE layer as Triton fused-MoE kernels with routing in separate kernels (top-k softmax, the
#: sort of tokens by expert, the two expert GEMMs, the activation, the weighted sum), where
#: TensorRT-LLM fuses routing and epilogues; their fixed time per MoE layer is longer. The values
#: are round numbers checked against AIConfigurator's ITL (`python bench/accuracy.py --file
#: aiconfigurator_silicon_agg.csv --set moe_layer_overhead_us=N`, "by engine x model_class", MoE rows
#: without attention DP, median / p90 at N = 20, 30, 40, 50, 60 µs): vLLM (879 rows) 16.3/37.8,
#: 12.9/33.8, 11.8/32.0, 13.5/30.9, 14.6/35.7 -> 40; SGLang (778) 21.6/45.7, 19.7/43.6, 17.5/41.7,
#: 15.7/40.8, 14.6/42.0 -> 50; TensorRT-LLM (542) 19.7/45.0, 20.6/55.2, 21.2/65.4, ... -> keeps 20.
ENGINE_EFFICIENCIES: dict[str, dict[str, float]] = {"trtllm": {}, "vllm": {"moe_layer_overhead_us": 40.0}, "sglang": {"moe_layer_overhead_us": 50.0}}


@lru_cache(maxsize=8)
def default_efficiencies(engine: str = "trtllm") -> Efficiencies:
    """The analytic defaults for an engine (`DEFAULT_EFFICIENCIES` with `ENGINE_EFFICIENCIES[engine]`)."""
    changes = ENGINE_EFFICIENCIES.get(engine, {})
    return DEFAULT_EFFICIENCIES.model_copy(update=changes) if changes else DEFAULT_EFFICIENCIES
