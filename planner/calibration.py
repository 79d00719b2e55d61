"""Calibration: measurements -> fitted profile (the profile schema, store and lookup are `planner.profiles`).

What is fitted, per GPU x engine x precision (all physically meaningful, all shared by every
model, length and TP degree, which is what lets a few measurements on a small model transfer):

- `eta_compute`: achieved / peak tensor FLOP/s of the precision's GEMMs and attention math;
  set by compute-bound points (prefill, large offline batches).
- `eta_memory`: achieved / peak HBM bandwidth for weight and KV streaming; set by decode at small
  and medium batch.
- `step_overhead_ms`: fixed time per engine step (scheduling, sampling, launches); set by small
  models at batch 1, where a step is short.
- `eta_comm`: achieved / peak link bandwidth of TP all-reduces; fitted only when the
  measurements include TP or PP > 1, otherwise kept at its default.
- `moe_layer_overhead_us`: fixed time per MoE layer per step (router, permute, finalize kernels);
  fitted only when the measurements include a mixture-of-experts model.

The fit minimises the log ratio of predicted to measured output tokens/s and ITL (a robust
soft-L1 loss, so that one odd point cannot drag the efficiencies) with scipy's `least_squares`,
each parameter in log space inside physical bounds, then again with a Gaussian prior toward the
documented defaults as strong as the data are noisy (`fit_group`). The profile keeps the points, the fitted
values, the in-sample residuals and the ranges of model size, ISL, OSL, batch and TP it has seen;
`uncertainty()` widens the in-sample p90 error with the query's distance from those ranges, and
holds answers for other models or TP degrees to at least the uncalibrated band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pydantic import ValidationError

from . import serving
from .catalog import get_gpu, get_model
from .defaults import Efficiencies, default_efficiencies
from .errors import PlannerError
from .measurements import COLUMNS as MEASUREMENT_COLUMNS
from .measurements import row_engine_version, row_gpu, row_kwargs
from .profiles import BOUNDS, PRIOR_WIDTH_LOG, UNCERTAINTY_METRICS, Profile, Provenance, Ranges, Residuals, profile_name, version_family
from .specs import DEFAULT_KV, EngineSettings, GpuSpec, KvPrecision, ModelSpec, Parallelism, Precision, compute_key, default_kv, parse_choice

FIT_PARAMETERS = ("eta_compute", "eta_memory", "step_overhead_ms", "eta_comm", "moe_layer_overhead_us")
METRICS = ("output_tok_s", "ttft_ms", "itl_ms")
#: Columns of a measurement kept with each calibration point in the profile: the measurement table's.
POINT_COLUMNS = tuple(MEASUREMENT_COLUMNS)
#: Weight of each metric's log error in the fit. TTFT under load is mostly queueing: how a
#: benchmark's clients line up behind each other's prefills (AIConfigurator's sweeps show 3-10x
#: the prefill time, growing with concurrency and shrinking with OSL). The step-time parameters do
#: not describe that, and fitting them to it drags compute efficiency down and worsens ITL for
#: the other models (`bench/calibration_eval.py --quick --fit-ttft`: median ITL error 15.9% -> 18.5%, p90 43.6% -> 127.7%).
#: TTFT is therefore predicted and reported, not fitted.
METRIC_WEIGHTS = {"output_tok_s": 1.0, "itl_ms": 1.0, "ttft_ms": 0.0}
#: A fit whose in-sample median error (output tokens/s and ITL) exceeds this is refused, not
#: saved: the model, or the rows' description (TP, precision, model), does not match the data.
MAX_FIT_MEDIAN_PCT = 50.0
#: Smallest noise the fit assumes in a measurement, in log units (0.05: 5 %): repeated runs of one
#: configuration, and one published table from revision to revision, differ by that much.
MEASUREMENT_NOISE_LOG = 0.05
#: Log error beyond which a point counts linearly, not quadratically, in the fit (soft L1).
ROBUST_SCALE = 0.1

# ---------------------------------------------------------------------------------------------
# vectorised evaluation of a group of measurements (one GPU x engine x precision)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Rows of one model, KV precision and operating mode, as arrays."""

    model: ModelSpec
    kv: KvPrecision
    mode: str
    rows: np.ndarray  # positions in the group frame
    tp: np.ndarray
    pp: np.ndarray
    isl: np.ndarray
    osl: np.ndarray
    load: np.ndarray  # concurrency or request rate
    n: np.ndarray  # num_requests (NaN: unknown)
    adp: np.ndarray  # attention data-parallel ranks
    ep: np.ndarray
    version: str | None = None  # the engine release the rows ran (its defaults and memory rules, as `predict` takes them)


class Group:
    """Measurements of one GPU x engine x precision, parsed once for repeated evaluation."""

    def __init__(self, frame: pd.DataFrame, gpu: GpuSpec, engine: str, precision: Precision):
        self.frame = frame.reset_index(drop=True)
        self.gpu, self.engine, self.precision = gpu, engine, precision
        self.skipped: dict[int, str] = {}
        buckets: dict[tuple, list] = {}
        for i, row in enumerate(self.frame.to_dict("records")):
            try:
                kw = row_kwargs(row)
                model = get_model(kw["model"])
                kv = default_kv(model, precision) if kw["kv_precision"] is None else parse_choice(KvPrecision, kw["kv_precision"], "kv precision")
                model.check_parallelism(Parallelism(tp=kw["tp"], pp=kw["pp"], ep=kw["ep"], attention_dp=kw["attention_dp"]))
                gpu.peak_tflops(precision, engine)
                mode = "concurrency" if kw["concurrency"] else ("rate" if kw["request_rate"] else "offline")
                load = kw["concurrency"] or kw["request_rate"] or 0.0
                n = kw["num_requests"] if kw["num_requests"] else np.nan
                key = (model.id, kv, mode, kw["engine_version"])
                buckets.setdefault(key, []).append((i, kw["tp"], kw["pp"], kw["isl"], kw["osl"], load, n, kw["attention_dp"], kw["ep"]))
            except (PlannerError, ValidationError, TypeError, ValueError) as exc:
                self.skipped[i] = str(exc).splitlines()[0]
        self.blocks = []
        for (model_id, kv, mode, version), items in buckets.items():
            a = np.array(items, dtype=float)
            self.blocks.append(
                _Block(get_model(model_id), kv, mode, a[:, 0].astype(int), a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6], a[:, 7], a[:, 8], version)
            )

    def predict(self, eff: Efficiencies) -> dict[str, np.ndarray]:
        """Predicted output tokens/s, TTFT, ITL (ms) and batch for every row (NaN where skipped)."""
        n = len(self.frame)
        out = {k: np.full(n, np.nan) for k in ("output_tok_s", "ttft_ms", "itl_ms", "e2e_ms", "batch")}
        for b in self.blocks:
            s = serving.prepare(
                b.model,
                [self.gpu],
                [self.precision],
                [b.kv],
                b.tp,
                b.pp,
                EngineSettings(engine=self.engine, version=b.version),
                eff,
                gpu_idx=np.zeros(len(b.tp), int),
                prec_idx=np.zeros(len(b.tp), int),
                kv_idx=np.zeros(len(b.tp), int),
                attention_dp=b.adp,
                ep=b.ep,
            )
            if b.mode == "offline":
                point = serving.offline(s, b.isl, b.osl, np.where(np.isnan(b.n), np.inf, b.n))
                lat = serving.latency(s, b.isl, b.osl)
                ttft, itl = lat.ttft_s, lat.itl_s
            elif b.mode == "concurrency":
                point = serving.concurrency(s, b.isl, b.osl, b.load, np.where(np.isnan(b.n), serving.closed_loop_requests(b.load), b.n))
                ttft, itl = point.ttft_s, point.itl_s
            else:
                point = serving.request_rate(s, b.isl, b.osl, b.load, np.where(np.isnan(b.n), 1000.0, b.n))
                ttft, itl = point.ttft_s, point.itl_s
            out["output_tok_s"][b.rows] = point.output_tok_s
            out["ttft_ms"][b.rows] = ttft * 1e3
            out["itl_ms"][b.rows] = itl * 1e3
            out["e2e_ms"][b.rows] = point.e2e_s * 1e3
            out["batch"][b.rows] = point.batch
        return out

    def measured(self) -> dict[str, np.ndarray]:
        """Measured values the fit uses; offline rows contribute throughput only (their TTFT is queueing)."""
        offline = (
            self.frame.get("concurrency", pd.Series(np.nan, index=self.frame.index)).isna()
            & self.frame.get("request_rate", pd.Series(np.nan, index=self.frame.index)).isna()
        )
        out = {}
        for m in METRICS:
            v = pd.to_numeric(self.frame[m], errors="coerce") if m in self.frame else pd.Series(np.nan, index=self.frame.index)
            if m != "output_tok_s":
                v = v.where(~offline)
            out[m] = v.where(v > 0).to_numpy(dtype=float)
        return out


# ---------------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------------


def _efficiencies(names: tuple[str, ...], x: np.ndarray, key: str, base: Efficiencies) -> Efficiencies:
    """Efficiencies with the fitted values in place; `key` is the compute peak eta_compute belongs to."""
    values = dict(zip(names, np.exp(x), strict=True))
    update = {k: v for k, v in values.items() if k != "eta_compute"}
    if "eta_compute" in values:
        eta_c = dict(base.eta_compute)
        eta_c[key] = values["eta_compute"]
        update["eta_compute"] = eta_c
    return base.model_copy(update=update)


def _residuals(group: Group, eff: Efficiencies, measured: dict[str, np.ndarray]) -> np.ndarray:
    pred = group.predict(eff)
    parts = []
    for m in METRICS:
        if not METRIC_WEIGHTS[m]:
            continue
        ok = np.isfinite(measured[m])
        r = np.log(pred[m][ok] / measured[m][ok])
        parts.append(METRIC_WEIGHTS[m] * np.where(np.isfinite(r), r, 5.0))  # a point the parameters make infeasible costs a lot
    return np.concatenate(parts)


def fit_group(
    group: Group, parameters: tuple[str, ...] = FIT_PARAMETERS, base: Efficiencies | None = None, noise_floor_log: float = MEASUREMENT_NOISE_LOG
) -> tuple[Efficiencies, tuple[str, ...]]:
    """Fit the step-time parameters to one group's measurements, starting from and held toward
    `base` (default: the group's engine's defaults), assuming at least `noise_floor_log` of noise
    per point; returns the efficiencies and what was fitted."""
    from scipy.optimize import least_squares

    base = default_efficiencies(group.engine) if base is None else base

    measured = group.measured()
    n_obs = sum(int(np.isfinite(measured[m]).sum()) for m in METRICS if METRIC_WEIGHTS[m])
    if not group.blocks or n_obs == 0:
        reasons = "; ".join(sorted(set(group.skipped.values()))[:3])
        raise PlannerError(f"no usable measurements for {group.gpu.id} / {group.engine} / {group.precision.value}" + (f" ({reasons})" if reasons else ""))
    usable = {
        "eta_comm": any(np.any(b.tp * b.pp * b.adp > 1) for b in group.blocks),
        "moe_layer_overhead_us": any(b.model.is_moe for b in group.blocks),
    }
    names = tuple(p for p in parameters if usable.get(p, True))
    names = names[: max(1, min(len(names), n_obs))]  # never more parameters than observations
    key = compute_key(group.precision, group.gpu.tflops)
    start = {
        "eta_compute": base.eta_compute[key],
        "eta_memory": base.eta_memory,
        "step_overhead_ms": max(base.step_overhead_ms, 0.01),
        "eta_comm": base.eta_comm,
        "moe_layer_overhead_us": max(base.moe_layer_overhead_us, 1.0),
    }
    x0 = np.log([start[p] for p in names])
    lo = np.log([BOUNDS[p][0] for p in names])
    hi = np.log([BOUNDS[p][1] for p in names])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)

    def data(x):
        return _residuals(group, _efficiencies(names, x, key, base), measured)

    def robust(x):
        # soft-L1 on the data's log errors: quadratic below ROBUST_SCALE, linear beyond, so that
        # one odd point cannot drag the efficiencies (scipy's soft_l1 loss, written out so that
        # the prior below stays quadratic)
        r = data(x)
        return np.sign(r) * ROBUST_SCALE * np.sqrt(2.0 * (np.sqrt(1.0 + (r / ROBUST_SCALE) ** 2) - 1.0))

    def solve(fun, start):
        return least_squares(fun, start, bounds=(lo, hi), diff_step=1e-4, xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=400)

    # Stage 1: the data alone. Stage 2: add a Gaussian prior toward the documented defaults, as
    # strong as the data are noisy: the robust scale of stage 1's residuals, corrected for the
    # parameters fitted (a fit with as many parameters as points leaves no residual, which says
    # nothing about the noise) and never below the noise floor, over PRIOR_WIDTH_LOG per
    # parameter. It keeps parameters the data cannot separate (offline throughput alone hardly
    # tells step overhead from memory efficiency; ITL alone hardly tells compute efficiency from
    # memory efficiency) at physical values.
    result = solve(robust, x0)
    r, n_par = data(result.x), len(names)
    sigma = 1.4826 * float(np.median(np.abs(r)))
    sigma = max(sigma * math.sqrt(len(r) / (len(r) - n_par)) if len(r) > n_par else 0.0, noise_floor_log)
    weight = sigma / PRIOR_WIDTH_LOG
    result = solve(lambda x: np.concatenate([robust(x), weight * (x - x0)]), result.x)
    return _efficiencies(names, result.x, key, base), names


def _range(values) -> tuple[float, float] | None:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return (float(v.min()), float(v.max())) if len(v) else None


def calibrate(
    frame: pd.DataFrame,
    gpu: str | GpuSpec,
    engine: str,
    precision: str | Precision,
    command: str = "",
    inputs: list[str] | None = None,
    host: dict | None = None,
    parameters: tuple[str, ...] = FIT_PARAMETERS,
    noise_floor_log: float = MEASUREMENT_NOISE_LOG,
) -> Profile:
    """Fit a profile from the measurements of one GPU x engine x precision."""
    g = get_gpu(gpu)
    prec = parse_choice(Precision, precision, "precision")
    group = Group(frame, g, engine, prec)
    eff, names = fit_group(group, parameters, noise_floor_log=noise_floor_log)
    pred, meas = group.predict(eff), group.measured()
    points, errors = [], {m: [] for m in METRICS}
    used = [i for i in range(len(group.frame)) if i not in group.skipped]
    keep = [c for c in group.frame.columns if c in POINT_COLUMNS]
    for i in used:
        row = {k: _jsonable(v) for k, v in group.frame.iloc[i][keep].to_dict().items()}
        for m in METRICS:
            if np.isfinite(meas[m][i]) and np.isfinite(pred[m][i]):
                row[f"pred_{m}"] = round(float(pred[m][i]), 4)
                err = 100.0 * (pred[m][i] / meas[m][i] - 1.0)
                row[f"residual_{m}_pct"] = round(float(err), 3)
                errors[m].append(abs(err))
        points.append(row)
    all_err = np.concatenate([np.asarray(errors[m], dtype=float) for m in UNCERTAINTY_METRICS])
    all_err = all_err[np.isfinite(all_err)]
    name = profile_name(g.id, engine, prec.value)
    if not len(all_err):
        raise PlannerError(f"{name}: no measured point could be predicted, so nothing was fitted")
    if np.median(all_err) > MAX_FIT_MEDIAN_PCT:
        raise PlannerError(
            f"{name}: refused, the fit's in-sample median error is {np.median(all_err):.0f}% (> {MAX_FIT_MEDIAN_PCT:.0f}%); {_disagreeing(points)}"
        )
    by_metric = {m: {"n": len(e), "median_abs_pct": float(np.median(e)), "p90_abs_pct": float(np.percentile(e, 90))} for m, e in errors.items() if e}
    models = [get_model(row_kwargs(r)["model"]) for r in points]
    batch = pred["batch"][used]
    key = compute_key(prec, g.tflops)
    params = {
        "eta_compute": float(eff.eta_compute[key]),
        "eta_memory": float(eff.eta_memory),
        "step_overhead_ms": float(eff.step_overhead_ms),
        "eta_comm": float(eff.eta_comm),
    }
    if "moe_layer_overhead_us" in names:
        params["moe_layer_overhead_us"] = float(eff.moe_layer_overhead_us)
    versions = sorted({v for v in _row_versions(group.frame) if v})
    families = {version_family(v) for v in versions} - {None}
    kv_values = group.frame.get("kv_precision", pd.Series(dtype=str)).dropna().astype(str).unique()
    family = families.pop() if len(families) == 1 else None
    return Profile(
        name=profile_name(g.id, engine, prec.value, family),
        gpu=g.id,
        engine=engine,
        engine_versions=versions,
        version_family=family,
        precision=prec.value,
        kv_precision=",".join(sorted(kv_values)) or DEFAULT_KV[prec].value,
        compute_precision=key,
        parameters=params,
        fitted=list(names),
        residuals=Residuals(
            n_points=len(points),
            median_abs_pct=float(np.median(all_err)),
            p90_abs_pct=float(np.percentile(all_err, 90)),
            by_metric=by_metric,
        ),
        ranges=Ranges(
            params_b=_range(m.params_total / 1e9 for m in models),
            isl=_range(r.get("isl") for r in points),
            osl=_range(r.get("osl") for r in points),
            batch=_range(batch),
            tp=_range(r.get("tp", 1) for r in points),
        ),
        points=points,
        made_by=Provenance(command=command, created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), inputs=inputs or [], host=host),
    )


def _disagreeing(points: list[dict], n: int = 3) -> str:
    """The rows the fit matches worst, in one line: check what they say (TP, precision, model)."""
    worst = []
    for p in points:
        errs = [abs(p[f"residual_{m}_pct"]) for m in UNCERTAINTY_METRICS if f"residual_{m}_pct" in p]
        if errs:
            worst.append((max(errs), p))
    worst.sort(key=lambda t: -t[0])
    shown = [
        f"{p.get('model')} tp {p.get('tp') or 1} pp {p.get('pp') or 1} isl {p.get('isl')} osl {p.get('osl')}: {'+' if e > 0 else ''}{e:.0f}%"
        for e, p in ((max((p[f"residual_{m}_pct"] for m in UNCERTAINTY_METRICS if f"residual_{m}_pct" in p), key=abs), p) for _, p in worst[:n])
    ]
    return "rows that disagree most (prediction vs measured): " + "; ".join(shown)


def _row_versions(frame: pd.DataFrame) -> list[str | None]:
    """Each row's engine version (`planner.measurements.row_engine_version`)."""
    return [row_engine_version(r) for r in frame.to_dict("records")]


def _jsonable(v):
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def calibrate_frame(
    frame: pd.DataFrame, command: str = "", inputs: list[str] | None = None, host: dict | None = None, progress=None
) -> tuple[list[Profile], dict[str, str]]:
    """Fit one profile per GPU x engine x precision group of a measurement table.

    Returns the profiles and, per group that could not be fitted, why.
    """
    missing = [c for c in ("model", "gpu", "precision", "isl", "osl") if c not in frame]
    if missing:
        raise PlannerError(f"measurements lack column(s) {', '.join(missing)}")
    frame = frame.copy()
    frame["engine"] = frame.get("engine", pd.Series("trtllm", index=frame.index)).fillna("trtllm").astype(str)
    keys = []
    for row in frame.to_dict("records"):
        try:
            keys.append((get_gpu(row_gpu(row)).id, parse_choice(Precision, str(row["precision"]), "precision").value))
        except PlannerError:
            keys.append((None, None))
    frame["_gpu"], frame["_prec"] = [k[0] for k in keys], [k[1] for k in keys]
    frame["_family"] = [version_family(v) or "" for v in _row_versions(frame)]
    profiles, failed = [], {}
    groups = list(frame.dropna(subset=["_gpu", "_prec"]).groupby(["_gpu", "engine", "_prec", "_family"], sort=True))
    for gi, ((gpu, engine, prec, family), rows) in enumerate(groups):
        name = profile_name(gpu, engine, prec, family or None)
        if progress:
            progress(gi, len(groups), name)
        try:
            profiles.append(calibrate(rows.drop(columns=["_gpu", "_prec", "_family"]), gpu, engine, prec, command=command, inputs=inputs, host=host))
        except PlannerError as exc:
            failed[name] = str(exc)
    bad = frame[frame["_gpu"].isna()]
    for gpu in bad["gpu"].astype(str).unique():
        failed[f"gpu {gpu}"] = "unknown GPU or precision"
    return profiles, failed
