"""Step-time model: the time of one engine step (prefill tokens plus decode sequences).

Speed of light first, efficiency second: FLOPs and bytes of the step are counted exactly from the
model's shape, then divided by peak x efficiency (`planner.defaults.Efficiencies`, or fitted
values from calibration). Pure numpy: every argument but the model broadcasts.

A step runs `prefill_tokens` new prompt tokens (from `prefill_seqs` sequences, at an average
context position `prefill_context`) and `decode_seqs` sequences generating one token each at an
average context `decode_context`. Times are seconds for the whole replica to finish the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .defaults import DEFAULT_EFFICIENCIES, Efficiencies
from .memory import kv_bytes_per_token_per_gpu, layers_per_stage, part_bytes, state_bytes_per_sequence_per_gpu, window_kv_bytes_per_token_per_gpu
from .specs import ACT_BYTES, GpuSpec, ModelSpec, Precision, compute_key


@dataclass(frozen=True)
class Hardware:
    """GPU figures as arrays (one entry per configuration), ready to broadcast."""

    peak_flops: np.ndarray  # FLOP/s, dense tensor peak at the compute precision
    mem_bw: np.ndarray  # bytes/s
    link_bw: np.ndarray  # bytes/s per GPU, one direction, of the link the TP group uses
    link_kind: np.ndarray  # 0 nvlink, 1 pcie, 2 network
    pp_bw: np.ndarray  # bytes/s of the link between pipeline stages
    moe_bw: np.ndarray  # bytes/s per GPU of the link a MoE layer's tp x attention_dp GPUs share
    moe_kind: np.ndarray  # its kind (as link_kind)
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
            "peak_flops": pair(lambda e, g, p: g.tflops.get(compute_key(p, g.tflops), np.nan) * 1e12),
            "eta_compute": pair(lambda e, g, p: e.eta_compute.get(compute_key(p, g.tflops), np.nan)),
            "eta_memory": pair(lambda e, g, p: e.eta_memory),
            "eta_kv": pair(lambda e, g, p: e.kv_memory),
            "eta_comm": pair(lambda e, g, p: e.eta_comm),
            "step_overhead_s": pair(lambda e, g, p: e.step_overhead_ms * 1e-3),
        },
    )


def hardware(
    gpus: list[GpuSpec],
    precisions: list[Precision],
    tp,
    pp,
    eff: Efficiencies | dict,
    gpu_idx=None,
    prec_idx=None,
    table: HardwareTable | None = None,
    attention_dp=1,
) -> Hardware:
    """Arrays of GPU figures and efficiencies for each configuration.

    `gpus` and `precisions` are lookup tables; `gpu_idx` / `prec_idx` pick an entry per
    configuration (default: the lists are parallel, one entry per configuration). `eff` as
    `hardware_table` takes it; pass a prebuilt `table` to skip building it.
    """
    tp, pp, adp = np.asarray(tp), np.asarray(pp), np.asarray(attention_dp)
    gi = np.arange(len(gpus)) if gpu_idx is None else np.asarray(gpu_idx)
    pi = np.arange(len(precisions)) if prec_idx is None else np.asarray(prec_idx)
    t = table or hardware_table(gpus, precisions, eff)
    g = {k: v[gi] for k, v in t.per_gpu.items()}
    c = {k: v[gi, pi] for k, v in t.per_pair.items()}

    def kind_of(n):
        return np.where(n <= g["nvl"], 0, np.where(n <= g["node"], 1, 2))

    def bw_of(k):
        return np.where(k == 0, g["fast"], np.where(k == 1, g["pcie"], g["net"]))

    kind, moe_kind = kind_of(tp), kind_of(tp * adp)
    pp_link = bw_of(kind_of(tp * pp * adp))
    return Hardware(
        c["peak_flops"],
        g["mem_bw"],
        bw_of(kind),
        kind,
        pp_link,
        bw_of(moe_kind),
        moe_kind,
        c["eta_compute"],
        c["eta_memory"],
        c["eta_kv"],
        c["eta_comm"],
        c["step_overhead_s"],
    )


def touched_experts(model: ModelSpec, tokens):
    """Expected experts a layer reads for `tokens` tokens: E x (1 - (1 - k/E)^tokens)."""
    if not model.is_moe:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    e, k = model.num_experts, model.experts_per_token
    return e * (1.0 - np.power(1.0 - k / e, np.maximum(np.asarray(tokens, dtype=float), 0.0)))


def _combine(t_compute, t_memory, n):
    """Time of kernels that need both: the roofline max for large n, their sum for n = 1."""
    if n == 1.0:
        return t_compute + t_memory
    return (t_compute**n + t_memory**n) ** (1.0 / n)


@dataclass(frozen=True)
class StepModel:
    """The step-time model of one or many deployments with every per-configuration constant
    worked out once, so that a step costs a few dozen multiply-adds.

    Fields are numpy arrays (one entry per configuration) or, after `scalar(i)`, plain floats:
    `time()` is written with arithmetic alone, so the same code serves a vectorised sweep and
    the discrete-event simulator's inner loop (where numpy's per-call cost would dominate).
    Units: seconds, bytes, FLOPs, tokens.
    """

    pp: object
    adp: object  # attention data-parallel ranks: each runs attention and dense layers for its own requests
    gemm_flops_per_token: object  # 2 x dense matmul weights a token of a rank passes through on one GPU of a stage
    moe_flops_per_token: object  # 2 x routed-expert weights per token of the whole replica, on one GPU (experts spread over tp x adp)
    moe_imbalance: object  # 2 ln(ep) x ep / top-k: the busiest EP rank gets 1 + sqrt(this / tokens) x its share
    logit_flops_per_row: object  # LM-head FLOPs per sampled row on one GPU
    dense_weight_bytes: object  # attention and dense-MLP weights read once per step
    moe_bytes_per_expert: object  # one routed expert of every MoE layer of the stage (0 for dense models)
    moe_shared_bytes: object  # shared experts of every MoE layer of the stage
    head_bytes: object  # LM head, read when any row is sampled
    act_bytes_per_token: object  # activations in and out of each kernel
    attn_flops_per_ctx: object  # attention FLOPs per (decode query, context token) pair
    prefill_attn_flops_per_ctx: object  # the same for a prompt token (MLA: the non-absorbed form; sparse MLA: the absorbed one)
    kv_bytes_per_token: object  # KV bytes per token of context on one GPU
    state_bytes_per_seq: object  # linear-attention state read and written per running sequence per step, on one GPU (0: none)
    peak: object  # FLOP/s x efficiency
    bw: object  # bytes/s x efficiency, weights and activations
    kv_bw: object  # bytes/s x efficiency, KV reads
    comm_per_token: object  # seconds of TP all-reduce per token of a rank's micro-batch, per stage
    comm_fixed: object  # its fixed latency per stage
    moe_comm_per_token: object  # seconds of the MoE dispatch + combine across attention-DP ranks per replica token, per stage
    moe_comm_fixed: object  # its fixed latency per stage
    send_per_token: object  # seconds of one send between pipeline stages per token of the micro-batch
    send_fixed: object  # its fixed latency
    layer_overhead: object  # seconds per stage: its decoder layers' and MoE layers' fixed kernel costs
    step_overhead: object  # seconds per step
    seq_overhead: object  # seconds per sequence per step
    overlap: float
    experts: float
    experts_per_token: float
    window: float  # sliding window (tokens); 0: none
    window_fraction: object  # share of the KV bytes per token of context in the layers that use it
    window_flop_fraction: object = None  # share of the attention FLOPs per context token in them (None: window_fraction)
    topk: float = 0.0  # sparse attention: context tokens each query attends to; 0: all
    indexer_flops_per_ctx: object = 0.0  # lightning-indexer FLOPs per (query, context token), one GPU
    indexer_bytes_per_ctx: object = 0.0  # indexer-key bytes per token of context, one GPU (also in kv_bytes_per_token)
    #: most tokens of one prompt in one PP micro-batch where the engine puts a prompt's consecutive
    #: chunks in consecutive micro-batches (vLLM V1, SGLang); inf where a prompt stays in one
    prompt_piece: object = math.inf
    has_dp: bool = False  # any configuration with attention DP (else the per-rank split is skipped)
    has_ep: bool = False  # any configuration with EP (else the routing imbalance is skipped)
    has_pieces: bool = False  # any configuration whose prompts run in pieces (else they are not counted)

    def scalar(self, i: int = 0) -> StepModel:
        """The model of configuration `i` with plain Python floats, for scalar evaluation."""
        return StepModel(**{k: (float(np.ravel(v)[i if np.size(v) > 1 else 0]) if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()})

    def _windowed(self, context, f=None):
        """Context tokens each query effectively reads: window layers (share `f` of the work, by
        default of the KV bytes) stop at the window."""
        f = self.window_fraction if f is None else f
        if not (f.any() if isinstance(f, np.ndarray) else f):  # the simulator's scalar path calls this per step: no numpy for a float
            return context
        capped = np.minimum(context, self.window) if isinstance(context, np.ndarray) else min(context, self.window)
        return (1 - f) * context + f * capped

    def parts(self, prefill_tokens=0.0, prefill_seqs=0.0, prefill_context=0.0, decode_seqs=0.0, decode_context=0.0):
        """Seconds for one engine step of the whole replica, and its parts: `(total, compute, memory, comm)`.

        The step runs `prefill_tokens` prompt tokens of `prefill_seqs` sequences (average context
        position `prefill_context`) and `decode_seqs` sequences generating one token each (average
        context `decode_context`). Compute and memory are the speed-of-light times divided by
        efficiency, comm the TP all-reduces and PP sends.

        Pipeline parallelism: the decodes are split into up to PP micro-batches and the prompts
        into up to PP more (a prompt is split only into pieces of `prompt_piece` tokens, where the
        engine runs a prompt's chunks in consecutive micro-batches); each micro-batch crosses the PP stages
        (its layers there, one send between stages, the LM head on the last). A step lasts as
        long as the heaviest micro-batch's trip, or, when the pipeline is full, as long as the
        last stage takes for all its micro-batches: max(PP x stage + head + (PP-1) x send,
        M x (stage + head + send)). With PP = 1 both are one stage plus the head.
        """
        return self._pipeline(prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context)[0]

    def _pipeline(self, prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context):
        """`parts`, the trip of the heaviest micro-batch through every stage, and the time each
        micro-batch holds a stage (its layers, the head, the send) when the pipeline is full."""
        array = isinstance(self.pp, np.ndarray) or isinstance(decode_seqs, np.ndarray) or isinstance(prefill_seqs, np.ndarray)
        mx = np.maximum if array else max
        mn = np.minimum if array else min
        pp = self.pp
        if self.has_pieces:
            prefill_seqs = mx(prefill_seqs, prefill_tokens / self.prompt_piece)  # the prompts' pieces
        m_dec = mn(pp, mx(decode_seqs, 1.0))
        m_pre = mn(pp, mx(prefill_seqs, 1.0))
        dec_mb = decode_seqs / m_dec  # decodes of the heaviest micro-batch
        pre_mb = prefill_tokens / m_pre  # prompt tokens of the heaviest micro-batch (a prompt split only into pieces)
        pre_seqs_mb = prefill_seqs / m_pre
        micro = mx(mn(m_dec, mx(decode_seqs, 0.0) * 1e9), mn(m_pre, mx(prefill_seqs, 0.0) * 1e9))  # micro-batches in flight
        tokens = pre_mb + dec_mb  # the micro-batch of the whole replica: what each MoE layer receives
        # attention data parallelism: each rank runs attention and dense layers for its own
        # requests; the busiest rank sets the pace (a prompt stays on one rank)
        if self.has_dp:
            a_dec = mn(self.adp, mx(dec_mb, 1.0))
            a_pre = mn(self.adp, mx(pre_seqs_mb, 1.0))
            r_dec, r_pre, r_pre_seqs = dec_mb / a_dec, pre_mb / a_pre, pre_seqs_mb / a_pre
        else:
            r_dec, r_pre, r_pre_seqs = dec_mb, pre_mb, pre_seqs_mb
        r_tokens = r_dec + r_pre
        logit_rows = r_dec + r_pre_seqs
        imbalance = 1.0 + (self.moe_imbalance / mx(tokens, 1e-9)) ** 0.5 if self.has_ep else 1.0
        gemm_flops = self.gemm_flops_per_token * r_tokens + self.moe_flops_per_token * tokens * imbalance
        gemm_bytes = self.dense_weight_bytes + self.moe_shared_bytes + self.act_bytes_per_token * r_tokens
        if self.experts:
            touched = self.experts * (1.0 - (1.0 - self.experts_per_token / self.experts) ** tokens)
            gemm_bytes = gemm_bytes + self.moe_bytes_per_expert * touched
        head_flops = self.logit_flops_per_row * logit_rows
        head_bytes = self.head_bytes * (logit_rows > 0)
        dec_ctx = r_dec * self._windowed(decode_context)
        pre_ctx = self._windowed(prefill_context)
        dec_ctx_f, pre_ctx_f = dec_ctx, pre_ctx  # the same unless window and full layers differ in shape
        if self.window_flop_fraction is not None:
            dec_ctx_f = r_dec * self._windowed(decode_context, self.window_flop_fraction)
            pre_ctx_f = self._windowed(prefill_context, self.window_flop_fraction)
        if self.topk:  # sparse attention: the indexer scores every cached token, attention reads the top-k
            idx_ctx = dec_ctx + r_pre * pre_ctx
            idx_bytes = self.indexer_bytes_per_ctx * (dec_ctx + r_pre_seqs * pre_ctx)
            dec_ctx = dec_ctx_f = r_dec * (mn(decode_context, self.topk))
            pre_ctx = pre_ctx_f = mn(prefill_context, self.topk)
        attn_flops = self.attn_flops_per_ctx * dec_ctx_f + self.prefill_attn_flops_per_ctx * r_pre * pre_ctx_f
        attn_bytes = self.kv_bytes_per_token * (dec_ctx + r_pre_seqs * pre_ctx + r_tokens) + self.state_bytes_per_seq * (r_dec + r_pre_seqs)
        if self.topk:
            attn_flops = attn_flops + self.indexer_flops_per_ctx * idx_ctx
            attn_bytes = attn_bytes - self.indexer_bytes_per_ctx * (dec_ctx + r_pre_seqs * pre_ctx) + idx_bytes
        n = self.overlap
        t_layers = _combine(gemm_flops / self.peak, gemm_bytes / self.bw, n) + _combine(attn_flops / self.peak, attn_bytes / self.kv_bw, n)
        t_head = _combine(head_flops / self.peak, head_bytes / self.bw, n)
        t_tp = self.comm_per_token * r_tokens + self.comm_fixed + self.moe_comm_per_token * tokens + self.moe_comm_fixed
        t_send = self.send_per_token * tokens + self.send_fixed
        stage = t_layers + t_tp + self.layer_overhead
        trip = pp * stage + t_head + (pp - 1.0) * t_send
        full = micro * (stage + t_head + t_send)
        total = mx(trip, full) + self.step_overhead + (decode_seqs + prefill_seqs) / self.adp * self.seq_overhead
        t_c = pp * (gemm_flops + attn_flops) / self.peak + head_flops / self.peak
        t_m = pp * (gemm_bytes / self.bw + attn_bytes / self.kv_bw) + head_bytes / self.bw
        return (total, t_c, t_m, pp * t_tp + (pp - 1.0) * t_send), trip, stage + t_head + t_send

    def drain(self, prompt_tokens, prefill_tokens=0.0, prefill_seqs=0.0, prefill_context=0.0, decode_seqs=0.0, decode_context=0.0):
        """Seconds after the end of a step at which the last piece of a prompt that finishes in it
        (`prompt_tokens` of it in the step) comes out of the pipeline, where the engine runs a
        prompt's pieces in consecutive PP micro-batches (`prompt_piece`; 0 elsewhere).

        The next step starts when the first stage is free (`parts` keeps the pipeline full), but
        the last of a prompt's k pieces in a step enters the pipeline k - 1 micro-batches after the
        first and is sampled one trip later: (k - 1) x (stage + head + send) + trip after the step
        began, up to trip - (stage + head + send) after it ended. A prompt alone of n pieces is
        thus done after about n + PP - 1 stage times, as the pipeline fills and drains.
        """
        if not self.has_pieces:
            return 0.0 * prompt_tokens
        array = isinstance(prompt_tokens, np.ndarray) or isinstance(self.prompt_piece, np.ndarray)
        k = prompt_tokens / self.prompt_piece
        if not array and k <= 1.0:  # the simulator's scalar path: nothing to drain
            return 0.0
        _, trip, unit = self._pipeline(prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context)
        mx, mn = (np.maximum, np.minimum) if array or isinstance(trip, np.ndarray) else (max, min)
        return mx(mn((mx(k, 1.0) - 1.0) * unit, trip - unit), 0.0)

    def time(self, prefill_tokens=0.0, prefill_seqs=0.0, prefill_context=0.0, decode_seqs=0.0, decode_context=0.0):
        """Seconds of one step of the whole replica (the first of `parts`)."""
        return self._pipeline(prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context)[0][0]


def step_model(
    model: ModelSpec,
    hw: Hardware,
    eff: Efficiencies,
    *,
    tp,
    pp,
    weight_bytes_per_param,
    kv_bytes,
    kv_per_token=None,
    attention_dp=1,
    ep=1,
    ffn_over_group=False,
    dispatch_bytes=ACT_BYTES,
    prompt_piece=math.inf,
) -> StepModel:
    """Work out the per-configuration constants of the step-time model (arrays broadcast)."""
    tp = np.asarray(tp, dtype=float)
    pp = np.asarray(pp, dtype=float)
    adp = np.asarray(attention_dp, dtype=float)
    ep = np.asarray(ep, dtype=float)
    group = tp * adp  # the GPUs of a stage a MoE layer spans
    lps = layers_per_stage(model, pp)
    share = lps / model.num_layers
    b = part_bytes(weight_bytes_per_param)
    # SGLang's DP attention splits the dense MLPs, shared experts and LM head over every GPU of the group
    ffn_split = np.where(ffn_over_group, adp, 1.0)
    dense_w = (model.params_attention * b["attention"] + model.num_dense_layers * model.params_dense_mlp_per_layer * b["dense_mlp"] / ffn_split) * share / tp
    moe_layer = model.num_moe_layers * share / tp
    routed = model.num_moe_layers * model.experts_per_token * model.params_expert  # routed-expert weights a token passes
    # attention FLOPs per (query, context token): q.k over the key width and p.v over the value width
    per_ctx = pre_per_ctx = 2.0 * model.num_heads * (model.head_dim + model.v_head_dim)
    if model.attention == "mla":  # decode runs absorbed MLA: scores over the latent + rope, values over the latent
        per_ctx = 2.0 * model.num_heads * (2 * model.kv_lora_rank + model.qk_rope_head_dim)
        if model.index_topk:  # sparse MLA kernels run prompts in the absorbed form too
            pre_per_ctx = per_ctx
    per_ctx, pre_per_ctx = per_ctx * model.kv_layer_fraction, pre_per_ctx * model.kv_layer_fraction  # linear-attention layers attend to no context
    window_flops = None
    if model.num_global_layers:  # global layers with their own head width (Gemma 4): their share of the layers at their FLOPs
        g = model.num_global_layers / model.num_kv_layers
        global_ctx = 2.0 * model.num_heads * 2 * model.global_head_dim * model.kv_layer_fraction
        window_flops = (model.num_window_layers / model.num_kv_layers) * per_ctx
        per_ctx = pre_per_ctx = (1 - g) * per_ctx + g * global_ctx
        window_flops = window_flops / per_ctx
    kv_tok = kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp) if kv_per_token is None else np.asarray(kv_per_token, dtype=float)
    window_share = model.num_window_layers / model.num_kv_layers if model.num_window_layers else 0.0
    if model.num_global_layers and model.num_window_layers:  # the window layers' share of the bytes differs from their share of the layers
        kv_all = kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp)
        window_share = window_kv_bytes_per_token_per_gpu(model, kv_bytes, tp, pp) / np.where(kv_all > 0, kv_all, 1.0)
    # Gated DeltaNet: each step reads and writes every running sequence's state once; per token
    # the delta-rule update and the read-out are ~3 products with the dk x dv state per value head
    state_seq = 2.0 * state_bytes_per_sequence_per_gpu(model, tp, pp)
    linear_flops = 6.0 * model.linear_state_elements_per_layer * model.num_linear_layers * share / tp
    lat = np.choose(hw.link_kind, [eff.allreduce_latency_us[k] for k in LINK_KINDS]) * 1e-6
    tok_bytes = model.hidden_size * ACT_BYTES
    # TP all-reduces: two per layer; with attention DP the MoE layers' second becomes the
    # dispatch (all-gather) and combine (reduce-scatter) of hidden states across the tp x adp GPUs
    dp = adp > 1
    n_ar = np.where(dp, lps + model.num_dense_layers * share, 2.0 * lps)
    ar_per_token = np.where(tp > 1, n_ar * 2.0 * (tp - 1) / tp * tok_bytes / (hw.link_bw * hw.eta_comm), 0.0)
    ar_fixed = np.where(tp > 1, n_ar * lat, 0.0)
    moe_lat = np.choose(hw.moe_kind, [eff.allreduce_latency_us[k] for k in LINK_KINDS]) * 1e-6
    n_moe = model.num_moe_layers * share
    # dispatch at `dispatch_bytes` per element (TensorRT-LLM quantizes NVFP4 experts' inputs first), combine at 16 bits
    moe_bytes = model.hidden_size * (np.asarray(dispatch_bytes, dtype=float) + ACT_BYTES)
    moe_comm_per_token = np.where(dp, n_moe * (group - 1) / group * moe_bytes / (hw.moe_bw * hw.eta_comm), 0.0)
    moe_comm_fixed = np.where(dp, 2.0 * n_moe * moe_lat, 0.0)
    send_per_token = np.where(pp > 1, tok_bytes / (hw.pp_bw * hw.eta_comm), 0.0)
    send_fixed = np.where(pp > 1, lat, 0.0)
    zeros = np.zeros(np.broadcast(tp, pp, adp, ep, *b.values(), hw.peak_flops).shape)
    return StepModel(
        pp=pp + zeros,
        adp=adp + zeros,
        gemm_flops_per_token=2.0 * ((model.flop_params_per_token - routed) / tp + model.replicated_indexer_params(tp)) * share + linear_flops + zeros,
        moe_flops_per_token=2.0 * routed * share / group + zeros,
        moe_imbalance=np.where(ep > 1, 2.0 * np.log(np.maximum(ep, 1.0)) * ep / max(model.experts_per_token, 1), 0.0) + zeros,
        logit_flops_per_row=2.0 * model.vocab_size * model.hidden_size / tp + zeros,
        dense_weight_bytes=dense_w + model.replicated_indexer_params(tp) * b["attention"] * share + zeros,
        moe_bytes_per_expert=moe_layer / adp * model.params_expert * b["experts"] + zeros,
        moe_shared_bytes=moe_layer * model.params_shared_per_moe_layer * b["shared_experts"] / ffn_split + zeros,
        head_bytes=model.vocab_size * model.hidden_size * 2.0 / (tp * ffn_split) + zeros,  # the LM head, or the tied embedding matrix in its place
        act_bytes_per_token=lps * (12.0 * model.hidden_size) * ACT_BYTES + zeros,
        attn_flops_per_ctx=per_ctx * lps / tp + zeros,
        prefill_attn_flops_per_ctx=pre_per_ctx * lps / tp + zeros,
        kv_bytes_per_token=kv_tok + zeros,
        state_bytes_per_seq=state_seq + zeros,
        peak=hw.peak_flops * hw.eta_compute + zeros,
        bw=hw.mem_bw * hw.eta_memory + zeros,
        kv_bw=hw.mem_bw * hw.eta_kv + zeros,
        comm_per_token=ar_per_token + zeros,
        comm_fixed=ar_fixed + zeros,
        moe_comm_per_token=moe_comm_per_token + zeros,
        moe_comm_fixed=moe_comm_fixed + zeros,
        send_per_token=send_per_token + zeros,
        send_fixed=send_fixed + zeros,
        layer_overhead=(lps * eff.layer_overhead_us + model.num_moe_layers * share * eff.moe_layer_overhead_us) * 1e-6 + zeros,
        step_overhead=hw.step_overhead_s + zeros,
        seq_overhead=eff.seq_overhead_us * 1e-6,
        overlap=float(eff.overlap_exponent),
        experts=float(model.num_experts if model.is_moe else 0),
        experts_per_token=float(model.experts_per_token),
        topk=float(model.index_topk),
        # the indexer runs every one of its heads on each GPU (replicated, not split by TP)
        indexer_flops_per_ctx=2.0 * model.index_n_heads * model.index_head_dim * lps + zeros,
        indexer_bytes_per_ctx=lps * model.indexer_bytes_per_token_layer + zeros,
        window=float(model.sliding_window or 0),
        window_fraction=window_share,
        window_flop_fraction=window_flops if model.num_window_layers else None,
        prompt_piece=np.asarray(prompt_piece, dtype=float) + zeros,
        has_dp=bool(np.any(adp > 1)),
        has_ep=bool(np.any(ep > 1)),
        has_pieces=bool(np.any(np.isfinite(prompt_piece))),
    )
