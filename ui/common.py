"""What every dashboard page shares: cached catalogs, definitions for tooltips, URL state and
export buttons. No model logic: every number comes from the `planner` package."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

import planner

#: Definitions shown as tooltips wherever the term appears.
TERMS = {
    "TTFT": "Time to first token: from the request's arrival to its first output token (queueing + prefill), ms",
    "ITL": "Inter-token latency: the time between two output tokens after the first (= TPOT), ms",
    "E2E": "End-to-end latency: arrival to last token, ms",
    "ISL": "Input sequence length: prompt tokens per request",
    "OSL": "Output sequence length: generated tokens per request",
    "KV": "The attention keys and values of every token in context, kept in GPU memory in paged blocks "
    "(TensorRT-LLM 32 tokens, vLLM/SGLang 16); its size caps the requests in flight",
    "TP": "Tensor parallel: each layer's matrices split over TP GPUs (all-reduce after attention and MLP)",
    "PP": "Pipeline parallel: the layers split into PP stages on different GPUs",
    "EP": "Expert parallel (MoE): whole experts spread over EP GPUs instead of slicing every expert",
    "ADP": "Attention data parallel (MoE): each rank runs attention for its own requests with its own KV cache",
}
PRECISION_OWN = "checkpoint's own"
KV_DEFAULT = "default for the precision"


@st.cache_data(show_spinner=False)
def catalog() -> tuple[list[str], list[str]]:
    """Catalog models the planner can represent, and catalog GPUs."""
    models = []
    for m in planner.model_ids():
        try:
            planner.get_model(m)
        except planner.PlannerError:
            continue
        models.append(m)
    return models, sorted(planner.gpus())


@st.cache_data(show_spinner=False)
def model_facts(model_id: str) -> dict:
    m = planner.get_model(model_id)
    return {"is_moe": m.is_moe, "num_experts": m.num_experts, "params_b": m.params_total / 1e9, "own": m.checkpoint_precision}


def query_default(name: str, default, cast=str, choices=None):
    """A widget's starting value from the URL (`?model=...&tp=2`), else `default`; a bad value is ignored."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except (TypeError, ValueError):
        return default
    if choices is not None and value not in choices:
        return default
    return value


def share_state(values: dict) -> None:
    """Write the page's inputs to the URL, so that the page is a shareable link."""
    for k, v in values.items():
        text = str(v)
        if st.query_params.get(k) != text:
            st.query_params[k] = text


def export_buttons(name: str, table: pd.DataFrame | None = None, data: dict | list | None = None) -> None:
    """Download what is on screen as CSV and JSON (the report formats come with the report issue)."""
    cols = st.columns(2)
    if table is not None:
        cols[0].download_button("Download CSV", table.to_csv(index=False), file_name=f"{name}.csv", mime="text/csv", key=f"csv-{name}")
    payload = data if data is not None else (table.to_dict("records") if table is not None else {})
    cols[1].download_button("Download JSON", json.dumps(payload, indent=1, default=str), file_name=f"{name}.json", mime="application/json", key=f"json-{name}")


def fmt(value, digits: int = 1, unit: str = "") -> str:
    """A figure for a metric: thousands separators, '–' for none (never 'nan')."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:,.{digits}f}{unit}"


def report_downloads(inputs: dict, key: str) -> None:
    """The sizing report of what is on screen, in every format `python -m planner report` writes
    (built on request: it adds the load curve, deployable settings and manifests)."""
    from planner.report import build_report, chromium, render

    if st.button(
        "Build the sizing report",
        key=f"build-{key}",
        help="HTML, Markdown, JSON, CSV (and PDF where Chromium is installed), as `python -m planner report` writes them",
    ):
        try:
            report = build_report(inputs, command="dashboard: " + json.dumps(inputs))
            formats = ["html", "md", "json", "csv"] + (["pdf"] if chromium() else [])
            rendered = {fmt: render(report, fmt) for fmt in formats}  # once, not on every rerun (the PDF runs Chromium)
            st.session_state[f"report-{key}"] = (json.dumps(inputs, sort_keys=True), report, rendered)
        except planner.PlannerError as exc:
            st.error(str(exc))
    held = st.session_state.get(f"report-{key}")
    if held and held[0] == json.dumps(inputs, sort_keys=True):
        cols = st.columns(len(held[2]))
        for col, (fmt, data) in zip(cols, held[2].items(), strict=True):
            col.download_button(f"Report .{fmt}", data, file_name=f"sizing-report.{fmt}", key=f"dl-{key}-{fmt}")
