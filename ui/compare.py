"""Compare: several deployments of one model side by side, with the trade-off between tokens/s
per GPU (cost) and tokens/s per user (speed) as the load grows."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import planner
from ui.common import TERMS, catalog, export_buttons, query_default

DEFAULT_ROWS = [
    {"gpu": "H100-SXM", "precision": "fp8", "tp": 2, "pp": 1, "engine": "trtllm"},
    {"gpu": "H200-SXM", "precision": "fp8", "tp": 1, "pp": 1, "engine": "trtllm"},
    {"gpu": "H200-SXM", "precision": "fp8", "tp": 1, "pp": 1, "engine": "vllm"},
    {"gpu": "A100-SXM-80GB", "precision": "fp16", "tp": 4, "pp": 1, "engine": "trtllm"},
    {"gpu": "B200", "precision": "nvfp4", "tp": 1, "pp": 1, "engine": "trtllm"},
]
ENGINES = ["trtllm", "vllm", "sglang"]
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@st.cache_data(show_spinner=False, max_entries=128)
def row_estimate(kw: str) -> dict:
    try:
        e = planner.estimate(**json.loads(kw))
    except planner.PlannerError as exc:
        return {"error": str(exc)}
    return e.model_dump()


@st.cache_data(show_spinner=False, max_entries=128)
def frontier(model: str, gpu: str, precision: str, tp: int, pp: int, isl: int, osl: int, engine: str) -> pd.DataFrame:
    """Closed-loop concurrency 1..512 of one deployment (vectorised sweep)."""
    return planner.sweep(model, gpus=[gpu], precisions=[precision], tps=[tp], pps=[pp], batches=BATCHES, lengths=[(isl, osl)], engine=engine)


def label(r: dict) -> str:
    return f"{r['gpu']} {r['precision']} TP{int(r['tp'])}" + (f" PP{int(r['pp'])}" if int(r["pp"]) > 1 else "") + f" {r['engine']}"


models, gpus = catalog()
st.title("Compare deployments")
with st.sidebar:
    st.header("Workload")
    model = st.selectbox("Model", models, index=models.index(query_default("model", "meta-llama/Llama-3.1-70B", str, models)))
    isl = st.number_input("Input tokens (ISL)", 1, 1_000_000, 1024, step=128, help=TERMS["ISL"])
    osl = st.number_input("Output tokens (OSL)", 1, 1_000_000, 256, step=64, help=TERMS["OSL"])
    users = st.number_input("Concurrent users", 1, 100_000, 32, help="Closed-loop clients: the operating point of the table")

st.markdown("Edit the rows: one deployment per row, with its serving engine (add or delete rows at the table's edge).")
rows = st.data_editor(
    pd.DataFrame(DEFAULT_ROWS),
    num_rows="dynamic",
    column_config={
        "gpu": st.column_config.SelectboxColumn("GPU", options=gpus, required=True),
        "precision": st.column_config.SelectboxColumn("Precision", options=[p.value for p in planner.Precision], required=True),
        "tp": st.column_config.NumberColumn("TP", min_value=1, max_value=64, step=1, required=True, help=TERMS["TP"]),
        "pp": st.column_config.NumberColumn("PP", min_value=1, max_value=16, step=1, required=True, help=TERMS["PP"]),
        "engine": st.column_config.SelectboxColumn(
            "Engine", options=ENGINES, required=True, help="TensorRT-LLM, vLLM or SGLang: each with its own memory rules and scheduler defaults"
        ),
    },
    key="deployments",
    width="stretch",
)

results = []
for r in rows.dropna().to_dict("records"):
    kw = dict(
        model=model,
        gpu=r["gpu"],
        precision=r["precision"],
        tp=int(r["tp"]),
        pp=int(r["pp"]),
        isl=int(isl),
        osl=int(osl),
        concurrency=int(users),
        engine=r["engine"],
    )
    e = row_estimate(json.dumps(kw))
    if "error" in e:
        results.append({"deployment": label(r), "fits": False, "why not": e["error"]})
        continue
    results.append(
        {
            "deployment": label(r),
            "fits": e["fits"],
            "GPUs": e["gpus"],
            "TTFT p50 (ms)": e["ttft_p50_ms"],
            "ITL p50 (ms)": e["itl_p50_ms"],
            "tokens/s per GPU": e["output_tok_s_per_gpu"],
            "tokens/s per user": e["output_tok_s_per_user"],
            "$ / hour": e["usd_per_hour"],
            "$ / M output tokens": e["usd_per_million_output_tokens"],
            "source": f"{e['source']} ±{e['uncertainty_pct']:.0f}%",
            "why not": "" if e["fits"] else e["fit_reason"] + (f"; smallest fit {e['smallest_fit']}" if e["smallest_fit"] else ""),
        }
    )
table = pd.DataFrame(results)
st.subheader(f"At {int(users)} concurrent users, ISL {int(isl)} / OSL {int(osl)}")
number = {
    c: st.column_config.NumberColumn(c, format=f)
    for c, f in (
        ("TTFT p50 (ms)", "%.1f"),
        ("ITL p50 (ms)", "%.2f"),
        ("tokens/s per GPU", "%.0f"),
        ("tokens/s per user", "%.1f"),
        ("$ / hour", "%.2f"),
        ("$ / M output tokens", "%.3f"),
    )
    if c in table
}
st.dataframe(table, width="stretch", hide_index=True, column_config=number)

fig = go.Figure()
for r in rows.dropna().to_dict("records"):
    try:
        f = frontier(model, r["gpu"], r["precision"], int(r["tp"]), int(r["pp"]), int(isl), int(osl), r["engine"])
    except planner.PlannerError:
        continue
    f = f[f.fits]
    if f.empty:
        continue
    fig.add_trace(
        go.Scatter(
            x=1e3 / f.itl_ms,
            y=f.output_tok_s_per_gpu,
            mode="lines+markers",
            name=label(r),
            text=f.concurrency,
            hovertemplate="%{text} users: %{x:.0f} tok/s per user, %{y:.0f} tok/s per GPU<extra>" + label(r) + "</extra>",
        )
    )
fig.update_layout(
    title="Throughput per GPU against speed per user (1 to 512 concurrent users)",
    xaxis_title="output tokens/s per user (1000 / ITL)",
    yaxis_title="output tokens/s per GPU",
    height=420,
    margin=dict(l=10, r=10, t=40, b=10),
)
st.plotly_chart(fig, width="stretch")
st.caption("Up and to the right is better: more tokens per GPU-hour at a faster reading speed. Each point is one concurrency (vectorised closed-loop model).")
with st.expander("How the numbers are made"):
    st.markdown(
        """
- **The table**: `planner.estimate` for each row at the chosen concurrency: a seeded simulation of that many
  closed-loop users through the row's engine's scheduler, with the step time of its GPU, precision,
  parallelism and engine (from its calibration profile where one matches, else the analytic defaults).
  Engines differ in memory (what each reserves before its KV cache) and in default limits
  (batch and tokens per step), so the same GPU can hold a different number of users under each.
- **The chart**: the closed-loop model at 1 to 512 users (`planner.sweep`): equal requests whose users
  start together and come back in groups (SGLang: in waves), as the simulation runs them; per-user speed
  is 1000 / ITL, per-GPU throughput the replica's output tokens/s divided by its GPUs. It trades a few
  percent of accuracy against the simulation for evaluating every point at once.
- **Cost**: GPUs × the catalog's on-demand $/hour; $/M tokens divides it by the tokens of an hour.
"""
    )
export_buttons("comparison", table=table)
