"""Sizing reports: one schema-versioned JSON document (every input and output) and its renderings
as HTML (self-contained, charts embedded), PDF (the HTML printed by headless Chromium), Markdown
and CSV. `build_report` answers the question with the same API as `estimate` / `recommend`;
`render` turns the JSON into any format, so `report --from report.json` rebuilds them all.

Every string that came from the user (model names, file names, workload specs) is escaped in
HTML and Markdown; writes are atomic.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from pydantic import ValidationError

from .cost import PriceBook, owned_hardware, parse_price_overrides
from .curves import load_curve
from .deploy import deployment_settings
from .errors import PlannerError, validation_line
from .estimate import batch_limit_text, estimate, vision_note
from .fileio import atomic_write_bytes, read_json
from .k8s import manifests, to_yaml
from .search import parallelism_label, recommend
from .sla import Sla
from .specs import MEMORY_SETTING, EngineSettings
from .workload import parse_workload
from .workload_report import describe_workload

SCHEMA_VERSION = 1
PLANNER_VERSION = "0.1.0"
FORMATS = ("html", "pdf", "md", "json", "csv")
#: The estimate inputs a report takes (the same names and meaning as `estimate`).
DEPLOYMENT_KEYS = (
    "model",
    "gpu",
    "precision",
    "kv_precision",
    "tp",
    "pp",
    "ep",
    "attention_dp",
    "engine",
    "engine_version",
    "trtllm_backend",
    "isl",
    "osl",
    "concurrency",
    "request_rate",
    "free_gpu_memory_fraction",
    "max_batch_size",
    "max_num_tokens",
    "max_model_len",
    "profile",
    "hardware",
    "replay",
)


#: Every input a report takes: the estimate's, a workload, and a fleet's rate, targets and prices.
REPORT_KEYS = DEPLOYMENT_KEYS + (
    "workload",
    *("rate", "ttft_ms", "ttft_pct", "itl_ms", "itl_pct", "budget", "gpus", "headroom", "price", "prices", "disaggregated"),
)
#: Engine settings a fleet report applies to every candidate and to the recommended replica.
FLEET_ENGINE_KEYS = ("free_gpu_memory_fraction", "max_batch_size", "max_num_tokens", "trtllm_backend")


def build_report(inputs: dict, command: str = "") -> dict:
    """The report for `inputs`: an `estimate` (deployment keys) or, with `rate` and latency targets,
    a `recommend` whose first choice is then estimated at its operating rate (`gpus`, `budget`,
    `headroom`, `price` ["GPU=USD", ...] and `prices` (a file) as `recommend` takes them)."""
    inputs = {k: v for k, v in inputs.items() if v is not None}
    priced = [k for k in ("price", "prices", "owned") if k in inputs]
    if priced and "rate" not in inputs:
        raise PlannerError(
            "prices (--price, --prices, --own-*) apply to a fleet report (--rate with latency targets); a deployment report uses the catalog price"
        )
    mix = parse_workload(inputs.get("workload"), inputs.get("isl", 1024), inputs.get("osl", 1024))
    report: dict = {"schema_version": SCHEMA_VERSION, "planner_version": PLANNER_VERSION, "command": command, "inputs": inputs}
    if "rate" in inputs and inputs.get("replay"):
        raise PlannerError(
            "replay runs one deployment on a request log's own arrival times: give it with --gpu and --workload (a deployment report), not with --rate"
        )
    if "rate" in inputs and "hardware" in inputs:
        raise PlannerError("a hardware profile describes one GPU: give it with --gpu (a deployment report), not with --rate (a fleet over many GPUs)")
    if "rate" in inputs:
        try:
            sla = Sla(**{k: inputs[k] for k in ("ttft_ms", "ttft_pct", "itl_ms", "itl_pct", "e2e_ms", "e2e_pct") if k in inputs})
        except ValidationError as exc:
            raise PlannerError(f"latency target {validation_line(exc)}") from None
        if not sla.targets():
            raise PlannerError("a fleet report needs at least one latency target: ttft_ms and/or itl_ms (and e2e_ms)")
        owned = owned_hardware(**inputs["owned"]) if "owned" in inputs else None
        prices = PriceBook(parse_price_overrides(inputs.get("price")), inputs.get("prices"), owned)
        settings = {k: inputs[k] for k in FLEET_ENGINE_KEYS if k in inputs}
        try:
            engine = EngineSettings(engine=inputs.get("engine", "trtllm"), version=inputs.get("engine_version"), **settings)
        except ValidationError as exc:
            raise PlannerError(f"engine setting {validation_line(exc)}") from None
        r = recommend(
            inputs["model"],
            float(inputs["rate"]),
            mix,
            sla,
            gpus=inputs.get("gpus"),
            budget_usd_per_month=inputs.get("budget"),
            headroom=float(inputs.get("headroom", 0.2)),
            prices=prices,
            disaggregated=bool(inputs.get("disaggregated", False)),
            max_model_len=inputs.get("max_model_len"),
            engine=engine,
        )
        rec = r.to_json()
        report["kind"] = "recommend"
        report["recommendation"] = rec
        best = rec["recommendations"][0] if rec["recommendations"] else None
        if best is None:
            report["question"] = _question(inputs, mix.describe(), sla.describe())
            return _clean(report)
        deployment = {k: best[k] for k in ("gpu", "precision", "kv_precision", "tp", "pp", "ep", "attention_dp", "engine")}
        deployment.update(model=rec["question"]["model"], request_rate=best["operating_rate_rps"], **settings)
        deployment.update({k: inputs[k] for k in ("isl", "osl") if k in inputs})  # the requests the fleet was sized for
        if engine.version:
            deployment["engine_version"] = engine.version
        if "max_model_len" in inputs:
            deployment["max_model_len"] = inputs["max_model_len"]
        if "profile" in inputs:
            deployment["profile"] = inputs["profile"]
        report["replicas"] = best["replicas"]
    else:
        report["kind"] = "estimate"
        deployment = {k: inputs[k] for k in DEPLOYMENT_KEYS if k in inputs}
        sla = None
    if "workload" in inputs:
        deployment["workload"] = inputs["workload"]
    e = estimate(**deployment)
    report["question"] = _question(inputs, mix.describe(), sla.describe() if sla else None)
    report["estimate"] = e.model_dump()
    if e.fits:
        curve, mu, limit = load_curve(**{k: v for k, v in deployment.items() if k not in ("concurrency", "request_rate", "replay")})
        report["load_curve"] = {"sustainable_rps": mu, "limited_by": limit, "rows": json.loads(curve.to_json(orient="records"))}
        report["deploy"] = deployment_settings(e, free_gpu_memory_fraction=deployment.get("free_gpu_memory_fraction"))
        try:
            report["kubernetes"] = {"yaml": to_yaml(manifests(e.model_dump(), report["deploy"], report.get("replicas", 1)))}
        except PlannerError as exc:
            report["kubernetes"] = {"note": str(exc)}
    if "workload" in inputs:
        summary, *_ = describe_workload(mix, e.model, e.gpu, e.precision, e.tp, e.engine)
        report["workload"] = summary
    report["assumptions"] = {
        "price": _price_assumption(inputs),
        "engine": f"{e.engine} with its default limits unless given (max batch {batch_limit_text(e.max_batch_size, e.kv_capacity_tokens)}, {e.max_num_tokens} tokens per step, "
        f"{MEMORY_SETTING[e.engine]} {e.memory_fraction:g})",
        "source": f"{e.source}, uncertainty ±{e.uncertainty_pct:.0f} %" + (f" (TTFT ±{e.ttft_uncertainty_pct:.0f} %)" if e.ttft_uncertainty_pct else ""),
        "operating_point": e.latency_method,
    }
    if e.warnings:  # the estimate's own warnings (an extrapolated profile, a context window passed, ...)
        report["assumptions"]["warnings"] = "; ".join(e.warnings)
    if e.advice:  # settings that would serve this load better (vLLM preempting: a lower --max-num-seqs)
        report["assumptions"]["advice"] = "; ".join(e.advice)
    if "hardware" in deployment:
        report["assumptions"]["hardware"] = (
            f"datasheet peaks scaled by the probe in {Path(str(deployment['hardware'])).name} (measured rates over the shipped reference probe's)"
        )
    return _clean(report)


def _price_assumption(inputs: dict) -> str:
    """Where the report's GPU-hour prices come from."""
    if "owned" in inputs:
        return owned_hardware(**inputs["owned"]).describe() + ", 730 hours a month"
    given = [
        f"--price {', '.join(inputs['price'])}" if "price" in inputs else "",
        f"the prices file {Path(str(inputs['prices'])).name}" if "prices" in inputs else "",
    ]
    given = [g for g in given if g]
    catalog = "catalog on-demand price per GPU-hour (gpu_specs/<gpu>.yaml price_market)"
    return (f"{' and '.join(given)} where they name the GPU, else the {catalog}" if given else catalog) + ", 730 hours a month"


def _clean(obj):
    """The report as plain JSON values: NaN and infinities (a rejected option's latency) become null."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and not isinstance(obj, str):  # numpy scalars
        return _clean(obj.item())
    return obj


def _question(inputs: dict, workload: str, sla: str | None) -> str:
    load = (
        f"{inputs['rate']:g} requests/s"
        if "rate" in inputs
        else "the log's own arrival times" + (f" scaled to {inputs['request_rate']:g} requests/s" if "request_rate" in inputs else "")
        if inputs.get("replay")
        else f"{inputs['concurrency']} concurrent users"
        if "concurrency" in inputs
        else f"{inputs['request_rate']:g} requests/s per replica"
        if "request_rate" in inputs
        else "offline maximum throughput"
    )
    target = f" within {sla}" if sla else ""
    if inputs.get("max_model_len"):
        target += f", accepting requests of up to {inputs['max_model_len']:,} tokens"
    where = "which deployment, and how many" if "rate" in inputs else f"on {inputs.get('gpu')} (TP {inputs.get('tp', 1)}, PP {inputs.get('pp', 1)})"
    return f"Serving {inputs.get('model')} for {workload} at {load}{target}: {where}?"


# ---------------------------------------------------------------------------------------------
# renderings
# ---------------------------------------------------------------------------------------------


def log_axis_ticks(values) -> dict:
    """Tick values and labels for a log axis over `values`: 1-2-5 steps written in full ("20",
    "500", "2,000"), where plotly would write minor ticks as bare leading digits ("2" for 20)."""
    v = pd.to_numeric(pd.Series(list(values)), errors="coerce")
    v = v[(v > 0) & v.notna() & (v != float("inf"))]
    if v.empty:
        return {}
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5) if v.min() / 2 <= m * 10.0**e <= v.max() * 2]
    return {"tickvals": ticks, "ticktext": [f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks]}


def memory_parts(e: dict) -> dict[str, float]:
    """GiB per GPU of an estimate (`Estimate.model_dump()`) by use, for a stacked memory bar: a
    hybrid model's linear-attention states as their own part of the KV cache, and what the
    engine's memory fraction leaves free (SGLang's CUDA graphs and activation slack live there)."""
    states = e.get("state_gib_per_gpu") or 0.0
    parts = {
        "weights": e["weights_gib_per_gpu"],
        "KV cache": e["kv_cache_gib_per_gpu"] - states,
        **({"linear-attention states": states} if states else {}),
        "activations": e["activations_gib_per_gpu"],
        "engine reserve": e["overhead_gib_per_gpu"],
    }
    parts["free"] = max(e["memory_gib_per_gpu"] - sum(parts.values()), 0.0)
    return parts


def _figures(report: dict) -> list[tuple[str, go.Figure]]:
    figs = []
    e = report.get("estimate")
    if e:
        parts = memory_parts(e)
        fig = go.Figure([go.Bar(name=k, x=[v], y=["per GPU"], orientation="h") for k, v in parts.items()])
        fig.add_vline(x=e["memory_gib_per_gpu"], line_dash="dash", annotation_text=f"usable {e['memory_gib_per_gpu']:.1f} GiB")
        fig.update_layout(barmode="stack", height=240, xaxis_title="GPU memory (GiB)", margin=dict(l=10, r=10, t=30, b=10))
        figs.append(("Memory per GPU", fig))
    curve = report.get("load_curve")
    if curve:
        rows = pd.DataFrame(curve["rows"])
        ok = rows[~rows.saturated]
        fig = go.Figure(
            [
                go.Scatter(x=ok.request_rate, y=ok.ttft_p90_ms, name="TTFT p90 (ms)"),
                go.Scatter(x=ok.request_rate, y=ok.itl_p90_ms, name="ITL p90 (ms)"),
            ]
        )
        inputs = report["inputs"]
        span = [float(rows.request_rate.min()), float(rows.request_rate.max())]
        for key, label in (("ttft_ms", "TTFT target"), ("itl_ms", "ITL target")):
            if key in inputs:  # a trace, not a shape: shapes on a log axis take log10 coordinates
                fig.add_trace(go.Scatter(x=span, y=[inputs[key]] * 2, mode="lines", line_dash="dot", name=f"{label} ({inputs[key]:g} ms)"))
        fig.add_vline(x=curve["sustainable_rps"], line_dash="dash", line_color="red", annotation_text=f"saturation ({curve['limited_by']})")
        fig.update_layout(
            height=320, xaxis_title="requests per second per replica", yaxis_title="latency (ms)", yaxis_type="log", margin=dict(l=10, r=10, t=30, b=10)
        )
        targets = [inputs[k] for k in ("ttft_ms", "itl_ms") if k in inputs]
        fig.update_yaxes(**log_axis_ticks([*ok.ttft_p90_ms, *ok.itl_p90_ms, *targets]))
        figs.append(("Latency against load (one replica)", fig))
    rec = report.get("recommendation")
    if rec and rec["pareto"]:
        p = pd.DataFrame(rec["pareto"])
        fig = go.Figure(go.Scatter(x=p.output_tok_s_per_user, y=p.output_tok_s_per_gpu, mode="markers", text=p.config))
        fig.update_layout(height=320, xaxis_title="output tokens/s per user", yaxis_title="output tokens/s per GPU", margin=dict(l=10, r=10, t=30, b=10))
        figs.append(("Pareto frontier of the candidates", fig))
    wl = report.get("workload")
    if wl:
        shares = pd.DataFrame(wl["patterns"]["rows"])
        cols = [c for c in ("share_requests", "share_output_tokens", "share_gpu_time") if c in shares]
        fig = go.Figure([go.Bar(name=c.removeprefix("share_"), x=shares.pattern, y=100 * shares[c]) for c in cols])
        fig.update_layout(barmode="group", height=300, yaxis_title="share (%)", margin=dict(l=10, r=10, t=30, b=10))
        figs.append(("Query patterns", fig))
        h = wl["histogram"]
        fig = go.Figure(go.Heatmap(z=list(map(list, zip(*h["counts"], strict=True))), x=h["isl_edges"][:-1], y=h["osl_edges"][:-1], colorscale="Blues"))
        fig.update_layout(height=320, xaxis_title="input tokens (bin start)", yaxis_title="output tokens (bin start)", margin=dict(l=10, r=10, t=30, b=10))
        figs.append(("Requests by ISL x OSL", fig))
    return figs


def _split(r: dict) -> str:
    """A recommended or rejected deployment's split ("TP4 PP2", "DEP8"), from its fields (reports
    written before the `parallelism` key have them too)."""
    return parallelism_label(r["tp"], r["pp"], r.get("attention_dp", 1), r.get("ep", 1))


def _sections(report: dict) -> list[tuple[str, list[tuple[str, str]] | pd.DataFrame | str]]:
    """The report's content as (title, body) pairs: key/value lists, tables or preformatted text."""
    out: list = [("Question", report["question"])]
    e = report.get("estimate")
    rec = report.get("recommendation")
    if rec:
        best = rec["recommendations"][0] if rec["recommendations"] else None
        if best:
            out.append(
                (
                    "Recommendation",
                    [
                        ("deployment", f"{best['replicas']} x {best['gpu']} {best['precision']} {_split(best)} ({best['num_gpus']} GPUs)"),
                        ("KV cache", best["kv_precision"]),
                        (
                            "cost",
                            f"${best['usd_per_hour']:,.2f}/hour, ${best['usd_per_month']:,.0f}/month, ${best['usd_per_million_output_tokens']:.3f} per M output tokens, ${best['usd_per_request']:.6f} per request",
                        ),
                        ("energy", f"{best['joules_per_output_token']:.3f} J per output token"),
                        ("what breaks first", best["bottleneck"]),
                        (
                            "source",
                            f"{best['source']} ±{best['uncertainty_pct']:.0f} %" + (f", checked by {best['verified_by']}" if best.get("verified_by") else ""),
                        ),
                    ],
                )
            )
        else:
            out.append(("Recommendation", "No deployment meets the targets; see why each was rejected."))
    if e:
        out.append(
            (
                "Deployment" if not rec else "The recommended replica at its operating rate",
                [
                    ("model", f"{e['model']} ({e['params_total'] / 1e9:.1f} B parameters{vision_note(e.get('params_vision_encoder', 0), 1)})"),
                    ("GPUs", f"{e['gpus']} x {e['gpu']} (TP {e['tp']}, PP {e['pp']}, EP {e['ep']}, attention DP {e['attention_dp']})"),
                    ("precision", f"{e['precision']} weights, {e['kv_precision']} KV cache ({e['precision_source']})"),
                    ("fits", "yes" if e["fits"] else f"no: {e['fit_reason']}" + (f"; smallest fit {e['smallest_fit']}" if e["smallest_fit"] else "")),
                    (
                        "memory per GPU",
                        f"weights {e['weights_gib_per_gpu']:.1f} GiB, KV cache {e['kv_cache_gib_per_gpu']:.1f} GiB of {e['memory_gib_per_gpu']:.1f} GiB usable",
                    ),
                    ("KV capacity", f"{e['kv_capacity_tokens']:,} tokens = {e['max_concurrency']:,} requests of ISL+OSL"),
                    *(
                        [
                            (
                                "linear-attention state",
                                f"{e['state_bytes_per_sequence'] / 1e6:,.1f} MB per request; {e['state_gib_per_gpu']:.1f} GiB of the KV cache per GPU",
                            )
                        ]
                        if e.get("state_bytes_per_sequence")
                        else []
                    ),
                    (
                        "engine settings",
                        f"{e['engine']}{' ' + e['engine_version'] if e.get('engine_version') else ''}"
                        + (f" ({'C++ runtime' if e['trtllm_backend'] == 'cpp' else 'PyTorch backend'})" if e.get("trtllm_backend") else "")
                        + f": max batch {batch_limit_text(e['max_batch_size'], e['kv_capacity_tokens'])}, max tokens {e['max_num_tokens']}{_memory_setting(e)}"
                        + (f", max_model_len {e['max_model_len']:,}" if e.get("max_model_len") else "")
                        + (f"; its decoder takes {e['decoder_gib_per_gpu']:.2f} GiB per GPU" if e.get("decoder_gib_per_gpu") else ""),
                    ),
                    ("operating point", e["latency_method"]),
                    (
                        "TTFT p50 / p90",
                        _ms(e["ttft_p50_ms"], e["ttft_p90_ms"]) + (f" (±{e['ttft_uncertainty_pct']:.0f} %)" if e.get("ttft_uncertainty_pct") else ""),
                    ),
                    ("ITL p50 / p90", _ms(e["itl_p50_ms"], e["itl_p90_ms"])),
                    ("output tokens/s", f"{_n(e['output_tok_s'])} ({_n(e['output_tok_s_per_gpu'])} per GPU, {_n(e['output_tok_s_per_user'], 1)} per user)"),
                    ("cost", f"${_n(e['usd_per_hour'], 2)}/hour per replica, ${_n(e['usd_per_million_output_tokens'], 3)} per M output tokens"),
                    ("source", f"{e['source']} ±{e['uncertainty_pct']:.0f} %"),
                ],
            )
        )
    if rec:
        cols = ["gpu", "precision", "parallelism", "replicas", "num_gpus", "usd_per_month", "ttft_p90_ms", "itl_p90_ms", "bottleneck", "source"]
        options = pd.DataFrame([{**r, "parallelism": _split(r)} for r in rec["recommendations"]])
        out.append(("Alternatives meeting the targets (cheapest first)", options.reindex(columns=cols)))
        rejected = pd.DataFrame([{**r, "parallelism": _split(r)} for r in rec["rejected"]]).reindex(columns=["gpu", "precision", "parallelism", "reason"])
        out.append((f"Why the others fail ({len(rejected)})", rejected.head(40)))
        if rec.get("disaggregated"):
            out.append(("Disaggregated prefill / decode", json.dumps(rec["disaggregated"], indent=1)))
    d = report.get("deploy")
    if d:
        out.append(("Checkpoint", d["checkpoint"] + (f" ({d['checkpoint_note']})" if d.get("checkpoint_note") else "")))
        engines = {
            "trtllm": [
                ("TensorRT-LLM " + d["trtllm"]["version"] + ": llm_options.yaml", d["trtllm"]["llm_options_yaml"]),
                ("TensorRT-LLM: serve", d["trtllm"]["command"]),
            ],
            "vllm": [("vLLM: serve", d["vllm"]["command"])],
            "sglang": [("SGLang: serve", d["sglang"]["command"])],
        }
        planned = e.get("engine") if e else None  # the engine the figures are for first, then the others' equivalents
        for name in sorted(engines, key=lambda n: n != planned):
            out.extend(engines[name])
        k = report.get("kubernetes", {})
        out.append(("Kubernetes manifests", k.get("yaml") or k.get("note", "")))
        v = d["validation"]
        out.append(("Validate on real GPUs", "\n".join([*v["trtllm_bench"], v["aiperf"], v["calibrate"]])))
    out.append(("Assumptions", list(report.get("assumptions", {}).items())))
    out.append(("Reproduce", (report.get("command") or "") + f"\n# planner {report['planner_version']}, report schema {report['schema_version']}"))
    return out


def _n(v, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _ms(a, b) -> str:
    return "– (saturated)" if a is None else f"{a:,.1f} / {b:,.1f} ms"


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, allow_nan=False, default=str) + "\n"


def _md_cell(text) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("`", "\\`").replace("\n", " ")


def _png(fig: go.Figure) -> str | None:
    """A chart as a base64 PNG where Plotly's image exporter (kaleido) is installed, else None."""
    try:
        data = fig.to_image(format="png", width=900, height=int(fig.layout.height or 320), scale=1)
    except Exception:  # kaleido missing, or its Chrome: the HTML report holds the charts
        return None
    return base64.b64encode(data).decode("ascii")


def to_markdown(report: dict, charts: bool = True) -> str:
    """Markdown: the text and tables; the charts as embedded PNG images when an image exporter is
    installed (`pip install kaleido`), else a line that says they are in the HTML report."""
    lines = ["# LLM inference sizing report", ""]
    figures = _figures(report) if charts else []
    images = [(title, _png(fig)) for title, fig in figures]
    for title, body in _sections(report):
        lines += [f"## {_md_cell(title)}", ""]
        if isinstance(body, pd.DataFrame):
            lines += ["| " + " | ".join(_md_cell(c) for c in body.columns) + " |", "|" + "---|" * len(body.columns)]
            lines += ["| " + " | ".join(_md_cell("" if pd.isna(v) else v) for v in row) + " |" for row in body.itertuples(index=False)]
        elif isinstance(body, list):
            lines += [f"- **{_md_cell(k)}**: {_md_cell(v)}" for k, v in body]
        elif title in ("Question",):
            lines.append(_md_cell(body))
        else:
            fence = "~~~~~~~~"  # longer than any run of tildes a command holds
            lines += [fence, str(body).replace(fence, ""), fence]
        lines.append("")
        if title == "Question" and images:
            if all(png for _, png in images):
                lines += [f"![{_md_cell(t)}](data:image/png;base64,{png})" for t, png in images] + [""]
            else:
                lines += [
                    f"_Charts ({', '.join(_md_cell(t) for t, _ in images)}): in the HTML report; no image exporter is installed here (pip install kaleido)._",
                    "",
                ]
    return "\n".join(lines)


def to_html(report: dict) -> str:
    """One self-contained HTML file: plotly.js embedded once, nothing loaded from the network."""
    parts = []
    for title, body in _sections(report):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if isinstance(body, pd.DataFrame):
            parts.append(body.to_html(index=False, escape=True, na_rep="", border=0, classes="t"))
        elif isinstance(body, list):
            parts.append("<dl>" + "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in body) + "</dl>")
        elif title == "Question":
            parts.append(f"<p>{html.escape(str(body))}</p>")
        else:
            parts.append(f"<pre>{html.escape(str(body))}</pre>")
    charts = []
    for k, (title, fig) in enumerate(_figures(report)):
        charts.append(
            f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=k == 0, div_id=f"chart-{k}", config={"displaylogo": False})
        )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em}"
        "dt{font-weight:bold;float:left;clear:left;width:12em}dd{margin-left:13em;margin-bottom:.3em}pre{background:#f4f4f4;padding:.8em;"
        "white-space:pre-wrap;word-break:break-all}table.t{border-collapse:collapse;font-size:.85em}table.t td,table.t th{border:1px solid #ccc;"
        "padding:2px 6px}@media print{.js-plotly-plot{page-break-inside:avoid}}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>LLM inference sizing report</title>"
        f"<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'unsafe-eval'; img-src data:\">"
        f"<style>{style}</style></head><body><h1>LLM inference sizing report</h1>{''.join(parts[:6])}{''.join(charts)}{''.join(parts[6:])}</body></html>\n"
    )


def to_csv(report: dict) -> str:
    """The compared configurations (a fleet report's options and rejections; an estimate's one row)."""
    rec = report.get("recommendation")
    if rec:
        frame = pd.concat([pd.DataFrame(rec["recommendations"]).assign(status="meets the targets"), pd.DataFrame(rec["rejected"]).assign(status="rejected")])
    else:
        frame = pd.DataFrame([{k: v for k, v in report["estimate"].items() if not isinstance(v, list)}])
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def to_pdf(report: dict) -> bytes:
    """The HTML report printed by headless Chromium."""
    exe = chromium()
    if exe is None:
        raise PlannerError("PDF needs Chromium (apt-get install chromium); the HTML format holds the same report")
    with tempfile.TemporaryDirectory() as tmp:
        page, pdf = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(to_html(report))
        argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw"]
        argv += ["--virtual-time-budget=10000", f"--print-to-pdf={pdf}", page.as_uri()]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or not pdf.exists():
            raise PlannerError(f"Chromium could not print the report (exit {done.returncode}): {(done.stderr or '').strip().splitlines()[-1:] or ''}")
        return pdf.read_bytes()


def render(report: dict, fmt: str) -> str | bytes:
    if fmt not in FORMATS:
        raise PlannerError(f"format {fmt!r} is not one of: {', '.join(FORMATS)}")
    return {"html": to_html, "pdf": to_pdf, "md": to_markdown, "json": to_json, "csv": to_csv}[fmt](report)


def write_report(report: dict, fmt: str, out: str | Path) -> Path:
    """Render and write atomically (complete or not at all)."""
    data = render(report, fmt)
    return atomic_write_bytes(out, data if isinstance(data, bytes) else data.encode("utf-8"))


def read_report(path: str | Path) -> dict:
    """A report JSON written by `write_report`; refused if another schema version."""
    path = Path(path)
    data = read_json(path, "report")
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION or "question" not in data:
        raise PlannerError(f"{path}: not a planner report of schema version {SCHEMA_VERSION}")
    return data


def _memory_setting(e: dict) -> str:
    """ ", mem_fraction_static 0.855" for a report's estimate (nothing for a report saved before it was recorded)."""
    fraction = e.get("memory_fraction")
    return f", {MEMORY_SETTING.get(e['engine'], 'memory fraction')} {fraction:g}" if fraction is not None else ""


__all__ = ["build_report", "render", "write_report", "read_report", "memory_parts", "FORMATS", "SCHEMA_VERSION"]
