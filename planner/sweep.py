"""Vectorised sweep: one model over a grid of GPUs x precisions x TP x PP x batch x ISL/OSL.

The whole grid is built as flat numpy arrays and evaluated by the same pure functions as a single
`estimate` (no Python loop per configuration). Invalid combinations (a precision the GPU lacks, a
TP that does not divide the heads) are dropped; configurations that do not fit are kept with
`fits = False` and empty performance figures, and so are those whose KV cache cannot hold one
request of the engine's `max_model_len` when one is given (column `holds_max_model_len`). Each
GPU x precision uses the calibration profile `estimate` would pick, unless `efficiencies` are
given; each row says so and how uncertain it is as `estimate` does (columns `source`,
`uncertainty_pct`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import serving
from .catalog import get_gpu, get_model
from .catalog import gpus as all_gpus
from .defaults import Efficiencies
from .errors import PlannerError
from .profiles import check_engine_version, class_bands, find_profile, profiles, uncertainties
from .roofline import HardwareTable, hardware_table
from .specs import GIB, EngineSettings, GpuSpec, ModelSpec, Precision, default_kv, parse_choice

CHUNK = 1 << 14
OUTPUT_COLUMNS = (
    "weights_gib_per_gpu",
    "kv_cache_gib_per_gpu",
    "max_concurrency",
    "fits",
    "ttft_ms",
    "itl_ms",
    "e2e_ms",
    "output_tok_s",
    "output_tok_s_per_gpu",
)
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: The four request patterns: short/long input x short/long output (tokens).
DEFAULT_LENGTHS = ((128, 128), (128, 2048), (2048, 128), (2048, 2048))


def nothing_runs(model: ModelSpec, gpus: Sequence[GpuSpec], precisions: Sequence[Precision], engine: str) -> PlannerError:
    """The error for a search in which no GPU runs any of the precisions asked for."""
    return PlannerError(
        f"no GPU of {', '.join(g.id for g in gpus)} runs {model.id} at precision {' or '.join(p.value for p in precisions)} with engine {engine}"
    )


def grid(
    model: ModelSpec, gpus: Sequence[GpuSpec], precisions: Sequence[Precision], tps, pps, batches, lengths, engine: str = "trtllm"
) -> dict[str, np.ndarray]:
    """Flat index arrays of the valid configurations of the Cartesian product (precisions the
    engine runs on each GPU)."""
    gi, pi, ti, qi, bi, li = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(len(gpus)),
            np.arange(len(precisions)),
            np.arange(len(tps)),
            np.arange(len(pps)),
            np.arange(len(batches)),
            np.arange(len(lengths)),
            indexing="ij",
        )
    )
    supported = np.array([[g.supports(p, engine) for p in precisions] for g in gpus])
    allowed = set(model.splits(tps, pps))
    split_ok = np.array([[(int(tp), int(pp)) in allowed for pp in pps] for tp in tps])
    tp_arr = np.asarray(tps, dtype=float)[ti]
    pp_arr = np.asarray(pps, dtype=float)[qi]
    valid = supported[gi, pi] & split_ok[ti, qi]
    if not valid.any():
        raise nothing_runs(model, gpus, precisions, engine)
    lens = np.asarray(lengths, dtype=float)
    return {
        "gpu_idx": gi[valid],
        "prec_idx": pi[valid],
        "tp": tp_arr[valid],
        "pp": pp_arr[valid],
        "batch": np.asarray(batches, dtype=float)[bi[valid]],
        "isl": lens[li[valid], 0],
        "osl": lens[li[valid], 1],
    }


def evaluate(
    model: ModelSpec,
    gpus: Sequence[GpuSpec],
    precisions: Sequence[Precision],
    g: dict[str, np.ndarray],
    engine: EngineSettings,
    eff: Efficiencies | dict,
    table: HardwareTable | None = None,
) -> dict[str, np.ndarray]:
    """Memory and the closed-loop operating point at concurrency = batch for every grid entry."""
    kvs = [default_kv(model, p) for p in precisions]
    s = serving.prepare(
        model, list(gpus), list(precisions), kvs, g["tp"], g["pp"], engine, eff, gpu_idx=g["gpu_idx"], prec_idx=g["prec_idx"], kv_idx=g["prec_idx"], table=table
    )
    point = serving.concurrency(s, g["isl"], g["osl"], g["batch"])
    gpus_used = g["tp"] * g["pp"]
    fits = point.plan.max_batch >= 1
    out = {
        "weights_gib_per_gpu": s.weights / GIB,
        "kv_cache_gib_per_gpu": np.maximum(point.plan.kv_budget, 0.0) / GIB,
        "max_concurrency": point.plan.max_batch,
    }
    if engine.max_model_len is not None:  # the engine must accept a request this long (vLLM refuses to start otherwise)
        out["holds_max_model_len"] = s.holds_request(engine.max_model_len, point.plan)
        fits = fits & out["holds_max_model_len"]
    blank = np.where(fits, 1.0, np.nan)
    return out | {
        "fits": fits,
        "ttft_ms": point.ttft_s * 1e3 * blank,
        "itl_ms": point.itl_s * 1e3 * blank,
        "e2e_ms": point.e2e_s * 1e3 * blank,
        "output_tok_s": point.output_tok_s * blank,
        "output_tok_s_per_gpu": point.output_tok_s / gpus_used * blank,
    }


def profile_efficiencies(
    gs: Sequence[GpuSpec], ps: Sequence[Precision], engine: str, model: ModelSpec | None = None, engine_version: str | None = None
) -> tuple[dict, dict]:
    """The calibration profile of each GPU x precision, as `estimate` picks it (the closest
    `engine_version` where given): efficiencies by `(gpu index, precision index)`, and the profiles
    with how they matched (`(profile, rule)`; a GPU without a profile of its own is analytic). Each
    configuration's source label and uncertainty follow from them (`row_sources`)."""
    eff, found = {}, {}
    pool = profiles()  # read the folder once, not once per pair
    for (i, gpu), (j, prec) in itertools.product(enumerate(gs), enumerate(ps)):
        prof, rule = find_profile(gpu.id, engine, prec.value, candidates=pool, engine_version=engine_version, model=model)
        if prof is not None:
            eff[(i, j)] = prof.efficiencies(prec, model)
            found[(i, j)] = (prof, rule)
    return eff, found


#: Bounds of the grid's loads and lengths (as `estimate` bounds one concurrency).
MAX_CONCURRENCY = 1_000_000
MAX_TOKENS = 16_777_216


def _check_whole(name: str, values, top: int) -> None:
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer() or not 1 <= v <= top:
            raise PlannerError(f"{name} {v!r}: must be whole numbers from 1 to {top:,}")


def sweep(
    model: str | ModelSpec,
    gpus: Sequence[str | GpuSpec] | None = None,
    precisions: Sequence[str | Precision] | None = None,
    tps: Sequence[int] = (1, 2, 4, 8),
    pps: Sequence[int] = (1, 2, 4),
    batches: Sequence[int] = DEFAULT_BATCHES,
    lengths: Sequence[tuple[int, int]] = DEFAULT_LENGTHS,
    engine: str | EngineSettings = "trtllm",
    efficiencies: Efficiencies | None = None,
) -> pd.DataFrame:
    """All valid configurations of one model as a DataFrame, one row per configuration.

    `engine`: an engine name, or its settings (`EngineSettings`: release, memory fraction, limits,
    and the `max_model_len` every configuration must accept). `precisions`: default, a quantized
    checkpoint's own, else every precision but MXFP4 (`ModelSpec.search_precisions`)."""
    m = get_model(model)
    _check_whole("concurrency", batches, MAX_CONCURRENCY)
    _check_whole("isl/osl", [n for pair in lengths for n in pair], MAX_TOKENS)
    eng = EngineSettings.of(engine)
    check_engine_version(eng.version)
    if eng.max_model_len is not None:
        m.check_max_model_len(eng.max_model_len, max((int(i) + int(o) for i, o in lengths), default=1))
    gs = [get_gpu(x) for x in gpus] if gpus is not None else list(all_gpus().values())
    ps = [parse_choice(Precision, p, "precision") for p in precisions] if precisions is not None else m.search_precisions
    g = grid(m, gs, ps, tps, pps, batches, lengths, eng.engine)
    if efficiencies is not None:
        eff: Efficiencies | dict = efficiencies
        found: dict = {}
    else:
        eff, found = profile_efficiencies(gs, ps, eng.engine, m, eng.version)
    n = len(g["tp"])
    # evaluate in cache-sized chunks: the same arithmetic, fewer page faults on temporaries
    table = hardware_table(gs, ps, eff)
    parts = [evaluate(m, gs, ps, {k: v[i : i + CHUNK] for k, v in g.items()}, eng, eff, table) for i in range(0, n, CHUNK)]
    columns = OUTPUT_COLUMNS + (("holds_max_model_len",) if eng.max_model_len is not None else ())
    out = {k: np.concatenate([p[k] for p in parts]) if parts else np.empty(0) for k in columns}
    frame = pd.DataFrame(
        {
            "gpu": pd.Categorical.from_codes(g["gpu_idx"], [x.id for x in gs]),
            "precision": pd.Categorical.from_codes(g["prec_idx"], [p.value for p in ps]),
            "kv_precision": pd.Categorical([default_kv(m, p).value for p in ps])[g["prec_idx"]],
            "tp": g["tp"].astype(int),
            "pp": g["pp"].astype(int),
            "concurrency": g["batch"].astype(int),
            "isl": g["isl"].astype(int),
            "osl": g["osl"].astype(int),
            **out,
        }
    )
    frame["gpus"] = frame.tp * frame.pp
    batch = np.minimum(g["batch"], out["max_concurrency"])
    source, pct = row_sources(m, g["gpu_idx"], g["prec_idx"], g["tp"], g["isl"], g["osl"], batch, found)
    frame["source"] = source
    frame["uncertainty_pct"] = np.where(out["fits"], pct, np.nan)
    return frame


def row_sources(model: ModelSpec, gpu_idx, prec_idx, tp, isl, osl, batch, found: dict, attention_dp=1) -> tuple[pd.Categorical, np.ndarray]:
    """Each row's `source` ("calibrated:<profile>", "extrapolated:<profile>" or "analytic") and the
    uncertainty (%) of its throughput and ITL, as `estimate` states them (`profiles.uncertainties`),
    for rows of `(gpu index, precision index)` pairs whose profiles `found` holds, with `batch` the
    sequences in flight. Rows in order of GPU, then precision (a `grid`'s) are taken slice by slice."""
    gpu_idx, prec_idx = np.asarray(gpu_idx), np.asarray(prec_idx)
    width = 1 + max([int(prec_idx.max(initial=0))] + [j for _, j in found])  # keys of pairs without rows must not collide
    key = gpu_idx * width + prec_idx
    tp, isl, osl, batch = (np.broadcast_to(np.asarray(x, dtype=float), key.shape) for x in (tp, isl, osl, batch))
    adp = np.asarray(attention_dp, dtype=float)  # one for every row, or each row's
    ordered = bool(np.all(key[1:] >= key[:-1]))
    codes = np.zeros(len(key), dtype=int)
    labels: dict[str, int] = {"analytic": 0}  # label -> code
    pct = np.broadcast_to(class_bands(model, adp), key.shape).copy()
    for (i, j), (prof, rule) in found.items():
        k = i * width + j
        rows = slice(*np.searchsorted(key, [k, k + 1])) if ordered else np.flatnonzero(key == k)
        if len(codes[rows]):
            pct[rows], extrapolated = uncertainties(prof, rule, model, tp[rows], isl[rows], osl[rows], batch[rows], adp[rows] if adp.ndim else adp)
            calibrated = labels.setdefault(f"calibrated:{prof.name}", len(labels))
            codes[rows] = np.where(extrapolated, labels.setdefault(f"extrapolated:{prof.name}", len(labels)), calibrated)
    present = np.bincount(codes, minlength=len(labels)) > 0  # only the labels some row has
    names = [name for name, there in zip(labels, present, strict=True) if there]
    return pd.Categorical.from_codes((np.cumsum(present) - 1)[codes], names), pct


__all__ = ["sweep", "grid", "evaluate", "profile_efficiencies", "nothing_runs", "DEFAULT_BATCHES", "DEFAULT_LENGTHS"]
