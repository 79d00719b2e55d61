"""Importers: benchmark outputs of the field -> one measurement table (DESIGN §4 columns).

Reads the measurement CSV; trtllm-bench `--report_json` files and its printed text report (old
and new layouts); GenAI-Perf `profile_export_genai_perf.json` / `.csv`; AIPerf
`profile_export_aiperf.json` / `.csv` (old `records` and new flat layouts); vLLM
`vllm bench serve` / `benchmark_serving.py --save-result` JSON; SGLang `bench_serving` JSON lines.

Where a file does not say the model, GPU, precision, TP or the operating point, the caller passes
them (`overrides`); `import_file` reports which fields it could not find, and `import_files`
refuses with the list and the option to add. Metric conventions: TTFT, ITL excluding the first
token (GenAI-Perf / AIPerf `inter_token_latency`, vLLM / SGLang / trtllm-bench TPOT), output
tokens/s over the whole run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .catalog import get_gpu, get_model
from .errors import PlannerError
from .fileio import json_lines
from .measurements import COLUMNS, read_measurements

#: What a row needs to be useful for calibration, and the option that supplies each. Nothing is
#: assumed: a run's parallelism is as much a part of it as its GPU (a TP4 x DP2 result recorded
#: as TP1 fits a profile 3x off).
REQUIRED = {
    "model": "--model",
    "gpu": "--gpu",
    "engine": "--engine",
    "precision": "--precision",
    "tp": "--tp",
    "pp": "--pp",
    "isl": "--isl",
    "osl": "--osl",
}
HINTS = {
    **REQUIRED,
    "concurrency": "--concurrency (or --request-rate)",
    "attention_dp": "--attention-dp (data-parallel ranks; 1 for a run without data parallelism)",
}
#: Largest benchmark file read (bytes): the biggest real ones (per-request arrays) are a few MiB.
MAX_FILE_BYTES = 256 << 20
#: Files a folder import looks at (others are listed as skipped).
BENCHMARK_SUFFIXES = (".json", ".jsonl", ".csv", ".txt", ".log")
OVERRIDABLE = ("model", "gpu", "engine", "precision", "kv_precision", "tp", "pp", "ep", "attention_dp", "isl", "osl", "concurrency", "request_rate")


@dataclass
class Imported:
    """Rows read from one file, which fields the file lacked, and what the importer assumed."""

    path: Path
    format: str
    rows: list[dict]
    missing: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    load_known: bool = True  # False: the file does not record the concurrency or request rate


def _num(text) -> float | None:
    """A number from a report cell: thousands separators, 'None', 'inf' and blanks handled."""
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    t = str(text).strip().replace(",", "").rstrip("%")
    if t == "" or t.lower() in ("none", "null", "n/a", "nan"):
        return None
    try:
        return float(t)
    except ValueError:
        return None


def _precision(quant, dtype=None) -> str | None:
    """Our precision name from a tool's quantization / dtype label."""
    q = str(quant or "").strip().lower().replace("-", "_")
    if q and q not in ("none", "null", "auto", "no_quant"):
        if "mxfp4" in q:  # W4A16_MXFP4, W4A8_MXFP4_FP8, W4A8_MXFP4_MXFP8: MXFP4 weights
            return "mxfp4"
        if "nvfp4" in q or q == "fp4":
            return "nvfp4"
        if "fp8" in q:
            return "fp8"
        if "w4a16" in q or "awq" in q or "gptq" in q or q in ("int4", "int4_wo", "w4a16_awq"):
            return "int4"
        if "int8" in q or "w8a8" in q or "smoothquant" in q:
            return "int8"
        return q
    d = str(dtype or "").strip().lower()
    return {"bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "fp16": "fp16", "half": "fp16"}.get(d)


def _kv_precision(label) -> str | None:
    q = str(label or "").strip().lower()
    if q in ("", "none", "null", "auto"):
        return None
    return "fp8" if "fp8" in q else ("nvfp4" if "fp4" in q else ("int8" if "int8" in q else _precision(None, q)))


def _row(**kw) -> dict:
    return {k: kw.get(k) for k in COLUMNS}


# ---------------------------------------------------------------------------------------------
# trtllm-bench
# ---------------------------------------------------------------------------------------------


def _dig(data: dict, dotted: str):
    cur = data
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def read_trtllm_json(path: Path, data: dict) -> Imported:
    """`trtllm-bench throughput --report_json` (streaming metrics only with `--streaming`)."""
    tok_s = _dig(data, "performance.system_output_throughput_tok_s")
    if tok_s is None:
        raise PlannerError(f"{path}: trtllm-bench report JSON lacks 'performance.system_output_throughput_tok_s'")
    out = Imported(path, "trtllm-bench report JSON", [])
    version = _dig(data, "engine.version")
    out.rows.append(
        _row(
            model=_dig(data, "engine.model"),
            gpu=_dig(data, "machine.name"),
            engine="trtllm",
            precision=_precision(_dig(data, "engine.quantization"), _dig(data, "engine.dtype")),
            kv_precision=_kv_precision(_dig(data, "engine.kv_cache_dtype")),
            tp=_dig(data, "world_info.tp_size"),
            pp=_dig(data, "world_info.pp_size"),
            ep=_dig(data, "world_info.ep_size"),
            isl=_dig(data, "request_info.avg_input_length") or _dig(data, "dataset.isl_stats.average"),
            osl=_dig(data, "request_info.avg_output_length") or _dig(data, "dataset.osl_stats.average"),
            num_requests=_dig(data, "request_info.num_requests"),
            output_tok_s=tok_s,
            ttft_ms=_dig(data, "streaming_metrics.avg_ttft_ms"),
            itl_ms=_dig(data, "streaming_metrics.avg_tpot_ms"),
            e2e_ms=_dig(data, "performance.avg_request_latency_ms"),
            source=f"trtllm-bench {version or ''} report JSON {path.name}".replace("  ", " "),
            engine_version=version,
        )
    )
    if _dig(data, "streaming_metrics") is None:
        out.notes.append("no streaming_metrics (run without --streaming): TTFT / ITL not measured")
    return out


_TEXT_KEYS = {
    "model": "model",
    "tensorrt-llm version": "version",
    "dtype": "dtype",
    "kv cache dtype": "kv",
    "quantization": "quant",
    "tp size": "tp",
    "pp size": "pp",
    "ep size": "ep",
    "number of requests": "num_requests",
    "average input length (tokens)": "isl",
    "average output length (tokens)": "osl",
    "token throughput (tokens/sec)": "tok_s_old",
    "total output throughput (tokens/sec)": "tok_s",
    "average request latency (ms)": "e2e",
    "average time-to-first-token [ttft] (ms)": "ttft",
    "average time-per-output-token [tpot] (ms)": "tpot",
}


def read_trtllm_text(path: Path, text: str) -> Imported:
    """The report `trtllm-bench throughput` prints (0.1x ENGINE DETAILS layout and the newer one)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line or line.lstrip().startswith(("[", "-", "=")):
            continue
        key, _, value = line.partition(":")
        k = _TEXT_KEYS.get(re.sub(r"\s+", " ", key.strip().lower()))
        if k and k not in found:
            found[k] = value.strip()
    tok_s = _num(found.get("tok_s")) or _num(found.get("tok_s_old"))
    if tok_s is None:
        raise PlannerError(f"{path}: trtllm-bench text report has no 'Total Output Throughput (tokens/sec)' or 'Token Throughput (tokens/sec)' line")
    out = Imported(path, "trtllm-bench text report", [])
    version = found.get("version")
    out.rows.append(
        _row(
            model=found.get("model"),
            engine="trtllm",
            precision=_precision(found.get("quant"), found.get("dtype")),
            kv_precision=_kv_precision(found.get("kv")),
            tp=_num(found.get("tp")),
            pp=_num(found.get("pp")),
            ep=_num(found.get("ep")),
            isl=_num(found.get("isl")),
            osl=_num(found.get("osl")),
            num_requests=_num(found.get("num_requests")),
            output_tok_s=tok_s,
            ttft_ms=_num(found.get("ttft")),
            itl_ms=_num(found.get("tpot")),
            e2e_ms=_num(found.get("e2e")),
            source=f"trtllm-bench {version or ''} text report {path.name}".replace("  ", " "),
            engine_version=version,
        )
    )
    if "model" not in found:
        out.notes.append("the report does not show the model block")
    return out


# ---------------------------------------------------------------------------------------------
# GenAI-Perf and AIPerf
# ---------------------------------------------------------------------------------------------

#: metric names (lower case, units stripped) -> our column
_PERF_METRICS = {
    "time to first token": "ttft_ms",
    "ttft": "ttft_ms",
    "time_to_first_token": "ttft_ms",
    "inter token latency": "itl_ms",
    "inter_token_latency": "itl_ms",
    "request latency": "e2e_ms",
    "request_latency": "e2e_ms",
    "output sequence length": "osl",
    "output_sequence_length": "osl",
    "input sequence length": "isl",
    "input_sequence_length": "isl",
    "output token throughput": "output_tok_s",
    "output_token_throughput": "output_tok_s",
    "request count": "num_requests",
    "request_count": "num_requests",
}


def _metric_name(label: str) -> str:
    return re.sub(r"\s*\([^)]*\)\s*$", "", label.strip()).lower()


def read_perf_csv(path: Path, text: str, tool: str) -> Imported:
    """GenAI-Perf / AIPerf CSV export: a percentile table, a blank line, then `Metric,Value` rows."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].startswith("Config Name"):
        raise PlannerError(
            f"{path}: a 'genai-perf analyze' sweep export (p99 latencies only, no averages or output lengths); import the per-run profile_export_genai_perf.csv/.json files instead"
        )
    values: dict[str, float] = {}
    header: list[str] | None = None
    for n, row in enumerate(csv.reader(io.StringIO("\n".join(lines))), start=1):
        if not row or not any(c.strip() for c in row):
            header = None
            continue
        if row[0].strip().lower() == "metric":
            header = [c.strip().lower() for c in row]
            continue
        if header is None:
            raise PlannerError(f"{path}: line {n}: expected a 'Metric,...' header before {row[0]!r}")
        col = _PERF_METRICS.get(_metric_name(row[0]))
        if col is None or col in values:
            continue
        where = header.index("avg") if "avg" in header else (header.index("value") if "value" in header else 1)
        if where >= len(row):
            raise PlannerError(f"{path}: line {n}: row {row[0]!r} is truncated")
        v = _num(row[where])
        if v is not None:
            values[col] = v
    if not values:
        raise PlannerError(f"{path}: no {tool} metrics found (expected rows such as 'Time To First Token (ms)')")
    out = Imported(path, f"{tool} CSV", [_row(**values, source=f"{tool} CSV {path.name}")], load_known=False)
    out.notes.append("a CSV export does not record the model, GPU or load: pass them as options")
    return out


def _perf_json_metric(data: dict, *names: str) -> float | None:
    records = data.get("records") if isinstance(data.get("records"), dict) else {}
    for name in names:
        for src in (data, records):
            m = src.get(name)
            if isinstance(m, dict) and m.get("avg") is not None:
                return float(m["avg"])
    return None


def read_perf_json(path: Path, data: dict, tool: str) -> Imported:
    """GenAI-Perf / AIPerf profile export JSON (flat metrics, or AIPerf's older `records`)."""
    tok_s = _perf_json_metric(data, "output_token_throughput")
    ttft = _perf_json_metric(data, "time_to_first_token", "ttft")
    itl = _perf_json_metric(data, "inter_token_latency")
    if tok_s is None and ttft is None and itl is None:
        raise PlannerError(f"{path}: no {tool} metrics (output_token_throughput, time_to_first_token, inter_token_latency) in the file")
    cfg = data.get("input_config") or {}
    ep = cfg.get("endpoint") if isinstance(cfg.get("endpoint"), dict) else {}
    models = cfg.get("model_names") or ep.get("model_names") or cfg.get("model") or []
    model = models[0] if isinstance(models, list) and models else (models or None)
    load = cfg.get("loadgen") or (cfg.get("perf_analyzer") or {}).get("stimulus") or cfg
    concurrency = _num(load.get("concurrency")) if isinstance(load, dict) else None
    rate = _num(load.get("request_rate")) if isinstance(load, dict) else None
    gpu = None
    for endpoint in ((data.get("telemetry_data") or {}).get("endpoints") or {}).values():
        for g in (endpoint.get("gpus") or {}).values():
            gpu = gpu or g.get("gpu_name")
    row = _row(
        model=model,
        gpu=gpu,
        isl=_perf_json_metric(data, "input_sequence_length"),
        osl=_perf_json_metric(data, "output_sequence_length"),
        concurrency=concurrency if rate is None else None,
        request_rate=rate,
        num_requests=_perf_json_metric(data, "request_count"),
        output_tok_s=tok_s,
        ttft_ms=ttft,
        itl_ms=itl,
        e2e_ms=_perf_json_metric(data, "request_latency"),
        source=f"{tool} JSON {path.name}",
    )
    out = Imported(path, f"{tool} JSON", [row])
    errors = _perf_json_metric(data, "error_request_count")
    if errors:
        out.notes.append(f"{errors:.0f} requests failed or were cancelled; metrics cover the completed ones")
    return out


# ---------------------------------------------------------------------------------------------
# vLLM and SGLang serving benchmarks
# ---------------------------------------------------------------------------------------------


def _load_point(rate, concurrency) -> tuple[float | None, float | None]:
    """(concurrency, request_rate) of a serving benchmark; both empty means all requests at once."""
    r = _num(rate)
    c = _num(concurrency)
    if c is not None and c > 0:
        return c, None
    if r is not None and math.isfinite(r):
        return None, r
    return None, None


def read_vllm_json(path: Path, data: dict) -> Imported:
    """`vllm bench serve --save-result` / `benchmark_serving.py` JSON (old and new layouts)."""
    completed = _num(data.get("completed"))
    if not completed or data.get("output_throughput") is None:
        raise PlannerError(f"{path}: vLLM benchmark JSON lacks 'completed' or 'output_throughput'")
    conc, rate = _load_point(data.get("request_rate"), data.get("max_concurrency"))
    model = data.get("model_id")
    out = Imported(path, "vLLM benchmark JSON", [])
    out.rows.append(
        _row(
            model=model if model and not str(model).startswith(("/", ".")) else None,
            engine="vllm" if data.get("backend", "vllm") in ("vllm", "openai", "openai-chat") else data.get("backend"),
            isl=_num(data.get("total_input_tokens")) / completed if data.get("total_input_tokens") is not None else None,
            osl=_num(data.get("total_output_tokens")) / completed if data.get("total_output_tokens") is not None else None,
            concurrency=conc,
            request_rate=rate,
            num_requests=completed,
            output_tok_s=_num(data.get("output_throughput")),
            ttft_ms=_num(data.get("mean_ttft_ms")),
            itl_ms=_num(data.get("mean_tpot_ms")),
            e2e_ms=_num(data.get("mean_e2el_ms")),
            source=f"vllm bench serve JSON {path.name} ({data.get('date', '')})",
        )
    )
    if model and str(model).startswith(("/", ".")):
        out.notes.append(f"model_id is a local path ({model}): pass --model")
    return out


def read_sglang_jsonl(path: Path, text: str) -> Imported:
    """SGLang `bench_serving --output-file` JSON lines: one run per line."""
    out = Imported(path, "SGLang bench_serving JSONL", [])
    for n, d in json_lines(path, text):
        completed = _num(d.get("completed"))
        if not completed or d.get("output_throughput") is None:
            raise PlannerError(f"{path}: line {n}: SGLang result lacks 'completed' or 'output_throughput'")
        info = d.get("server_info") if isinstance(d.get("server_info"), dict) else {}
        conc, rate = _load_point(d.get("request_rate"), d.get("max_concurrency"))
        model = info.get("served_model_name") or info.get("model_path")
        ttft = _num(d.get("mean_ttft_ms"))
        itl = _num(d.get("mean_tpot_ms"))
        if ttft is None and d.get("median_ttft_ms") is not None:
            ttft = _num(d.get("median_ttft_ms"))
            out.notes.append(f"line {n}: only medians recorded; TTFT / ITL are medians")
        if itl is None:
            itl = _num(d.get("median_itl_ms"))
        tp, adp = info.get("tp_size"), info.get("dp_size")
        if info and info.get("enable_dp_attention") and tp and adp:  # SGLang: dp_size attention ranks share the tp_size GPUs
            tp = tp // adp if tp % adp == 0 else tp
        elif info and tp and adp is None:
            adp = 1  # server_info without dp_size: a version before data parallelism
        out.rows.append(
            _row(
                model=model if model and not str(model).startswith(("/", ".")) else None,
                engine="sglang",
                precision=_precision(info.get("quantization"), info.get("dtype")) if info else None,
                kv_precision=_kv_precision(info.get("kv_cache_dtype")),
                tp=tp,
                pp=info.get("pp_size"),
                ep=info.get("ep_size"),
                attention_dp=adp,
                isl=_num(d.get("total_input_tokens")) / completed if d.get("total_input_tokens") is not None else _num(d.get("random_input_len")),
                osl=_num(d.get("total_output_tokens")) / completed if d.get("total_output_tokens") is not None else _num(d.get("random_output_len")),
                concurrency=conc,
                request_rate=rate,
                num_requests=completed,
                output_tok_s=_num(d.get("output_throughput")),
                ttft_ms=ttft,
                itl_ms=itl,
                e2e_ms=_num(d.get("mean_e2e_latency_ms")),
                source=f"sglang {info.get('version', '')} bench_serving {path.name} line {n}".replace("  ", " "),
                engine_version=info.get("version"),
            )
        )
    if not out.rows:
        raise PlannerError(f"{path}: empty SGLang results file")
    return out


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------


def _json(path: Path, text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlannerError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg} (truncated file?)") from None
    except RecursionError:
        raise PlannerError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise PlannerError(f"{path}: expected a JSON object at the top level")
    return data


def detect_and_read(path: Path) -> Imported:
    """Read one benchmark file, recognising its format from its content."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PlannerError(f"{path}: {size / 2**20:.0f} MiB is larger than a benchmark result can be ({MAX_FILE_BYTES >> 20} MiB at most)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlannerError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read ({exc.strerror})") from None
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    stripped = text.lstrip()
    if not stripped:
        raise PlannerError(f"{path}: empty file")
    first_line = stripped.splitlines()[0].strip()
    if first_line.startswith("{") and path.suffix == ".jsonl":
        d = _json(path, first_line) if first_line.endswith("}") else {}
        if "metadata" in d and "metrics" in d or "metadata" in d and "error" in d:
            raise PlannerError(
                f"{path}: AIPerf per-request records (profile_export.jsonl); import the run's profile_export_aiperf.json or .csv summary instead"
            )
        return read_sglang_jsonl(path, text)
    if stripped.startswith("{"):
        data = _json(path, text)
        if "performance" in data or "engine" in data and "world_info" in data:
            return read_trtllm_json(path, data)
        if "output_throughput" in data or "completed" in data:
            return read_vllm_json(path, data)
        tool = "AIPerf" if ("records" in data or "benchmark_duration" in data or "aiperf" in path.name.lower()) else "GenAI-Perf"
        return read_perf_json(path, data, tool)
    if "= PERFORMANCE OVERVIEW" in text or "= ENGINE DETAILS" in text or "= REQUEST DETAILS" in text:
        return read_trtllm_text(path, text)
    if first_line.lower().startswith(("metric,", "config name,")):
        tool = "AIPerf" if "aiperf" in path.name.lower() or "Time to First Token" in text else "GenAI-Perf"
        return read_perf_csv(path, text, tool)
    if first_line.lower().startswith("model,") or "output_tok_s" in first_line:
        frame = read_measurements(path)
        if frame.empty:
            raise PlannerError(f"{path}: a measurement CSV with a header and no rows")
        return Imported(path, "measurement CSV", frame.to_dict("records"))
    raise PlannerError(
        f"{path}: unrecognised format; expected a measurement CSV, trtllm-bench report (JSON or text), GenAI-Perf / AIPerf export, vLLM or SGLang serving-benchmark result"
    )


def _empty(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _same(field: str, recorded, given) -> bool:
    """Whether an option agrees with the file. A GPU or model the catalog cannot resolve (a
    fine-tune's name, a hostname's GPU label) may be mapped by the option to a catalog one;
    two different catalog entries disagree."""
    if field in ("gpu", "model"):
        resolve = get_gpu if field == "gpu" else get_model
        try:
            own = resolve(str(recorded)).id
        except PlannerError:
            return True
        try:
            return own == resolve(str(given)).id
        except PlannerError:
            return False
    if isinstance(recorded, int | float) or isinstance(given, int | float):
        try:
            a, b = float(recorded), float(given)
        except (TypeError, ValueError):
            return False
        return a == b or (field in ("isl", "osl") and round(a) == round(b))
    return str(recorded).strip().lower() == str(given).strip().lower()


def import_file(path: str | Path, **overrides) -> Imported:
    """Read one file and apply `overrides` (model, gpu, engine, precision, tp, ...) to the fields
    it does not record; an option that contradicts what the file records is an error naming both.
    `missing` lists required fields that are still empty."""
    path = Path(path)
    imp = detect_and_read(path)
    given = {k: v for k, v in overrides.items() if k in OVERRIDABLE and v is not None}
    ours = imp.format == "measurement CSV"  # its blank tp / pp / attention_dp mean 1 (DESIGN §4)
    for row in imp.rows:
        for k, v in given.items():
            if not _empty(row.get(k)) and not _same(k, row[k], v):
                flag = "--" + k.replace("_", "-")
                raise PlannerError(f"{path}: the file records {k} {row[k]!r}, {flag} says {v!r}; drop {flag} to use the file's value")
            row[k] = v if _empty(row.get(k)) else row[k]
        if ours:
            for k in ("tp", "pp", "attention_dp"):
                row[k] = 1 if _empty(row.get(k)) else row[k]
        for k in ("isl", "osl"):
            if isinstance(row.get(k), float) and not math.isnan(row[k]):
                row[k] = int(round(row[k]))
        for k in REQUIRED:
            if _empty(row.get(k)):
                imp.missing.add(k)
        if _empty(row.get("attention_dp")):
            # TensorRT-LLM's attention DP splits the TP group, so a TP1 run has none; elsewhere
            # data parallelism is separate from TP and only the run's command says it.
            if str(row.get("engine")) == "trtllm" and not _empty(row.get("tp")) and float(row["tp"]) == 1:
                row["attention_dp"] = 1
            else:
                imp.missing.add("attention_dp")
        if not any(row.get(m) is not None and not (isinstance(row.get(m), float) and math.isnan(row[m])) for m in ("output_tok_s", "ttft_ms", "itl_ms")):
            imp.missing.add("a metric (output_tok_s, ttft_ms or itl_ms)")
        if not imp.load_known and row.get("concurrency") is None and row.get("request_rate") is None:
            imp.missing.add("concurrency")
    return imp


def _refusal(imp: Imported) -> str:
    fields = sorted(imp.missing)
    options = [HINTS[f] for f in fields if f in HINTS]
    hint = f"; pass {' '.join(o + ' ...' for o in options)}" if options else ""
    return f"{imp.path}: {imp.format} does not say {', '.join(fields)}{hint}"


def folder_files(folder: Path) -> tuple[list[Path], dict[Path, str]]:
    """The benchmark files of a folder (not recursive), and the other entries with why they are skipped."""
    files, skipped = [], {}
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            skipped[p] = "a folder (folders are not searched recursively)"
        elif p.name.startswith("."):
            skipped[p] = "a hidden file"
        elif p.suffix.lower() not in BENCHMARK_SUFFIXES:
            skipped[p] = f"not a benchmark file type ({', '.join(BENCHMARK_SUFFIXES)})"
        else:
            files.append(p)
    return files, skipped


def import_files(paths: list[str | Path], skipped: dict[Path, str] | None = None, **overrides) -> pd.DataFrame:
    """One measurement table from benchmark files and folders.

    A file named directly must import: one that cannot (unrecognised, or a required field neither
    in it nor given) is an error naming the file and the options to add, and nothing is written.
    In a folder, the files that cannot be imported are skipped and reported in `skipped` (path ->
    reason); it is an error when nothing at all could be imported."""
    frames = []
    skipped = {} if skipped is None else skipped
    for p in map(Path, paths):
        in_folder = p.is_dir()
        files, passed = folder_files(p) if in_folder else ([p], {})
        skipped.update(passed)
        for f in files:
            try:
                imp = import_file(f, **overrides)
                if imp.missing:
                    raise PlannerError(_refusal(imp))
            except PlannerError as exc:
                if not in_folder:
                    raise
                skipped[f] = str(exc).removeprefix(f"{f}: ")
                continue
            frames.append(pd.DataFrame(imp.rows))
    if not frames:
        reasons = "; ".join(f"{p.name}: {why}" for p, why in list(skipped.items())[:3])
        raise PlannerError(f"nothing imported from {', '.join(map(str, paths))}" + (f" ({reasons})" if reasons else ""))
    frame = pd.concat(frames, ignore_index=True)
    return frame[[c for c in COLUMNS if c in frame] + [c for c in frame.columns if c not in COLUMNS]]
