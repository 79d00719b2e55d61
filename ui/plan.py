"""Plan: one deployment at one load: does it fit, its memory, latency, throughput and cost,
latency against load, and where a step's time goes."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import planner
from planner.catalog import QUANTIZATION_FILES, with_quantization_files
from planner.configs import ARCHITECTURES
from planner.defaults import ANALYTIC_UNCERTAINTY_PCT_BY_CLASS, ARRIVALS
from planner.estimate import batch_limit_text, vision_note
from planner.report import log_axis_ticks, memory_parts
from planner.specs import KV_BYTES, MEMORY_SETTING
from ui.common import KV_DEFAULT, PRECISION_OWN, TERMS, catalog, export_buttons, fmt, model_facts, query_default, report_downloads, share_state

CHARS_PER_TOKEN = 4.0
ENGINES = ["trtllm", "vllm", "sglang"]
TRT_RUNTIMES = {"by engine version": None, "C++ runtime (TensorRT engines)": "cpp", "PyTorch backend": "pytorch"}
LOADS = ["offline max throughput", "concurrent users", "request rate"]


@st.cache_data(show_spinner=False, max_entries=64)
def cached_estimate(kw: str) -> planner.Estimate:
    return planner.estimate(**json.loads(kw))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_curve(kw: str):
    return planner.load_curve(**json.loads(kw))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_steps(kw: str):
    return planner.step_breakdown(**json.loads(kw))


def _parsed(upload):
    try:
        return json.loads(upload.getvalue().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise planner.PlannerError(f"{upload.name}: not JSON ({exc})") from None
    except RecursionError:
        raise planner.PlannerError(f"{upload.name}: nested too deeply") from None


def uploaded_model(uploads: list, arch: str | None) -> planner.ModelSpec:
    """The model of an uploaded config.json, with the quantization files uploaded beside it
    (ModelOpt's hf_quant_config.json, AutoGPTQ's quantize_config.json)."""
    sides = {u.name: u for u in uploads if u.name in QUANTIZATION_FILES}
    configs = [u for u in uploads if u.name not in QUANTIZATION_FILES]
    if len(configs) != 1:
        given = ", ".join(u.name for u in uploads)
        raise planner.PlannerError(f"upload one config.json (and, if the checkpoint has them, {' or '.join(QUANTIZATION_FILES)}); got: {given}")
    upload = configs[0]
    cfg, came_from = with_quantization_files(_parsed(upload), {name: _parsed(u) for name, u in sides.items()})
    name = cfg.get("_name_or_path") if isinstance(cfg, dict) and isinstance(cfg.get("_name_or_path"), str) else upload.name
    return planner.model_from_config(cfg, name or upload.name, source=upload.name + came_from, arch=arch or None)


models, gpus = catalog()
st.title("Plan a deployment")

with st.sidebar:
    st.header("Deployment")
    model_id = st.selectbox("Model", models, index=models.index(query_default("model", "meta-llama/Llama-3.1-8B", str, models)), help="Catalog model")
    with st.expander("…or upload a config.json"):
        upload = (
            st.file_uploader(
                "Hugging Face config.json",
                type=["json"],
                accept_multiple_files=True,
                help="Any decoder model's config.json, validated field by field; with hf_quant_config.json (older ModelOpt exports) or "
                "quantize_config.json (AutoGPTQ) when the checkpoint states its quantization there",
            )
            or None
        )  # the files, or None for a catalog model
        arch = st.selectbox("Read as architecture", ["(its model_type)"] + sorted(ARCHITECTURES), help="For a model_type the planner does not know")
    try:  # before the precision, whose default is the checkpoint's own for a quantized one, uploaded or not
        model = uploaded_model(upload, None if arch.startswith("(") else arch) if upload else planner.get_model(model_id)
    except planner.PlannerError as exc:
        st.error(str(exc))
        st.stop()
    identity = f"{model.id} ({'uploaded' if upload else 'catalog'}, {model.quantization or '16-bit'})"
    if st.session_state.get("plan_model") not in (None, identity):  # another model or checkpoint: its own precision again
        st.query_params.pop("precision", None)
    st.session_state["plan_model"] = identity
    gpu = st.selectbox("GPU", gpus, index=gpus.index(query_default("gpu", "H100-SXM", str, gpus)))
    precisions = [PRECISION_OWN] + [p.value for p in planner.Precision]
    precision = st.selectbox(
        "Weight precision",
        precisions,
        index=precisions.index(query_default("precision", PRECISION_OWN if model.checkpoint_precision else "fp8", str, precisions)),
        help="FP16/BF16 weigh 2 bytes per parameter, FP8/INT8 1, INT4 (AWQ/GPTQ) 0.52, NVFP4 0.56, MXFP4 0.53. "
        "'checkpoint's own': what the checkpoint's quantization_config says (FP16 for a 16-bit one)",
    )
    kvs = [KV_DEFAULT] + [k.value for k in planner.KvPrecision]
    kv = st.selectbox("KV-cache precision", kvs, index=kvs.index(query_default("kv", KV_DEFAULT, str, kvs)), help=TERMS["KV"])
    c1, c2 = st.columns(2)
    tp = c1.selectbox("TP", [1, 2, 4, 8, 16], index=[1, 2, 4, 8, 16].index(query_default("tp", 1, int, [1, 2, 4, 8, 16])), help=TERMS["TP"])
    pp = c2.selectbox("PP", [1, 2, 4, 8], index=[1, 2, 4, 8].index(query_default("pp", 1, int, [1, 2, 4, 8])), help=TERMS["PP"])
    facts = model_facts(model.id) if upload is None else {"is_moe": model.is_moe, "num_experts": model.num_experts}
    ep = adp = 1
    if facts["is_moe"]:
        c1, c2 = st.columns(2)
        ep = c1.selectbox("EP", [1, 2, 4, 8, 16], index=0, help=TERMS["EP"])
        adp = c2.selectbox("Attention DP", [1, 2, 4, 8], index=0, help=TERMS["ADP"])
    engine = st.selectbox("Engine", ENGINES, index=ENGINES.index(query_default("engine", "trtllm", str, ENGINES)))
    with st.expander("Engine limits"):
        max_batch = st.number_input("max_batch_size (0 = engine default)", 0, 65536, 0, help="Most sequences in one step")
        max_tokens = st.number_input("max_num_tokens (0 = engine default)", 0, 1_048_576, 0, help="Most tokens (prefill + decode) in one step")
        max_len = st.number_input(
            "max_model_len (0 = the model's context window)",
            0,
            16_777_216,
            0,
            help="Longest sequence the engine accepts (vLLM --max-model-len): vLLM refuses to start when its KV cache cannot hold one",
        )
        version = st.text_input(
            "Engine version (blank: the current release)",
            "",
            help="e.g. 1.0 or 0.5.1: the calibration profile of the closest version is preferred; SGLang's memory defaults are that release's, "
            "and vLLM before 0.8 runs the V0 engine's defaults and memory profile",
        )
        runtime = None
        if engine == "trtllm":
            runtime = TRT_RUNTIMES[
                st.selectbox(
                    "TensorRT-LLM runtime",
                    list(TRT_RUNTIMES),
                    help="The C++ runtime of TensorRT engines (the default before 1.0) allocates decoder buffers per sequence slot "
                    "over the vocabulary; the PyTorch backend (the default from 1.0) does not",
                )
            ]
        own_fraction = st.checkbox(
            "Engine's default memory fraction",
            value=True,
            help="TensorRT-LLM and vLLM: 0.9; SGLang: its own, worked out from the GPU's memory and the parallelism",
        )
        fraction = None
        if not own_fraction:
            fraction = st.slider(
                "KV-cache memory fraction", 0.5, 0.98, 0.9, 0.01, help="TensorRT-LLM: of memory free after loading; vLLM/SGLang: of all memory"
            )

    st.header("Requests")
    unit = st.radio("Lengths in", ["tokens", "characters of text"], horizontal=True, help="Text converts at about 4 characters per token")
    if unit == "tokens":
        isl = st.number_input("Input tokens (ISL)", 1, 1_000_000, query_default("isl", 1024, int), step=128, help=TERMS["ISL"])
        osl = st.number_input("Output tokens (OSL)", 1, 1_000_000, query_default("osl", 256, int), step=64, help=TERMS["OSL"])
    else:
        chars_in = st.number_input("Prompt characters", 1, 4_000_000, 4096, step=512)
        chars_out = st.number_input("Answer characters", 1, 4_000_000, 1024, step=256)
        isl, osl = max(1, round(chars_in / CHARS_PER_TOKEN)), max(1, round(chars_out / CHARS_PER_TOKEN))
        st.caption(f"{chars_in:,} characters / {CHARS_PER_TOKEN:g} ≈ {isl:,} input tokens; {chars_out:,} / {CHARS_PER_TOKEN:g} ≈ {osl:,} output tokens")
    load = st.radio("Load", LOADS, index=LOADS.index(query_default("load", LOADS[1], str, LOADS)))
    concurrency = rate = None
    if load == "concurrent users":
        concurrency = st.number_input(
            "Concurrent users",
            1,
            100_000,
            query_default("users", 32, int),
            help="Closed-loop clients of the whole replica (all attention-DP ranks together), each sending its next request on an answer",
        )
    elif load == "request rate":
        rate = st.number_input("Requests per second", 0.01, 100_000.0, query_default("rate", 2.0, float), help="Poisson arrivals")

share_state(
    dict(
        model=model_id, gpu=gpu, precision=precision, kv=kv, tp=tp, pp=pp, engine=engine, isl=isl, osl=osl, load=load, users=concurrency or 32, rate=rate or 2.0
    )
)

kw = dict(
    model=model.id if upload is None else None,
    gpu=gpu,
    precision=None if precision == PRECISION_OWN else precision,
    kv_precision=None if kv == KV_DEFAULT else kv,
    tp=int(tp),
    pp=int(pp),
    ep=int(ep),
    attention_dp=int(adp),
    engine=engine,
    engine_version=version.strip() or None,
    trtllm_backend=runtime,
    isl=int(isl),
    osl=int(osl),
    free_gpu_memory_fraction=None if fraction is None else float(fraction),
    max_batch_size=int(max_batch) or None,
    max_num_tokens=int(max_tokens) or None,
    max_model_len=int(max_len) or None,
)
load_kw = dict(concurrency=int(concurrency) if concurrency else None, request_rate=float(rate) if rate else None)
try:
    if upload is None:
        e = cached_estimate(json.dumps({**kw, **load_kw}))
    else:
        e = planner.estimate(**{**kw, "model": model}, **load_kw)
except planner.PlannerError as exc:
    st.error(str(exc))
    st.stop()

# ---- at a glance -------------------------------------------------------------------------
if e.fits:
    st.success(
        f"Fits: {e.model} on {e.gpus} × {e.gpu} (TP {e.tp}, PP {e.pp}"
        + (f", EP {e.ep}, attention DP {e.attention_dp}" if facts["is_moe"] else "")
        + f"), {e.precision} weights, {e.kv_precision} KV cache, {e.engine}."
    )
else:
    st.error(f"Does not fit: {e.fit_reason.removeprefix('does not fit: ')}." + (f" Smallest deployment that fits: {e.smallest_fit}." if e.smallest_fit else ""))
st.caption(
    f"{e.params_total / 1e9:.1f} B parameters{vision_note(e.params_vision_encoder, 1)}. Precision {e.precision}, KV {e.kv_precision}: {e.precision_source}."
)
for w in e.warnings:
    st.warning(w)
for a in e.advice:
    st.info(a)

POINT = {
    "offline": "offline max throughput: every request queued at once (latency of that queued burst)",
    "concurrency": f"{e.concurrency} concurrent users",
    "rate": f"{e.request_rate:g} requests/s" if e.request_rate else "",
}.get(e.operating_point, e.operating_point)
band = f"±{e.uncertainty_pct:.0f} %"
source = f"{e.source} ({band})"
ttft_band = f" Uncertainty ±{e.ttft_uncertainty_pct:.0f} % ({ARRIVALS[e.operating_point]}; calibration does not fit TTFT)." if e.ttft_uncertainty_pct else ""
if e.saturated:
    st.error(
        f"Saturated: {POINT} is more than this replica sustains ({fmt(e.sustainable_rps, 2)} requests/s). No latency is shown for a replica that cannot keep up."
    )

st.subheader("Latency", help=f"At the operating point: {POINT}. Source: {source}.")
c = st.columns(3)
c[0].metric("TTFT p50 / p90 (ms)", f"{fmt(e.ttft_p50_ms)} / {fmt(e.ttft_p90_ms)}", help=TERMS["TTFT"].rstrip(".") + "." + ttft_band)
c[1].metric("ITL p50 / p90 (ms)", f"{fmt(e.itl_p50_ms, 2)} / {fmt(e.itl_p90_ms, 2)}", help=TERMS["ITL"])
c[2].metric("E2E p50 / p90 (s)", f"{fmt(e.e2e_p50_ms and e.e2e_p50_ms / 1e3, 2)} / {fmt(e.e2e_p90_ms and e.e2e_p90_ms / 1e3, 2)}", help=TERMS["E2E"])
st.subheader("Throughput and cost", help=f"At the operating point: {POINT}. Source: {source}.")
c = st.columns(3)
c[0].metric("Tokens/s per GPU", fmt(e.output_tok_s_per_gpu, 0), help="Output tokens/s of the replica divided by its GPUs")
c[1].metric("Tokens/s per user", fmt(e.output_tok_s_per_user, 1), help="1000 / ITL: how fast one user sees text appear")
c[2].metric("GPUs per replica", f"{e.gpus}")
c = st.columns(3)
c[0].metric("$ / hour", fmt(e.usd_per_hour, 2), help="Catalog on-demand price × GPUs (the GPU's price_market in the catalog)")
c[1].metric("$ / month", fmt(e.usd_per_hour and e.usd_per_hour * 730, 0), help="730 hours")
c[2].metric("$ / M output tokens", fmt(e.usd_per_million_output_tokens, 3), help="$/hour ÷ output tokens per hour at this operating point")
alone = f" One request alone on an idle replica: TTFT {fmt(e.ttft_alone_ms)} ms, ITL {fmt(e.itl_alone_ms, 2)} ms." if e.ttft_alone_ms else ""
ttft_wider = f", but the TTFT's band is ±{e.ttft_uncertainty_pct:.0f} % (see its help)" if e.ttft_uncertainty_pct else ""
st.caption(f"Operating point: {POINT}; latency from {e.latency_method}.{alone} Source of every figure: {source}{ttft_wider}.")

# ---- memory ------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    parts = memory_parts(e.model_dump())
    fig = go.Figure([go.Bar(name=k, x=[v], y=["per GPU"], orientation="h", hovertemplate=f"{k}: %{{x:.1f}} GiB<extra></extra>") for k, v in parts.items()])
    fig.add_vline(x=e.memory_gib_per_gpu, line_dash="dash", annotation_text=f"usable {e.memory_gib_per_gpu:.1f} GiB")
    fig.update_layout(
        barmode="stack",
        height=250,
        xaxis_title="GPU memory (GiB)",
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=-0.45, yanchor="top", x=0),
    )
    st.markdown("**Memory per GPU**")
    st.plotly_chart(fig, width="stretch")
with right:
    st.markdown("**KV cache**")
    st.code(model.kv_bytes_formula(KV_BYTES[planner.KvPrecision(e.kv_precision)]), language=None, wrap_lines=True)
    st.markdown(
        f"Capacity: **{e.kv_capacity_tokens:,} tokens** = **{e.max_concurrency:,} requests** of ISL + OSL = {e.isl + e.osl:,} tokens "
        f"(engine limits: max batch {batch_limit_text(e.max_batch_size, e.kv_capacity_tokens)}, {e.max_num_tokens:,} tokens per step, {MEMORY_SETTING[e.engine]} {e.memory_fraction:g})."
    )
    if e.state_bytes_per_sequence:
        st.markdown(
            f"Hybrid linear attention: {model.num_linear_layers} of {model.num_layers} layers keep no KV; each running request instead "
            f"holds a **{e.state_bytes_per_sequence / 1e6:,.1f} MB** state (whole model), **{e.state_gib_per_gpu:.1f} GiB** per GPU of the KV cache."
        )

# ---- against load, and the roofline position ---------------------------------------------
if e.fits:
    left, right = st.columns(2)
    curve_kw = json.dumps({**kw, "model": model.id}) if upload is None else None
    with left:
        try:
            curve, mu, limit = cached_curve(curve_kw) if curve_kw else planner.load_curve(**{**kw, "model": model})
        except planner.PlannerError as exc:
            st.info(str(exc))
        else:
            fig = make_subplots(specs=[[{"secondary_y": True}]])
            ok = curve[~curve.saturated]
            fig.add_trace(go.Scatter(x=ok.request_rate, y=ok.ttft_p90_ms, name="TTFT p90 (ms)", mode="lines"))
            fig.add_trace(go.Scatter(x=ok.request_rate, y=ok.itl_p90_ms, name="ITL p90 (ms)", mode="lines"))
            fig.add_trace(go.Scatter(x=curve.request_rate, y=curve.output_tok_s, name="output tokens/s", mode="lines", line_dash="dot"), secondary_y=True)
            fig.add_vline(x=mu, line_dash="dash", line_color="red", annotation_text=f"saturation {mu:.2f} req/s ({limit})", annotation_position="top left")
            point = e.request_rate or e.achieved_rps
            if point:
                fig.add_vline(x=point, line_color="green", annotation_text="this operating point", annotation_position="bottom right")
            fig.update_xaxes(title="requests per second (Poisson arrivals)", range=[0, float(curve.request_rate.max()) * 1.05])
            fig.update_yaxes(title="latency (ms)", type="log", secondary_y=False, **log_axis_ticks([*ok.ttft_p90_ms, *ok.itl_p90_ms]))
            # its own round ticks, not the latency axis's grid positions
            fig.update_yaxes(title="output tokens/s", secondary_y=True, tickmode="auto", nticks=6, showgrid=False, rangemode="tozero")
            fig.update_layout(
                height=360, title="Latency and throughput against load", margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25)
            )
            st.plotly_chart(fig, width="stretch")
            st.caption("Closed-form rate model (the approximation the fleet search ranks with); the figures above are simulated.")
    with right:
        try:
            steps = cached_steps(curve_kw) if curve_kw else planner.step_breakdown(**{**kw, "model": model})
        except planner.PlannerError as exc:
            st.info(str(exc))
        else:
            fig = go.Figure(
                [
                    go.Bar(name=name, x=steps.step, y=steps[col])
                    for name, col in (("compute", "compute_ms"), ("memory", "memory_ms"), ("communication", "comm_ms"))
                ]
            )
            fig.update_layout(barmode="group", height=340, title="Roofline position of a step", yaxis_title="time (ms)", margin=dict(l=10, r=10, t=40, b=10))
            st.plotly_chart(fig, width="stretch")
            st.caption(
                " · ".join(
                    f"{r.step} ({r.tokens:,.0f} tokens): {r.bound}-bound, compute/memory = {r.compute_to_memory:.2f}, step {r.total_ms:.2f} ms"
                    for r in steps.itertuples()
                )
            )

_BAND = {c: f"±{v:.0f} %" for c, v in ANALYTIC_UNCERTAINTY_PCT_BY_CLASS.items()}
with st.expander("How the numbers are made"):
    st.markdown(
        f"""
- **Weights**: parameters × bytes per parameter (FP16/BF16 2, FP8/INT8 1, INT4 0.5 + 2/128 for the
  group scales, NVFP4 9/16, MXFP4 17/32), split over TP × PP (× EP for the experts); parts a
  checkpoint leaves unquantized stay at 16 bits.
- **KV cache**: layers × KV heads × (K + V head width) × bytes per element per token (MLA: the
  latent plus the rope part), in the memory left after weights, activations and the engine's reserve.
  Hybrid models (Qwen3-Next, Qwen3.5): only the full-attention layers keep KV; each running request
  also holds a fixed Gated DeltaNet state, read and written once per step.
- **Step time**: for each kernel group, max-plus of compute (FLOPs ÷ (peak × η_compute)) and memory
  (bytes ÷ (bandwidth × η_memory)), plus all-reduces (bytes ÷ link bandwidth + latency), plus
  fixed overheads per step, layer and sequence. η come from a calibration profile when one
  matches (the source says which), else the defaults.
- **Latency at load**: a seeded simulation of the engine's scheduler (admission by KV memory,
  chunked prefill, batching); the curve uses the closed-form queueing model.
- **Cost**: GPUs × on-demand $/hour from the catalog; $/M tokens = $/hour ÷ tokens per hour.
- **Uncertainty (±)**: calibrated, the profile's in-sample p90 error, widened outside its ranges;
  analytic, the p90 error measured for the model's class (dense {_BAND["dense"]}, mixture of experts {_BAND["moe"]},
  MoE with attention DP {_BAND["moe, attention DP"]}; `python bench/accuracy.py`).
"""
    )

if upload is None:
    report_downloads({k: v for k, v in {**kw, **load_kw}.items() if v is not None}, "plan")
export_buttons("estimate", table=pd.DataFrame([{k: v for k, v in e.model_dump().items() if not isinstance(v, list)}]), data=e.model_dump())
