"""The measurement table (DESIGN §4): its columns, reading the CSV, and one row into `estimate`
keyword arguments. Importers write it, calibration fits it, `predict` scores it."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from .catalog import get_gpu, measured_gpu
from .errors import PlannerError

COLUMNS = [
    "model",
    "gpu",
    "engine",
    "precision",
    "kv_precision",
    "tp",
    "pp",
    "ep",
    "attention_dp",
    "isl",
    "osl",
    "concurrency",
    "request_rate",
    "num_requests",
    "output_tok_s",
    "ttft_ms",
    "itl_ms",
    "e2e_ms",
    "source",
    "engine_version",
]
#: Columns every measurement CSV must have.
REQUIRED_COLUMNS = ["model", "gpu", "precision", "isl", "osl"]


def read_measurements(path: str | Path) -> pd.DataFrame:
    """Read a measurement CSV; a missing file or column is a one-line `PlannerError`."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise PlannerError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read ({exc.strerror})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PlannerError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise PlannerError(f"{path}: missing column(s) {', '.join(missing)}; the measurement CSV needs at least {', '.join(REQUIRED_COLUMNS)}")
    return frame


def _int(v, default=None):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return default
    f = float(v)
    if f != int(f):
        raise PlannerError(f"expected a whole number, got {v!r}")
    return int(f)


def _float(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    return float(v)


def _str(v, default=None):
    if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
        return default
    return str(v).strip()


def row_kwargs(row: dict) -> dict:
    """`estimate` keyword arguments for one measurement row."""
    ep = _int(row.get("ep"), 1) or 1  # aiconfigurator writes ep 0 for dense models
    attention_dp = _int(row.get("attention_dp"), 1) or 1
    return dict(
        model=_str(row.get("model")),
        gpu=row_gpu(row),
        precision=_str(row.get("precision")),
        kv_precision=_str(row.get("kv_precision")),
        tp=_int(row.get("tp"), 1),
        pp=_int(row.get("pp"), 1),
        ep=ep,
        attention_dp=attention_dp,
        isl=_int(row.get("isl")),
        osl=_int(row.get("osl")),
        concurrency=row_concurrency(row, attention_dp),
        request_rate=_float(row.get("request_rate")),
        num_requests=_int(row.get("num_requests")),
        engine=_str(row.get("engine"), "trtllm"),
        engine_version=row_engine_version(row),
    )


def row_gpu(row: dict) -> str | None:
    """The catalog id of the GPU a row ran on (`catalog.measured_gpu`: a GH200 row on more than one
    GPU ran on DGX-GH200), or its `gpu` as written where the catalog lacks it (`estimate` then
    says so)."""
    name = _str(row.get("gpu"))
    try:
        gpus_used = (_int(row.get("tp"), 1) or 1) * (_int(row.get("pp"), 1) or 1) * (_int(row.get("attention_dp"), 1) or 1)
        return measured_gpu(name, gpus_used).id
    except PlannerError:
        return name


def systems_read(frame: pd.DataFrame) -> list[str]:
    """One line per GPU of a measurement table whose rows on more GPUs than one of its nodes holds
    are read on the multi-GPU system its catalog entry names (`row_gpu`), so that a user sees it."""
    counts: Counter[tuple[str, int, str]] = Counter()
    for row in frame.to_dict("records"):
        try:
            own = get_gpu(_str(row.get("gpu")))
        except PlannerError:
            continue
        if (ran_on := row_gpu(row)) != own.id:
            counts[own.id, own.gpus_per_node, ran_on] += 1
    return [f"{n} {gpu} row(s) on more GPUs than one {gpu} server holds ({per_node}) read as {ran_on}" for (gpu, per_node, ran_on), n in sorted(counts.items())]


def row_concurrency(row: dict, attention_dp: int = 1) -> int | None:
    """A row's closed-loop clients: its `concurrency`, or, for an attention-DP row whose `source`
    names the clients the benchmark ran as `silicon_concurrency=N` with N = concurrency x
    attention_dp, N. AIConfigurator's silicon samples file their `batch_size`, which counts the
    requests of one attention-DP rank, in the concurrency column, while aiperf ran
    `silicon_concurrency` clients against the whole replica (its `bench_run.sh.j2`); the source
    confirms the product for 168 of the file's 169 attention-DP rows."""
    clients = _int(row.get("concurrency"))
    if clients is None or attention_dp <= 1:
        return clients
    named = re.search(r"silicon_concurrency=(\d+)", str(_str(row.get("source")) or ""))
    if named and int(named.group(1)) == clients * attention_dp:
        return clients * attention_dp
    return clients


def row_engine_version(row: dict) -> str | None:
    """A row's engine version: its `engine_version`, else one its `source` names
    ('TensorRT-LLM perf-overview v0.13.0' -> 'v0.13.0', 'perf-overview v1.0@00f37686' -> 'v1.0')."""
    own = _str(row.get("engine_version"))
    if own:
        return own
    for token in str(_str(row.get("source")) or "").replace(",", " ").replace(";", " ").split():
        if token[:3] in ("v0.", "v1."):
            return token.split("-")[0].split("@")[0]
    return None
