"""Streamlit entry point (`streamlit run app.py`): a first what-if page over `planner.estimate`.

Thin by design: widgets and layout here, every number from the `planner` package. The full
dashboard (latency vs load, Pareto frontier, traffic histograms) comes with its own issue.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

import planner


@st.cache_data
def catalog_ids() -> tuple[list[str], list[str]]:
    models = [m for m in planner.model_ids() if _supported(m)]
    return models, sorted(planner.gpus())


def _supported(model_id: str) -> bool:
    try:
        planner.get_model(model_id)
    except planner.PlannerError:
        return False
    return True


st.set_page_config(page_title="LLM capacity planner", layout="wide")
st.title("LLM inference capacity planner")
models, gpus = catalog_ids()

with st.sidebar:
    model = st.selectbox("Model", models, index=models.index("meta-llama/Llama-3.1-8B"))
    gpu = st.selectbox("GPU", gpus, index=gpus.index("H100-SXM"))
    precision = st.selectbox(
        "Precision",
        ["checkpoint's own"] + [p.value for p in planner.Precision],
        index=0,
        help="Default: the precision the checkpoint ships in (its quantization_config), fp16 for a 16-bit one",
    )
    tp = st.select_slider("Tensor parallel (TP)", options=[1, 2, 4, 8, 16], value=1)
    isl = st.number_input("Input tokens (ISL)", min_value=1, max_value=1_000_000, value=1024, step=128)
    osl = st.number_input("Output tokens (OSL)", min_value=1, max_value=1_000_000, value=256, step=64)
    concurrency = st.number_input("Concurrent users (0 = offline max throughput)", min_value=0, max_value=100_000, value=0)

try:
    e = planner.estimate(
        model, gpu, None if precision == "checkpoint's own" else precision, tp=tp, isl=int(isl), osl=int(osl), concurrency=int(concurrency) or None
    )
except planner.PlannerError as exc:
    st.error(str(exc))
    st.stop()

if not e.fits:
    hint = f" Smallest deployment that fits: {e.smallest_fit}." if e.smallest_fit else ""
    st.error(f"{e.fit_reason}.{hint}")

cols = st.columns(4)
cols[0].metric("TTFT (ms)", "-" if e.ttft_ms is None else f"{e.ttft_ms:,.1f}", help="Time to first token")
cols[1].metric("ITL (ms)", "-" if e.itl_ms is None else f"{e.itl_ms:,.2f}", help="Inter-token latency, excluding the first token (= TPOT)")
cols[2].metric("Output tokens/s", "-" if e.output_tok_s is None else f"{e.output_tok_s:,.0f}", help="System total of one replica")
cols[3].metric(
    "$ / M output tokens",
    "-" if e.usd_per_million_output_tokens is None else f"{e.usd_per_million_output_tokens:,.3f}",
    help="Catalog on-demand GPU price / throughput",
)

POINTS = {
    "offline": "offline max throughput: every request queued at once",
    "concurrency": f"{e.concurrency} concurrent users",
    "rate": f"{e.request_rate} requests/s",
}
st.caption(
    f"Operating point: {POINTS.get(e.operating_point, e.operating_point)}; latency from {e.latency_method}."
    + (
        f" One request alone on an idle replica: TTFT {e.ttft_alone_ms:,.1f} ms, ITL {e.itl_alone_ms:,.2f} ms."
        if e.ttft_alone_ms is not None and e.itl_alone_ms is not None
        else ""
    )
)

parts = {
    "weights": e.weights_gib_per_gpu,
    "activations": e.activations_gib_per_gpu,
    "runtime": e.overhead_gib_per_gpu,
    "KV cache": e.kv_cache_gib_per_gpu,
}
fig = go.Figure([go.Bar(name=k, x=[v], y=["per GPU"], orientation="h") for k, v in parts.items()])
fig.add_vline(x=e.memory_gib_per_gpu, line_dash="dash", annotation_text=f"usable {e.memory_gib_per_gpu:.1f} GiB")
fig.update_layout(barmode="stack", height=220, xaxis_title="GiB", margin=dict(l=10, r=10, t=30, b=10), title="Memory per GPU")
st.plotly_chart(fig, use_container_width=True)
for warning in e.warnings:
    st.warning(warning)
st.caption(
    f"Precision {e.precision} / KV {e.kv_precision}: {e.precision_source}. Source: {e.source}, uncertainty ±{e.uncertainty_pct:.0f}%. KV capacity {e.kv_capacity_tokens:,} tokens ({e.max_concurrency:,} sequences of ISL+OSL)."
)
with st.expander("All figures"):
    st.json(e.model_dump())
