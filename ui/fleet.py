"""Workload & fleet: what the traffic looks like (lengths, patterns, arrivals), and the cheapest
fleet that serves it within latency targets, with every rejected option and why."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import planner
from planner.requestlog import per_minute
from ui.common import TERMS, catalog, export_buttons, fmt, report_downloads

TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "traces"
EXAMPLES = {"Azure LLM trace 2023, conversation (1 h)": "azure_llm_2023_conv.csv", "Azure LLM trace 2023, code (1 h)": "azure_llm_2023_code.csv"}
SOURCES = [*[k for k, f in EXAMPLES.items() if (TRACES / f).exists()], "upload a request log", "a length distribution"]
ENGINES = ["trtllm", "vllm", "sglang"]


@st.cache_resource(show_spinner=False, max_entries=8)  # one shared, read-only object per source (the search reuses its work for it)
def load_mix(source: str, data: bytes | None = None, suffix: str = ".csv") -> planner.RequestMix:
    if data is not None:  # an upload: read it from a file of its own name, as the CLI would
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(source).name
            path.write_bytes(data)
            try:
                return planner.parse_workload(str(path))
            except planner.PlannerError as exc:  # name the user's file, not the temporary copy
                raise planner.PlannerError(str(exc).replace(f"{tmp}/", "")) from None
    return planner.parse_workload(source)


@st.cache_data(show_spinner=False, max_entries=16)
def summary(_mix: planner.RequestMix, key: str, model: str, gpu: str, precision: str, tp: int, engine: str):
    return planner.describe_workload(_mix, model, gpu, precision, tp, engine, bins=16)


@st.cache_data(show_spinner="Searching every GPU, precision and parallelism…", max_entries=16)
def fleet(
    _mix: planner.RequestMix,
    key: str,
    model: str,
    rate: float,
    sla: dict,
    budget: float | None,
    gpus: tuple,
    disaggregated: bool,
    longest: int | None,
    engine: str,
):
    r = planner.recommend(
        model,
        rate,
        _mix,
        planner.Sla(**sla),
        gpus=list(gpus) or None,
        budget_usd_per_month=budget,
        disaggregated=disaggregated,
        top=10,
        max_model_len=longest,
        engine=engine,
    )
    return r.to_json()


models, gpus = catalog()
st.title("Workload & fleet")
with st.sidebar:
    st.header("Traffic")
    source = st.radio("Requests from", SOURCES, help="A request log (CSV or JSONL with token counts or text, optional timestamps) or a distribution")
    try:
        if source == "upload a request log":
            upload = st.file_uploader(
                "Request log", type=["csv", "jsonl", "json"], help="Azure, BurstGPT, Mooncake, Vidur or ShareGPT-style columns are recognised"
            )
            if upload is None:
                st.info("Upload a request log, or pick an example trace.")
                st.stop()
            mix = load_mix(upload.name, upload.getvalue(), Path(upload.name).suffix or ".csv")
        elif source == "a length distribution":
            spec = st.text_input(
                "Workload", "isl=lognormal:median=800,sigma=0.8;osl=normal:mean=256,std=64", help=f"{TERMS['ISL']}; {TERMS['OSL']}. e.g. isl=2048;osl=512"
            )
            mix = load_mix(spec)
        else:
            mix = load_mix(str(TRACES / EXAMPLES[source]))
    except planner.PlannerError as exc:
        st.error(str(exc))
        st.stop()
    st.header("Model and engine")
    model = st.selectbox("Model", models, index=models.index("meta-llama/Llama-3.1-70B"))
    engine = st.selectbox("Serving engine", ENGINES, help="TensorRT-LLM, vLLM or SGLang: the fleet is sized, and GPU time measured, on this engine")
    st.header("Deployment for GPU-time shares")
    basis_gpu = st.selectbox("GPU", gpus, index=gpus.index("H100-SXM"))
    basis_prec = st.selectbox("Precision", [p.value for p in planner.Precision], index=2)
    basis_tp = st.selectbox("TP", [1, 2, 4, 8], index=2)

key = mix.describe()
try:
    out, shares, counts, ie, oe = summary(mix, key, model, basis_gpu, basis_prec, int(basis_tp), engine)
except planner.PlannerError as exc:
    st.warning(f"GPU-time shares not available: {exc}")
    out, shares, counts, ie, oe = summary(mix, key, model, None, None, 1, engine)

c = st.columns(4)
c[0].metric("Requests", f"{out['requests']:,}", help="in the log (a distribution: a 20,000-request sample)")
c[1].metric("ISL p50 / p90", f"{out['isl']['p50']:,.0f} / {out['isl']['p90']:,.0f}", help=TERMS["ISL"])
c[2].metric("OSL p50 / p90", f"{out['osl']['p50']:,.0f} / {out['osl']['p90']:,.0f}", help=TERMS["OSL"])
arrivals = out.get("arrivals")
c[3].metric("Peak minute (requests/s)", fmt(arrivals and arrivals["peak_minute_rps"], 2), help="busiest 60-second window of the log")
if mix.estimated:
    st.caption("Token counts estimated from text at about 4 characters per token.")

left, right = st.columns(2)
with left:
    fig = go.Figure(go.Heatmap(z=counts.T, x=[f"{ie[k]:.0f}" for k in range(len(ie) - 1)], y=[f"{oe[k]:.0f}" for k in range(len(oe) - 1)], colorscale="Blues"))
    fig.update_layout(
        title="Requests by ISL × OSL",
        xaxis_title="input tokens (bin start)",
        yaxis_title="output tokens (bin start)",
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    st.plotly_chart(fig, width="stretch")
with right:
    cols = [c for c in ("share_requests", "share_input_tokens", "share_output_tokens", "share_gpu_time") if c in shares]
    fig = go.Figure([go.Bar(name=c.removeprefix("share_").replace("_", " "), x=shares.pattern, y=100 * shares[c]) for c in cols])
    fig.update_layout(
        barmode="group", title="The four query patterns", yaxis_title="share (%)", height=380, margin=dict(l=10, r=10, t=40, b=10), legend_orientation="h"
    )
    st.plotly_chart(fig, width="stretch")
    if "gpu_time_basis" in out:
        st.caption(f"GPU time on {out['gpu_time_basis']}.")
if mix.arrivals_s is not None and len(mix.arrivals_s) > 1:
    minute = per_minute(mix.arrivals_s)
    fig = go.Figure(go.Scatter(x=minute.index, y=minute.values, mode="lines"))
    fig.update_layout(
        title="Arrivals per minute", xaxis_title="minute of the log", yaxis_title="requests per minute", height=260, margin=dict(l=10, r=10, t=40, b=10)
    )
    st.plotly_chart(fig, width="stretch")

st.header("Fleet")
c = st.columns(5)
default_rate = float(arrivals["peak_minute_rps"]) if arrivals else 5.0
rate = c[0].number_input("Target requests/s", 0.01, 1e6, round(default_rate, 2), help="Default: the log's busiest minute")
ttft = c[1].number_input("TTFT target (ms)", 1.0, 1e6, 2000.0, help=TERMS["TTFT"])
itl = c[2].number_input("ITL target (ms)", 1.0, 1e5, 50.0, help=TERMS["ITL"])
pct = c[3].selectbox("at percentile", [50, 90, 99], index=1)
budget = c[4].number_input("Budget ($/month, 0 = none)", 0.0, 1e9, 0.0)
chosen = st.multiselect("GPUs to consider (none = the whole catalog)", gpus)
c = st.columns(2)
disagg = c[0].checkbox("Also size disaggregated prefill/decode pools")
longest = c[1].number_input(
    "Longest request to accept (tokens, 0 = the traffic's own)",
    0,
    16_777_216,
    0,
    help="max_model_len: e.g. the model's full context; replicas whose KV cache cannot hold one such request are rejected (vLLM would refuse to start)",
)
try:
    sla = {"ttft_ms": ttft, "ttft_pct": pct, "itl_ms": itl, "itl_pct": pct}
    r = fleet(mix, key, model, float(rate), sla, budget or None, tuple(chosen), disagg, int(longest) or None, engine)
except planner.PlannerError as exc:
    st.error(str(exc))
    st.stop()

best = r["recommendations"][0] if r["recommendations"] else None
if best is None:
    st.error("No deployment meets the targets" + (" within the budget" if budget else "") + ": see why each was rejected below.")
else:
    st.success(
        f"Recommended: {best['replicas']} × {best['gpu']} {best['precision']} {best['parallelism']} on {engine}"
        + f" ({best['num_gpus']} GPUs) at ${best['usd_per_month']:,.0f}/month; what breaks first: {best['bottleneck']}; source {best['source']} ±{best['uncertainty_pct']:.0f}%"
        + (f"; checked by {best['verified_by']}" if best.get("verified_by") else "")
    )
    c = st.columns(4)
    c[0].metric(f"TTFT p{pct} (ms)", fmt(best.get(f"ttft_p{pct}_ms", best.get("ttft_p90_ms"))))
    c[1].metric(f"ITL p{pct} (ms)", fmt(best.get(f"itl_p{pct}_ms", best.get("itl_p90_ms")), 2))
    c[2].metric("$ / M output tokens", fmt(best["usd_per_million_output_tokens"], 3))
    c[3].metric("Utilisation", fmt(100 * best["utilisation"], 0, " %"))
options = pd.DataFrame(r["recommendations"])
if not options.empty:  # the split as deployments are named (TP4 PP2, DEP8) first; the raw degrees stay, after it
    options = options[["gpu", "precision", "parallelism", *[c for c in options.columns if c not in ("gpu", "precision", "parallelism")]]]
st.subheader("Options meeting the targets (cheapest first)")
st.dataframe(options, width="stretch", hide_index=True)
if r.get("disaggregated"):
    st.subheader("Disaggregated prefill / decode")
    st.json(r["disaggregated"])
if r["pareto"]:
    p = pd.DataFrame(r["pareto"])
    fig = go.Figure(
        go.Scatter(
            x=p.output_tok_s_per_user,
            y=p.output_tok_s_per_gpu,
            mode="markers",
            text=p.config,
            hovertemplate="%{text}: %{x:.0f} tok/s per user, %{y:.0f} tok/s per GPU<extra></extra>",
        )
    )
    fig.update_layout(
        title="Pareto frontier", xaxis_title="output tokens/s per user", yaxis_title="output tokens/s per GPU", height=380, margin=dict(l=10, r=10, t=40, b=10)
    )
    st.plotly_chart(fig, width="stretch")
with st.expander(f"Why not the others ({len(r['rejected'])} rejected)"):
    rejected = pd.DataFrame(r["rejected"])
    if not rejected.empty:
        st.dataframe(rejected[["gpu", "precision", "parallelism", "reason"]], width="stretch", hide_index=True)
with st.expander("How the numbers are made"):
    st.markdown(
        """
- **Patterns**: long input above 1,024 tokens, long output above 256; GPU time is each request's prefill
  plus its share of the decode steps on the deployment in the sidebar, at the log's mean rate.
- **Fleet**: every catalog GPU × precision × TP 1–8 × PP 1–2 that fits (and DEP-N for a mixture-of-experts
  model), on the serving engine in the sidebar with its own memory rules and defaults. For each, the largest request
  rate one replica serves within the targets (closed-form queueing model: M/G/1 prompts, batch slots,
  ITL spread), then replicas = target × (1 + 20 % headroom) / that rate, priced per month (730 h).
  The cheapest is checked by simulation and gets replicas added if it misses.
- **What breaks first**: the target or the capacity limit (KV memory, max batch, step budget) that
  sets the replica's rate.
- **Longest request to accept** (max_model_len): a replica whose KV cache per GPU cannot hold one
  request that long is rejected, whatever the traffic's own lengths (vLLM would not even start).
"""
    )
if source != "upload a request log":
    report_downloads(
        {
            "model": model,
            "engine": engine,
            "workload": spec if source == "a length distribution" else str(TRACES / EXAMPLES[source]),
            "rate": float(rate),
            "ttft_ms": float(ttft),
            "ttft_pct": float(pct),
            "itl_ms": float(itl),
            "itl_pct": float(pct),
            **({"budget": float(budget)} if budget else {}),
            **({"gpus": list(chosen)} if chosen else {}),
            **({"max_model_len": int(longest)} if longest else {}),
        },
        "fleet",
    )
export_buttons("fleet", table=options, data=r)
