"""Request logs: read a trace of real traffic and describe it.

A log is CSV or JSON lines, one request per row, with input and output token counts and an
optional arrival time. Column names are recognised as the public traces spell them (Azure LLM
inference traces, BurstGPT, Mooncake, Splitwise, Vidur's processed traces, ShareGPT-derived
length lists); anything else is mapped with `input_column` / `output_column` / `time_column`.
Prompt / response text instead of counts is converted at about 4 characters per token (the
rule of thumb for Llama-class tokenizers) and the result is labelled an estimate.

Bad input is a one-line `PlannerError` naming the file, and the line where one is at fault.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PlannerError
from .fileio import json_lines, read_text
from .workload import MAX_TOKENS, LengthDist, RequestMix

#: Largest request log read (bytes): about 5 M rows of a three-column CSV.
MAX_LOG_BYTES = 256 * 1024**2
#: Characters per token when only text is given (Llama-class tokenizers on English text).
CHARS_PER_TOKEN = 4.0
INPUT_COLUMNS = (
    "input_tokens",
    "contexttokens",
    "context_tokens",
    "prompt_tokens",
    "input_length",
    "input_len",
    "prompt_len",
    "prompt_length",
    "request tokens",
    "request_tokens",
    "num_prefill_tokens",
    "isl",
    "num_input_tokens",
)
OUTPUT_COLUMNS = (
    "output_tokens",
    "generatedtokens",
    "generated_tokens",
    "completion_tokens",
    "output_length",
    "output_len",
    "response tokens",
    "response_tokens",
    "num_decode_tokens",
    "osl",
    "num_output_tokens",
)
TIME_COLUMNS = ("timestamp", "arrival_time", "arrived_at", "time", "created", "request_time")
INPUT_TEXT_COLUMNS = ("prompt", "input", "input_text", "question", "request")
OUTPUT_TEXT_COLUMNS = ("response", "output", "output_text", "completion", "answer")


@dataclass(frozen=True)
class RequestLog:
    """The requests of a log: lengths and (when the log has them) arrival times in seconds."""

    path: str
    isl: np.ndarray
    osl: np.ndarray
    arrivals_s: np.ndarray | None
    estimated: bool
    time_note: str

    def __len__(self) -> int:
        return len(self.isl)

    def mix(self, prefix_tokens: int = 0, cache_hit_rate: float = 0.0) -> RequestMix:
        """The log as a workload: its joint lengths and arrivals."""
        name = Path(self.path).name
        return RequestMix(
            LengthDist("empirical", (), tuple(int(v) for v in self.isl)),
            LengthDist("empirical", (), tuple(int(v) for v in self.osl)),
            prefix_tokens,
            cache_hit_rate,
            source=f"{name} ({len(self):,} requests)",
            estimated=self.estimated,
            pairs=np.column_stack([self.isl, self.osl]),
            arrivals_s=self.arrivals_s,
        )

    @property
    def duration_s(self) -> float:
        if self.arrivals_s is None or len(self.arrivals_s) < 2:
            return math.nan
        return float(self.arrivals_s[-1] - self.arrivals_s[0])

    def per_minute(self) -> pd.Series:
        """Requests arriving in each minute of the log (index: minute from the start)."""
        return per_minute(self.arrivals_s)

    def peak_window(self, seconds: float = 60.0) -> tuple[float, float]:
        """The busiest window of the log: `(start offset s, requests/s in it)`."""
        return peak_window(self.arrivals_s, seconds)


def per_minute(arrivals_s: np.ndarray | None) -> pd.Series:
    """Requests arriving in each minute from the first arrival (index: minute)."""
    if arrivals_s is None or len(arrivals_s) == 0:
        return pd.Series(dtype=float)
    minute = np.floor((np.asarray(arrivals_s, dtype=float) - arrivals_s[0]) / 60.0).astype(int)
    return pd.Series(np.bincount(minute), name="requests")


def peak_window(arrivals_s: np.ndarray | None, seconds: float = 60.0) -> tuple[float, float]:
    """The busiest `seconds`-long window of sorted arrival times: `(its start from the first arrival, requests/s in it)`."""
    if arrivals_s is None or len(arrivals_s) == 0:
        return math.nan, math.nan
    t = np.asarray(arrivals_s, dtype=float) - arrivals_s[0]
    counts = np.searchsorted(t, t + seconds, side="left") - np.arange(len(t))
    i = int(np.argmax(counts))
    return float(t[i]), float(counts[i] / seconds)


def _find(columns: dict[str, str], wanted: tuple[str, ...], given: str | None, path: Path, what: str) -> str | None:
    if given:
        key = given.strip().lower()
        if key not in columns:
            raise PlannerError(f"{path}: no column {given!r} for the {what} (columns: {', '.join(columns.values())})")
        return columns[key]
    for name in wanted:
        if name in columns:
            return columns[name]
    return None


def _read_frame(path: Path) -> tuple[pd.DataFrame, int]:
    """The rows of a CSV or JSON-lines file, and the file line of the first row."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PlannerError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read ({exc.strerror})") from None
    if path.is_dir():
        raise PlannerError(f"{path}: is a folder, not a request log (give a CSV or JSON-lines file)")
    if size > MAX_LOG_BYTES:
        raise PlannerError(f"{path}: {size / 1024**2:,.0f} MiB is larger than the {MAX_LOG_BYTES // 1024**2} MiB a request log may be; sample it first")
    if size == 0:
        raise PlannerError(f"{path}: the file is empty")
    with path.open("rb") as f:
        head = f.read(4096).lstrip()
    if head[:1] in (b"{", b"["):
        rows = []
        text = read_text(path, "request log")
        if text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PlannerError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
            except RecursionError:
                raise PlannerError(f"{path}: JSON nested too deeply") from None
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise PlannerError(f"{path}: a JSON request log must be a list of objects, one per request")
            return pd.DataFrame(rows), 1
        for lineno, row in json_lines(path, text):
            row["__line__"] = lineno
            rows.append(row)
        return pd.DataFrame(rows), 1
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PlannerError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise PlannerError(f"{path}: the file is empty") from None
    return frame, 2


def _lines(frame: pd.DataFrame, first_line: int) -> np.ndarray:
    if "__line__" in frame:
        return frame["__line__"].to_numpy()
    return np.arange(len(frame)) + first_line


def _tokens(frame: pd.DataFrame, column: str, path: Path, lines: np.ndarray, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values) | (values < 0) | (values > MAX_TOKENS) | (values != np.floor(values))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise PlannerError(
            f"{path}: line {lines[i]}: {what} {_shown(frame[column].iloc[i])} in column {column!r} is not a whole number of tokens in 0..{MAX_TOKENS:,}"
        )
    return values.to_numpy(dtype=np.int64)


def _shown(v) -> str:
    """A value as the file has it: strings quoted, numbers plain (no numpy reprs)."""
    return repr(v) if isinstance(v, str) else str(v.item() if hasattr(v, "item") else v)


def _text_tokens(frame: pd.DataFrame, column: str) -> np.ndarray:
    chars = frame[column].fillna("").astype(str).str.len().to_numpy()
    return np.maximum(np.ceil(chars / CHARS_PER_TOKEN), 1).astype(np.int64)


def _arrivals(frame: pd.DataFrame, column: str, path: Path, lines: np.ndarray, unit: str | None) -> tuple[np.ndarray, str, np.ndarray]:
    """Arrival times in seconds from the first, sorted; a note on how they were read; the sort order."""
    raw = frame[column]
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        name = column.lower()
        assumed = None if unit else True
        if unit is None:
            unit = "ms" if ("ms" in name.replace("timestamp", "") or set(frame.columns) >= {"timestamp", "input_length", "output_length"}) else "s"
        scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}[unit]
        t = numeric.to_numpy(dtype=float) * scale
        note = f"column {column!r} read as {'seconds' if unit == 's' else unit} from the start" + (
            "" if assumed is None else " (assumed; --time-unit to change)"
        )
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise PlannerError(f"{path}: line {lines[i]}: time {_shown(raw.iloc[i])} in column {column!r} is neither a date-time nor a number")
        t = (parsed - parsed.min()).dt.total_seconds().to_numpy()
        note = f"column {column!r} read as date-times"
    order = np.argsort(t, kind="stable")
    t = t[order]
    return t - t[0], note if np.all(order == np.arange(len(order))) else note + " (rows sorted by time)", order


def read_log(
    path: str | Path, input_column: str | None = None, output_column: str | None = None, time_column: str | None = None, time_unit: str | None = None
) -> RequestLog:
    """Read a request log (CSV or JSON lines). Errors name the file, and the line where one is at fault."""
    path = Path(path).expanduser()
    frame, first_line = _read_frame(path)
    if frame.empty:
        raise PlannerError(f"{path}: no requests in the file")
    columns = {str(c).strip().lower(): c for c in frame.columns if c != "__line__"}
    lines = _lines(frame, first_line)
    estimated = False
    in_col = _find(columns, INPUT_COLUMNS, input_column, path, "input tokens")
    out_col = _find(columns, OUTPUT_COLUMNS, output_column, path, "output tokens")
    in_text = None if in_col else _find(columns, INPUT_TEXT_COLUMNS, None, path, "prompt text")
    out_text = None if out_col else _find(columns, OUTPUT_TEXT_COLUMNS, None, path, "response text")
    if not (in_col or in_text) or not (out_col or out_text):
        missing = [w for w, ok in (("input tokens", in_col or in_text), ("output tokens", out_col or out_text)) if not ok]
        raise PlannerError(
            f"{path}: no column for {' and '.join(missing)} (columns: {', '.join(map(str, columns.values()))}); name them with --input-column / --output-column"
        )
    if in_col:
        isl = _tokens(frame, in_col, path, lines, "input tokens")
    else:
        isl, estimated = _text_tokens(frame, in_text), True
    if out_col:
        osl = _tokens(frame, out_col, path, lines, "output tokens")
    else:
        osl, estimated = _text_tokens(frame, out_text), True
    # a request with no prompt or no output cannot be served as such: count it as one token
    isl, osl = np.maximum(isl, 1), np.maximum(osl, 1)
    t_col = _find(columns, TIME_COLUMNS, time_column, path, "arrival time")
    arrivals, note = (None, "no arrival times in the log")
    if t_col is not None:
        arrivals, note, order = _arrivals(frame, t_col, path, lines, time_unit)
        isl, osl = isl[order], osl[order]
    return RequestLog(str(path), isl, osl, arrivals, estimated, note)


# ---------------------------------------------------------------------------------------------
# describing a log
# ---------------------------------------------------------------------------------------------

PATTERNS = ("short in / short out", "short in / long out", "long in / short out", "long in / long out")
#: Default thresholds between short and long (tokens): a prompt of more than 1,024 tokens is long, an answer of more than 256.
LONG_INPUT_TOKENS = 1024
LONG_OUTPUT_TOKENS = 256


def percentiles(values: np.ndarray, qs=(50, 90, 95, 99)) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    out = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
    out.update({f"p{q}": float(np.percentile(v, q)) for q in qs})
    return out


def histogram2d(isl: np.ndarray, osl: np.ndarray, bins: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of requests on log-spaced ISL x OSL bins: `(counts[isl_bin, osl_bin], isl_edges, osl_edges)`."""
    ie = np.unique(np.geomspace(1, max(float(np.max(isl)), 2.0) * 1.0001, bins + 1))
    oe = np.unique(np.geomspace(1, max(float(np.max(osl)), 2.0) * 1.0001, bins + 1))
    counts, _, _ = np.histogram2d(isl, osl, bins=[ie, oe])
    return counts, ie, oe


def pattern_of(isl, osl, long_input: int = LONG_INPUT_TOKENS, long_output: int = LONG_OUTPUT_TOKENS) -> np.ndarray:
    """Index into `PATTERNS` of each request."""
    return 2 * (np.asarray(isl) > long_input).astype(int) + (np.asarray(osl) > long_output).astype(int)


def pattern_shares(isl, osl, gpu_seconds=None, long_input: int = LONG_INPUT_TOKENS, long_output: int = LONG_OUTPUT_TOKENS) -> pd.DataFrame:
    """Share of requests, tokens and (given each request's GPU-seconds) GPU time per query pattern."""
    isl, osl = np.asarray(isl), np.asarray(osl)
    which = pattern_of(isl, osl, long_input, long_output)
    n = len(isl)
    rows = []
    for k, name in enumerate(PATTERNS):
        m = which == k
        row = {
            "pattern": name,
            "requests": int(m.sum()),
            "share_requests": float(m.sum() / n) if n else 0.0,
            "mean_isl": float(isl[m].mean()) if m.any() else math.nan,
            "mean_osl": float(osl[m].mean()) if m.any() else math.nan,
            "share_input_tokens": float(isl[m].sum() / isl.sum()) if n else 0.0,
            "share_output_tokens": float(osl[m].sum() / osl.sum()) if n else 0.0,
        }
        if gpu_seconds is not None:
            g = np.asarray(gpu_seconds, dtype=float)
            row["share_gpu_time"] = float(g[m].sum() / g.sum()) if g.sum() > 0 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)
