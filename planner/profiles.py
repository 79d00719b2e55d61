"""Calibration profiles: their schema, validation, storage and lookup, and the uncertainty they give.

A profile holds the step-time parameters fitted for one GPU x engine x precision (x engine
version), the points they were fitted on with their residuals, and what those points span. Every
value is validated on the way in and out: parameters inside their physical bounds (`BOUNDS`), no
unknown keys, finite numbers. The fit itself lives in `planner.calibration`.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .catalog import ROOT, get_gpu, get_model
from .defaults import DEFAULT_EFFICIENCIES, Efficiencies, analytic_uncertainty_pct, default_efficiencies
from .engine_limits import is_development_build, release
from .errors import PlannerError, validation_line
from .fileio import atomic_write_text, read_json
from .specs import ModelSpec, Precision, compute_key

SCHEMA_VERSION = 1
PROFILE_DIR = ROOT / "profiles"
#: Physical bounds of each fitted parameter (inclusive); a profile outside them is refused.
BOUNDS = {
    "eta_compute": (0.02, 1.0),
    "eta_memory": (0.05, 1.0),
    "step_overhead_ms": (0.001, 20.0),  # CPU scheduling, sampling and launches per step: the shipped fits are 0.1-0.9 ms
    "eta_comm": (0.02, 1.0),
    "moe_layer_overhead_us": (1.0, 100.0),  # a router, a permute and a finalize kernel: not 0.1 ms
}
#: Smallest uncertainty a calibrated estimate claims (%): published measurements of the same
#: configuration differ by up to ~10% from one page revision to the next, and an in-sample p90
#: understates the error on rows the fit did not see. At 5 %, bands of ±10 % or less held 78 % of
#: the throughput and 58 % of the ITL errors on a model's held-out rows; at 10 %, 91 % and 86 %
#: (`python bench/calibration_eval.py`, "same model, held-out rows").
UNCERTAINTY_FLOOR_PCT = 10.0
#: The metrics whose errors set a profile's uncertainty (TTFT states its own band,
#: `defaults.ttft_uncertainty_pct`).
UNCERTAINTY_METRICS = ("output_tok_s", "itl_ms")
#: Fewest in-sample errors at one parallelism (TP x attention DP; of one architecture, or of all) for their own p90 to set the
#: uncertainty of an estimate at that parallelism, rather than the p90 over all the points: a fit
#: can be good at some TP degrees and poor at others (DGX-GH200 FP8 v0.13: p90 20 % at TP4, 495 %
#: at TP2, where the measurements fall below one GH200's).
MIN_ERRORS_PER_PARALLELISM = 10
#: In-sample p90 error (%) of the points most like a query from which its answer says why its band
#: is wide (`Profile.poorly_fitted_note`).
POORLY_FITTED_PCT = 50.0
#: Width of the calibration prior around the default parameters, in log units (0.3: a factor of
#: 1.35), see `calibration.fit_group`: as far as a GPU and engine are expected to differ from the
#: documented defaults. It is also as far as a profile's parameters move from the engine's defaults
#: for a model the profile was not fitted on (`Profile.efficiencies`): a fit that went further also
#: took up what is particular to the models it saw. Calibrate on some models, predict the others
#: (`python bench/calibration_eval.py`; median / p90 error uncalibrated, with the whole fit as at
#: b535654, and capped so): TensorRT-LLM v0.13 offline, fitted on Llama-3.1-8B TP1, 10.7 / 34.3 %,
#: 7.8 / 40.4 %, 7.8 / 40.4 % (its fits stay inside the cap); v1.0 19.8 / 38.5 %, 10.7 / 50.8 %,
#: 10.7 / 50.8 %; AIConfigurator's ITL, fitted on one model's sweep, 14.5 / 41.8 %, 20.5 / 62.3 %,
#: 17.4 / 45.4 % (fits such as SGLang's compute efficiency of 0.06 on B200 FP8, set by the MoE
#: models it saw, made an 8B dense model's prefill 8x slower); v0.14 online ITL 10.1 / 29.3 %,
#: 9.2 / 22.8 %, 9.7 / 23.7 %.
PRIOR_WIDTH_LOG = 0.3


def _toward(default: float, fitted: float) -> float:
    """`fitted`, but no further than `PRIOR_WIDTH_LOG` from `default` (both positive)."""
    return default * math.exp(min(max(math.log(fitted / default), -PRIOR_WIDTH_LOG), PRIOR_WIDTH_LOG))


_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _finite_pair(v):
    if v is not None and not all(math.isfinite(x) for x in v):
        raise ValueError("must be finite numbers")
    return v


class Ranges(BaseModel):
    """What the calibration points span (min, max)."""

    model_config = _STRICT

    params_b: tuple[float, float] | None
    isl: tuple[float, float] | None
    osl: tuple[float, float] | None
    batch: tuple[float, float] | None = Field(description="Sequences in flight (offline: the batch the model predicts)")
    tp: tuple[float, float] | None

    _finite = field_validator("params_b", "isl", "osl", "batch", "tp")(_finite_pair)


class Residuals(BaseModel):
    """In-sample errors of the fit, in percent of the measured value (overall: output tokens/s and
    ITL, the fitted metrics; `by_metric` also lists TTFT)."""

    model_config = _STRICT

    n_points: int
    median_abs_pct: float | None
    p90_abs_pct: float | None
    by_metric: dict[str, dict[str, float]]


class Provenance(BaseModel):
    model_config = _STRICT

    command: str
    created: str
    planner_version: str = "0.1.0"
    inputs: list[str] = []
    host: dict[str, str | float | int | None] | None = Field(default=None, description="NVML facts of the GPU host, when measured here")


class Profile(BaseModel):
    """A calibration profile: fitted step-time parameters for one GPU x engine x precision."""

    model_config = _STRICT

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    gpu: str
    engine: str
    engine_versions: list[str] = []
    version_family: str | None = Field(
        default=None, description="major.minor of the engine versions it was fitted on (None: not recorded); lookup prefers the closest"
    )
    precision: str
    kv_precision: str | None = None
    compute_precision: str
    parameters: dict[str, float]
    fitted: list[str]
    residuals: Residuals
    ranges: Ranges
    points: list[dict]
    made_by: Provenance
    _p90_cache: dict[tuple[str | None, int, float], float] | None = PrivateAttr(default=None)

    @field_validator("parameters")
    @classmethod
    def _parameters_in_bounds(cls, params: dict[str, float]) -> dict[str, float]:
        for name, value in params.items():
            if name not in BOUNDS:
                raise ValueError(f"unknown parameter {name!r}; allowed: {', '.join(BOUNDS)}")
            lo, hi = BOUNDS[name]
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"{name} = {value!r} is outside its physical range [{lo}, {hi}]")
        return params

    @field_validator("gpu")
    @classmethod
    def _catalog_gpu(cls, gpu: str) -> str:
        if get_gpu(gpu).id != gpu:  # an unknown name raises with the catalog's list
            raise ValueError(f"gpu {gpu!r} must be a catalog id ({get_gpu(gpu).id!r})")
        return gpu

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, engine: str) -> str:
        if engine not in ("trtllm", "vllm", "sglang"):
            raise ValueError(f"engine {engine!r} is not one of: trtllm, vllm, sglang")
        return engine

    @field_validator("compute_precision")
    @classmethod
    def _known_peak(cls, key: str) -> str:
        if key not in DEFAULT_EFFICIENCIES.eta_compute:
            raise ValueError(f"compute_precision {key!r} is not one of: {', '.join(DEFAULT_EFFICIENCIES.eta_compute)}")
        return key

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, value: str) -> str:
        if value not in {p.value for p in Precision}:
            raise ValueError(f"precision {value!r} is not one of: {', '.join(p.value for p in Precision)}")
        return value

    @property
    def models(self) -> list[str]:
        """The models of its measurement points, as the measurements name them."""
        return sorted({str(p.get("model")) for p in self.points})

    @property
    def at_bounds(self) -> dict[str, float]:
        """Fitted parameters that ended on a physical bound (`BOUNDS`): the measurements asked for
        more than the step-time model's physics allows, so something they show is not in the model
        and the profile transfers to other models, lengths or TP degrees with less confidence."""
        return {
            k: v
            for k in self.fitted
            if (v := self.parameters.get(k)) is not None and min(abs(math.log(v / BOUNDS[k][0])), abs(math.log(BOUNDS[k][1] / v))) < 0.01
        }

    def _p90s(self) -> dict[tuple[str | None, int, float], float]:
        """In-sample p90 error (%) of output tokens/s and ITL per (architecture, TP, attention DP)
        of the points and per (None, TP, attention DP), where there are at least
        `MIN_ERRORS_PER_PARALLELISM` errors."""
        if self._p90_cache is None:
            errors: dict[tuple[str | None, int, float], list[float]] = {}
            for point in self.points:
                tp, adp = _parallelism(point.get("tp"), point.get("attention_dp"))
                for m in UNCERTAINTY_METRICS:
                    e = point.get(f"residual_{m}_pct")
                    if isinstance(e, int | float) and math.isfinite(e):
                        for key in ((_point_architecture(str(point.get("model"))), tp, adp), (None, tp, adp)):
                            errors.setdefault(key, []).append(abs(e))
            self._p90_cache = {k: float(np.percentile(v, 90)) for k, v in errors.items() if len(v) >= MIN_ERRORS_PER_PARALLELISM}
        return self._p90_cache

    @property
    def p90_by_parallelism(self) -> dict[tuple[int, float], float]:
        """In-sample p90 error (%) of output tokens/s and ITL per (TP, attention DP) of the points,
        where there are at least `MIN_ERRORS_PER_PARALLELISM` errors."""
        return {(tp, adp): v for (arch, tp, adp), v in sorted(self._p90s().items(), key=lambda kv: kv[0][1:]) if arch is None}

    @property
    def p90_by_parallelism_text(self) -> str:
        """`p90_by_parallelism` as text: "TP1 17 %, TP2 446 %, TP1 x DP8 30 %"."""
        return ", ".join(f"TP{tp}{f' x DP{adp:g}' if adp > 1 else ''} {v:.0f} %" for (tp, adp), v in self.p90_by_parallelism.items())

    def p90_at(self, tp: int, attention_dp: float = 1, arch: str | None = None) -> float | None:
        """The in-sample p90 error (%) of the points most like a query: of the model architecture
        `arch` (`architecture`) at this TP x attention DP, else of every model at it; None where
        both are too few."""
        tp, adp = _parallelism(tp, attention_dp)
        p90s = self._p90s()
        own = p90s.get((arch, tp, adp)) if arch is not None else None
        return own if own is not None else p90s.get((None, tp, adp))

    def poorly_fitted_note(self, tp: int, attention_dp: float = 1, model: ModelSpec | None = None) -> str | None:
        """A sentence where the points most like a query (`p90_at`) fit badly, in-sample p90 error of
        `POORLY_FITTED_PCT` or more, which is why its answer states a wide band; else None."""
        arch = architecture(model) if model is not None else None
        here = self.p90_at(tp, attention_dp, arch)
        if here is None or here < POORLY_FITTED_PCT:
            return None
        tp, adp = _parallelism(tp, attention_dp)
        own = model is not None and (arch, tp, adp) in self._p90s()
        which = f"{'its points of ' + model.id + ' (or its architecture)' if own else 'its points'} at TP{tp}{f' x DP{adp:g}' if adp > 1 else ''}"
        overall = self.residuals.p90_abs_pct
        return (
            f"profile {self.name} fits {which} poorly (in-sample p90 error {here:.0f} %, {'unknown' if overall is None else f'{overall:.0f} %'} over all its points): "
            "the measurements show something the step-time model lacks there, and the uncertainty states it"
        )

    def efficiencies(self, precision: Precision | None = None, model: ModelSpec | None = None) -> Efficiencies:
        """The step-time parameters for this profile's precision, or transferred to another one
        (the fitted compute efficiency scaled by the defaults' ratio between the two precisions).

        For a `model` the profile was not fitted on (nor one of its architecture, `measured_model`),
        or a `precision` whose matrix multiplies run at another peak than the profile's, each
        parameter moves from the engine's default at most `PRIOR_WIDTH_LOG` (a factor of 1.35)
        toward its fitted value: a fit absorbs what the step-time model misses about the models and
        kernels it saw as well as what the GPU and engine do, and only the second carries over."""
        p = dict(self.parameters)
        base = default_efficiencies(self.engine)
        eta_c = dict(base.eta_compute)
        own = self.compute_precision
        scale = p.pop("eta_compute", eta_c[own]) / eta_c[own]
        other_kernels = precision is not None and compute_key(precision, get_gpu(self.gpu).tflops) != own
        if other_kernels or (model is not None and not measured_model(self, model)):
            defaults = base.model_dump()
            scale = _toward(1.0, scale)
            p = {k: _toward(defaults[k], v) if defaults.get(k) else v for k, v in p.items()}
        eta_c = {k: min(v * scale, 1.0) for k, v in eta_c.items()}
        return Efficiencies.model_validate({**base.model_dump(), "eta_compute": eta_c, **p})


@lru_cache(maxsize=1024)
def _point_architecture(name: str) -> str:
    """`architecture` of a measurement's model, or its name where the catalog lacks it."""
    try:
        return architecture(get_model(name))
    except PlannerError:
        return name


def _parallelism(tp, attention_dp) -> tuple[int, float]:
    """(TP, attention DP) of a point or a query, missing or NaN values read as 1."""

    def one(v) -> float:
        return float(v) if isinstance(v, int | float) and math.isfinite(v) and v > 0 else 1.0

    return int(one(tp)), one(attention_dp)


def profile_name(gpu: str, engine: str, precision: str, family: str | None = None) -> str:
    return f"{gpu}--{engine}--{precision}" + (f"--v{family}" if family else "")


def version_family(version) -> str | None:
    """`major.minor` of an engine version string ('v0.13.0', '1.3.0rc1' -> '0.13', '1.3'), or None."""
    rel = release(version)
    return f"{rel[0]}.{rel[1]}" if rel else None


def check_engine_version(version: str | None) -> None:
    """Refuse an engine version that is neither a release number nor a development build."""
    if version is not None and version_family(version) is None and not is_development_build(version):
        raise PlannerError(f"engine_version {version!r} is not a version number (e.g. 1.0, v0.13.0, 0.11.2) or a development build (nightly-dev)")


def _family_key(family: str | None) -> tuple[int, int]:
    major, _, minor = (family or "0.0").partition(".")
    return int(major), int(minor)


def save_profile(profile: Profile, path: str | Path) -> Path:
    """Write a profile atomically (complete or not at all)."""
    return atomic_write_text(path, json.dumps(profile.model_dump(mode="json"), indent=1, allow_nan=False) + "\n")


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile; errors name the file."""
    path = Path(path)
    data = read_json(path, "profile")
    if isinstance(data, dict) and data.get("schema_version") not in (None, SCHEMA_VERSION):
        raise PlannerError(f"{path}: profile schema_version {data.get('schema_version')!r} is not supported (this planner reads {SCHEMA_VERSION})")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise PlannerError(f"{path}: invalid profile: {validation_line(exc)}") from None


@lru_cache(maxsize=8)
def _load_dir(directory: str, stamp: int) -> tuple[Profile, ...]:
    return tuple(load_profile(p) for p in sorted(Path(directory).glob("*.json")))


def profiles(directory: str | Path = PROFILE_DIR) -> tuple[Profile, ...]:
    """All profiles of a folder, read once and again only when the folder changes.

    One `stat` of the folder per call: profiles are written atomically (a rename into the folder),
    which changes the folder's modification time, so no file needs to be listed or opened."""
    d = Path(directory)
    try:
        stamp = d.stat().st_mtime_ns
    except OSError:
        return ()
    return _load_dir(str(d), stamp)


def find_profile(
    gpu: str,
    engine: str,
    precision: str,
    candidates: tuple[Profile, ...] | list[Profile] | None = None,
    engine_version: str | None = None,
    model: ModelSpec | None = None,
) -> tuple[Profile | None, str]:
    """The profile to use for a query, in the stated fallback order.

    1. same GPU, engine and precision ("exact"); 2. same GPU and engine, another precision;
    otherwise None (analytic). Another GPU's profile is never taken: out of sample it predicts no
    better than the uncalibrated model on the TensorRT-LLM tables and worse on AIConfigurator's
    SGLang, vLLM and TensorRT-LLM rows (`python bench/calibration_eval.py --transfer
    trtllm_v0.13_offline.csv trtllm_v1.0_offline.csv aiconfigurator_silicon_agg.csv`).
    Among the profiles a rule matches: with `engine_version`, the
    closest engine version (major.minor) first, the newest for a development build ('nightly-dev');
    then one fitted on `model` (or a model of its architecture), whose answers state and keep
    tighter bands than a transfer from other models (`uncertainty`); then the most points.
    Returns the profile and which rule matched.
    """
    pool = list(profiles() if candidates is None else candidates)
    rules = [
        ("exact", lambda p: p.gpu == gpu and p.engine == engine and p.precision == precision),
        ("other precision", lambda p: p.gpu == gpu and p.engine == engine),
    ]
    want = version_family(engine_version)
    newest = is_development_build(engine_version)

    def preference(p: Profile):
        evidence = (model is not None and measured_model(p, model), p.residuals.n_points)
        if newest:  # a development build: the newest release profiled
            return (p.version_family is not None, _family_key(p.version_family), *evidence)
        if want is None:
            return evidence
        a, b = _family_key(want), _family_key(p.version_family)
        distance = abs(a[0] - b[0]) * 1000 + abs(a[1] - b[1]) if p.version_family else 10**6
        return (-distance, *evidence)

    for label, rule in rules:
        hits = [p for p in pool if rule(p)]
        if hits:
            return max(hits, key=preference), label
    return None, "analytic"


def _log_excess(value, span: tuple[float, float] | None) -> np.ndarray:
    """How far (log units) values lie outside a range; a range the profile lacks counts one unit,
    a value that is not positive none."""
    v = np.asarray(value, dtype=float)
    if span is None:
        return np.ones_like(v)
    lo, hi = span
    if not (lo > 0 and hi > 0):
        return np.zeros_like(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.maximum(0.0, np.maximum(np.log(v / hi), np.log(lo / v)))
    return np.where(v > 0, out, 0.0)


#: ModelSpec fields that name or describe a checkpoint rather than the computation it runs.
_NOT_ARCHITECTURE = {"id", "max_position_embeddings", "context_window", "quantization", "checkpoint_precision", "checkpoint_kv_precision"}


def architecture(model: ModelSpec) -> str:
    """What a step of the model computes (its shapes, layers and experts), without its name: two
    checkpoints of one architecture (Llama-3.1-70B and Llama-3.3-70B) have the same."""
    return json.dumps(model.model_dump(mode="json", exclude=_NOT_ARCHITECTURE), sort_keys=True)


def fitted_models(profile: Profile) -> frozenset[str]:
    """The architectures (`architecture`) of the models a profile was fitted on, and the names of
    those the catalog lacks."""
    return _architectures(tuple(profile.models))


@lru_cache(maxsize=256)
def _architectures(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_point_architecture(name) for name in names)


def measured_model(profile: Profile, model: ModelSpec) -> bool:
    """Whether the profile was fitted on this model, or on one of the same architecture."""
    return architecture(model) in fitted_models(profile)


def uncertainty(
    profile: Profile,
    rule: str,
    model: ModelSpec,
    tp: int,
    isl: int,
    osl: int,
    batch: float | None,
    attention_dp: float = 1,
) -> tuple[float, bool]:
    """Uncertainty (%) of an estimate from a profile, and whether it goes beyond what was measured.

    The in-sample p90 error (at least `UNCERTAINTY_FLOOR_PCT`) of the points most like the query
    where they are enough (`Profile.p90_at`: its model's architecture at its TP x attention DP, else
    every model at it), else of all the points, grows by the query's log-distance
    outside the calibrated ranges of ISL, OSL and batch (doubling past a range adds ~70%). An estimate for a model
    the profile was not fitted on (nor one of its architecture), at a TP degree outside the fitted
    ones, or from a profile of another precision or GPU (`rule` other than "exact": the lookup's
    "other precision", or "given" for a profile given by hand; the lookup never takes another
    GPU's) states at least the uncalibrated band of its model class (`ANALYTIC_UNCERTAINTY_PCT_BY_CLASS`): measured out of
    sample (`python bench/calibration_eval.py`, "errors within the stated uncertainty"), such
    transfers are no better in the tail than the uncalibrated model (another GPU: not in the
    median either; another precision on AIConfigurator's rows: median ITL error 16.9 % against
    12.8 %, and bands of ±20 % or less held 26 % before they stated the class band), since calibration does not
    see what differs between models, precisions, GPUs or what a TP degree adds.
    """
    pct, extrapolated = uncertainties(profile, rule, model, tp, isl, osl, np.nan if batch is None else batch, attention_dp)
    return float(pct), bool(extrapolated)


def uncertainties(profile: Profile, rule: str, model: ModelSpec, tp, isl, osl, batch, attention_dp=1) -> tuple[np.ndarray, np.ndarray]:
    """`uncertainty` over arrays of TP degrees, lengths, batches (NaN: none) and attention-DP
    ranks at once (a sweep's rows): the uncertainties (%) and whether each is extrapolated."""
    r = profile.ranges
    batch = np.asarray(batch, dtype=float)
    d = _log_excess(isl, r.isl) + _log_excess(osl, r.osl) + np.where(batch > 0, _log_excess(batch, r.batch), 0.0)
    overall = profile.residuals.p90_abs_pct
    arch = architecture(model)
    p90 = _per_parallelism(lambda t, a: _or(profile.p90_at(t, a, arch), overall), tp, attention_dp)
    pct = np.where(np.isfinite(p90), np.maximum(p90, UNCERTAINTY_FLOOR_PCT), 50.0) * (1.0 + d)
    unmeasured = (rule != "exact" or not measured_model(profile, model)) | (_log_excess(tp, r.tp) > 0)
    return np.where(unmeasured, np.maximum(pct, class_bands(model, attention_dp)), pct), (d > 0) | unmeasured


def class_bands(model: ModelSpec, attention_dp) -> np.ndarray:
    """The uncalibrated band (%) of the model's class at each attention-DP rank count
    (`defaults.analytic_uncertainty_pct`)."""
    return _per_parallelism(lambda t, a: analytic_uncertainty_pct(model.is_moe, a), 1, attention_dp)


def _per_parallelism(f, tp, attention_dp) -> np.ndarray:
    """`f(tp, attention_dp)` over arrays of few distinct values, worked out once for each pair."""
    tp, adp = np.asarray(tp, dtype=float), np.asarray(attention_dp, dtype=float)
    if tp.size == 1 and adp.size == 1:
        return np.asarray(f(int(tp.flat[0]), float(adp.flat[0])), dtype=float)
    out = np.empty(np.broadcast_shapes(tp.shape, adp.shape))
    for a in _distinct(adp):
        with_a = adp == a
        for t in _distinct(tp):
            out[(tp == t) & with_a] = f(int(t), float(a))
    return out


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an array (by hashing where it is long, as sorting ten million is slow)."""
    return pd.unique(values.ravel()) if values.size > 100_000 else np.unique(values)


def _or(value: float | None, default: float | None) -> float:
    """`value`, else `default`, else NaN."""
    return value if value is not None else (default if default is not None else np.nan)
