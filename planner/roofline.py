"""Step-time model: the time of one engine step (prefill tokens plus decode sequences).

Speed of light first, efficiency second: FLOPs and bytes of the step are counted exactly from the
model's shape, then divided by peak x efficiency (`planner.defaults.Efficiencies`, or fitted
values from calibration). Pure numpy: every argument but the model broadcasts.

A step runs `prefill_tokens` new prompt tokens (from `prefill_seqs` sequences, at an average
context position `prefill_context`) and `decode_seqs` sequences generating one token each at an
average context `decode_context`. Times are seconds for the whole replica to finish the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .defaults import DEFAULT_EFFICIENCIES, Efficiencies
from .memory import kv_bytes_per_token_per_gpu, layers_per_stage
from .specs import ACT_BYTES, COMPUTE_KEY, GpuSpec, ModelSpec, Precision


@dataclass(frozen=True)
class Hardware:
    """GPU figures as arrays (one entry per configuration), ready to broadcast."""

    peak_flops: np.ndarray  # FLOP/s, dense tensor peak at the compute precision
    mem_bw: np.ndarray  # bytes/s
    link_bw: np.ndarray  # bytes/s per GPU, one direction, of the link the TP group uses
    link_kind: np.ndarray  # 0 nvlink, 1 pcie, 2 network
    pp_bw: np.ndarray  # bytes/s of the link between pipeline stages
    # the fitted efficiencies, per configuration (a profile applies to one GPU x precision)
    eta_compute: np.ndarray
    eta_memory: np.ndarray
    eta_kv: np.ndarray
    eta_comm: np.ndarray
    step_overhead_s: np.ndarray


LINK_KINDS = ("nvlink", "pcie", "network")


@dataclass(frozen=True)
class HardwareTable:
    """Per-GPU figures and per (GPU, precision) peaks and efficiencies: small lookup tables that
    `hardware` gathers into per-configuration arrays. Build it once for a sweep."""

    per_gpu: dict[str, np.ndarray]  # each shape (G,)
    per_pair: dict[str, np.ndarray]  # each shape (G, P)


def hardware_table(gpus: list[GpuSpec], precisions: list[Precision], eff: Efficiencies | dict) -> HardwareTable:
    """Lookup tables for GPUs x precisions. `eff` is one `Efficiencies` for all, or a dict
    `{(gpu index, precision index): Efficiencies}` (missing pairs use the defaults)."""
    cells = [[eff if isinstance(eff, Efficiencies) else eff.get((i, j), DEFAULT_EFFICIENCIES) for j in range(len(precisions))] for i in range(len(gpus))]

    def pair(get):
        return np.array([[get(cells[i][j], g, p) for j, p in enumerate(precisions)] for i, g in enumerate(gpus)], dtype=float)

    def per_gpu(get):
        return np.array([get(g) for g in gpus], dtype=float)

    return HardwareTable(
        per_gpu={
            "mem_bw": per_gpu(lambda g: g.memory_bandwidth_tb_s * 1e12),
            "nvl": per_gpu(lambda g: g.nvlink_domain_gpus),
            "node": per_gpu(lambda g: g.gpus_per_node),
            "fast": per_gpu(lambda g: g.intra_node_bandwidth_gb_s * 1e9),
            "pcie": per_gpu(lambda g: g.pcie_bandwidth_gb_s * 1e9),
            "net": per_gpu(lambda g: g.inter_node_bandwidth_gb_s * 1e9),
        },
        per_pair={
            "peak_flops": pair(lambda e, g, p: g.tflops.get(COMPUTE_KEY[p], np.nan) * 1e12),
            "eta_compute": pair(lambda e, g, p: e.eta_compute.get(COMPUTE_KEY[p], np.nan)),
            "eta_memory": pair(lambda e, g, p: e.eta_memory),
            "eta_kv": pair(lambda e, g, p: e.kv_memory),
            "eta_comm": pair(lambda e, g, p: e.eta_comm),
            "step_overhead_s": pair(lambda e, g, p: e.step_overhead_ms * 1e-3),
        },
    )


def hardware(
    gpus: list[GpuSpec], precisions: list[Precision], tp, pp, eff: Efficiencies | dict, gpu_idx=None, prec_idx=None, table: HardwareTable | None = None
) -> Hardware:
    """Arrays of GPU figures and efficiencies for each configuration.

    `gpus` and `precisions` are lookup tables; `gpu_idx` / `prec_idx` pick an entry per
    configuration (default: the lists are parallel, one entry per configuration). `eff` as
    `hardware_table` takes it; pass a prebuilt `table` to skip building it.
    """
    tp, pp = np.asarray(tp), np.asarray(pp)
    gi = np.arange(len(gpus)) if gpu_idx is None else np.asarray(gpu_idx)
    pi = np.arange(len(precisions)) if prec_idx is None else np.asarray(prec_idx)
    t = table or hardware_table(gpus, precisions, eff)
    g = {k: v[gi] for k, v in t.per_gpu.items()}
    c = {k: v[gi, pi] for k, v in t.per_pair.items()}
    kind = np.where(tp <= g["nvl"], 0, np.where(tp <= g["node"], 1, 2))
    link = np.where(kind == 0, g["fast"], np.where(kind == 1, g["pcie"], g["net"]))
    gpus_used = tp * pp
    pp_link = np.where(gpus_used <= g["nvl"], g["fast"], np.where(gpus_used <= g["node"], g["pcie"], g["net"]))
    return Hardware(c["peak_flops"], g["mem_bw"], link, kind, pp_link, c["eta_compute"], c["eta_memory"], c["eta_kv"], c["eta_comm"], c["step_overhead_s"])


def touched_experts(model: ModelSpec, tokens):
    """Expected experts a layer reads for `tokens` tokens: E x (1 - (1 - k/E)^tokens)."""
    if not model.is_moe:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    e, k = model.num_experts, model.experts_per_token
    return e * (1.0 - np.power(1.0 - k / e, np.maximum(np.asarray(tokens, dtype=float), 0.0)))


def _windowed(model: ModelSpec, context):
    """Average over layers of the context a query attends to (windows cap some layers)."""
    context = np.asarray(context, dtype=float)
    if not model.num_window_layers:
        return context
    f = model.num_window_layers / model.num_layers
    return (1 - f) * context + f * np.minimum(context, model.sliding_window)


def _combine(t_compute, t_memory, n):
    """Time of kernels that need both: the roofline max for large n, their sum for n = 1."""
    if n == 1.0:
        return t_compute + t_memory
    return np.power(np.power(t_compute, n) + np.power(t_memory, n), 1.0 / n)


def step_time(
    model: ModelSpec,
    hw: Hardware,
    eff: Efficiencies,
    *,
    tp,
    pp,
    weight_bytes_per_param,
    kv_bytes,
    prefill_tokens=0.0,
    prefill_seqs=0.0,
    prefill_context=0.0,
    decode_seqs=0.0,
    decode_context=0.0,
    kv_per_token=None,
):
    """Seconds for one engine step of the whole replica, and its parts.

    Returns `(total, compute, memory, comm)`, each an array: compute and memory are the
    stage's speed-of-light times divided by efficiency, comm the TP all-reduces and PP sends.
    With PP > 1 the step's sequences are split into PP micro-batches that flow through the
    stages; a step then takes PP stage-times. `kv_per_token` (bytes per GPU) may be passed when
    the caller has it already.
    """
    tp = np.asarray(tp, dtype=float)
    pp = np.asarray(pp, dtype=float)
    lps = layers_per_stage(model, pp)
    share = lps / model.num_layers
    # micro-batch per stage (at least one whole sequence when there is any)
    dec = np.asarray(decode_seqs, dtype=float)
    pre = np.asarray(prefill_tokens, dtype=float)
    pre_seqs = np.asarray(prefill_seqs, dtype=float)
    dec_mb = np.where(dec > 0, np.maximum(dec / pp, np.minimum(dec, 1.0)), 0.0)
    pre_mb = pre / pp
    pre_seqs_mb = np.where(pre_seqs > 0, np.maximum(pre_seqs / pp, np.minimum(pre_seqs, 1.0)), 0.0)
    tokens = pre_mb + dec_mb
    logit_rows = dec_mb + pre_seqs_mb

    # ---- matrix multiplies: weights against every token of the step ----------------
    wbp = np.asarray(weight_bytes_per_param, dtype=float)
    gemm_flops = 2.0 * tokens * model.flop_params_per_token * share / tp + 2.0 * logit_rows * model.vocab_size * model.hidden_size / tp
    dense_w = (model.num_layers * model.params_attention_per_layer + model.num_dense_layers * model.params_dense_mlp_per_layer) * share / tp * wbp
    moe_w = model.num_moe_layers * share / tp * wbp * (touched_experts(model, tokens) * model.params_expert + model.params_shared_per_moe_layer)
    head_w = model.params_lm_head * 2.0 / tp * (logit_rows > 0)
    act = tokens * lps * (12.0 * model.hidden_size) * ACT_BYTES  # activations in and out of each kernel
    gemm_bytes = dense_w + moe_w + head_w + act

    # ---- attention: queries against the KV cache --------------------------------
    if model.attention == "mla":  # absorbed MLA: scores over the latent + rope, values over the latent
        per_ctx = 2.0 * model.num_heads * (2 * model.kv_lora_rank + model.qk_rope_head_dim)
    else:
        per_ctx = 2.0 * model.num_heads * (model.head_dim + model.v_head_dim)
    dec_ctx = dec_mb * _windowed(model, decode_context)
    pre_ctx = _windowed(model, prefill_context)
    attn_flops = per_ctx * lps / tp * (dec_ctx + pre_mb * pre_ctx)
    kv_tok = kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp) if kv_per_token is None else kv_per_token
    attn_bytes = kv_tok * (dec_ctx + pre_seqs_mb * pre_ctx + tokens)

    # each kind of kernel is bound by compute or memory; the kinds run one after the other
    peak = hw.peak_flops * hw.eta_compute
    bw = hw.mem_bw * hw.eta_memory
    kv_bw = hw.mem_bw * hw.eta_kv
    n = eff.overlap_exponent
    t_c = (gemm_flops + attn_flops) / peak
    t_m = gemm_bytes / bw + attn_bytes / kv_bw
    t_gpu = _combine(gemm_flops / peak, gemm_bytes / bw, n) + _combine(attn_flops / peak, attn_bytes / kv_bw, n)

    # ---- communication -----------------------------------------------------------
    lat = np.choose(hw.link_kind, [eff.allreduce_latency_us[k] for k in LINK_KINDS]) * 1e-6
    msg = tokens * model.hidden_size * ACT_BYTES
    allreduce = np.where(tp > 1, 2.0 * lps * (2.0 * (tp - 1) / tp * msg / (hw.link_bw * hw.eta_comm) + lat), 0.0)
    send = np.where(pp > 1, msg / (hw.pp_bw * hw.eta_comm) + lat, 0.0)
    t_comm = allreduce + send

    stage = t_gpu + t_comm + lps * eff.layer_overhead_us * 1e-6
    total = pp * stage + hw.step_overhead_s + (dec + pre_seqs) * eff.seq_overhead_us * 1e-6
    return total, pp * t_c, pp * t_m, pp * t_comm
