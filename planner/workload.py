"""Workloads: what requests look like (input / output lengths, arrivals, shared prefixes).

Three ways to describe them, one type for all (`RequestMix`):

- fixed lengths: `--isl 1024 --osl 256`;
- distributions written as a short spec (DESIGN §4): `fixed:1024`, `normal:mean=2000,std=400`,
  `lognormal:median=800,sigma=0.9`, `uniform:low=100,high=4000`, `empirical:120,800,2048`;
  a whole workload as `isl=normal:mean=2000,std=400;osl=fixed:256[;prefix=512|cache_hit=0.3]`;
- a request log (`planner.requestlog`): the joint ISL x OSL pairs and the arrival times.

Lengths are whole tokens in [1, `MAX_TOKENS`]; a distribution is clipped to that range and rounded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import PlannerError

MAX_TOKENS = 10_000_000
KINDS = ("fixed", "normal", "lognormal", "uniform", "empirical")
_PARAMS = {"fixed": ("value",), "normal": ("mean", "std"), "lognormal": ("median", "sigma"), "uniform": ("low", "high")}
SPEC_HELP = "fixed:N, normal:mean=M,std=S, lognormal:median=M,sigma=S, uniform:low=A,high=B or empirical:N1,N2,..."


@dataclass(frozen=True)
class LengthDist:
    """A distribution of token counts (input or output lengths of requests)."""

    kind: Literal["fixed", "normal", "lognormal", "uniform", "empirical"]
    params: tuple[tuple[str, float], ...] = ()
    values: tuple[int, ...] = ()  # empirical: the observed lengths

    @property
    def p(self) -> dict[str, float]:
        return dict(self.params)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` lengths (int64), clipped to [1, MAX_TOKENS]."""
        p = self.p
        if self.kind == "fixed":
            x = np.full(n, p["value"])
        elif self.kind == "normal":
            x = rng.normal(p["mean"], p["std"], n)
        elif self.kind == "lognormal":
            x = p["median"] * np.exp(rng.normal(0.0, p["sigma"], n))
        elif self.kind == "uniform":
            x = rng.uniform(p["low"], p["high"], n)
        else:
            x = rng.choice(np.asarray(self.values, dtype=float), n)
        return np.clip(np.rint(x), 1, MAX_TOKENS).astype(np.int64)

    def quantile(self, q: float) -> float:
        """The q-quantile (0..1) of the distribution (empirical: of the observed values)."""
        from scipy.stats import norm

        p = self.p
        if self.kind == "fixed":
            v = p["value"]
        elif self.kind == "normal":
            v = p["mean"] + p["std"] * norm.ppf(q)
        elif self.kind == "lognormal":
            v = p["median"] * math.exp(p["sigma"] * norm.ppf(q))
        elif self.kind == "uniform":
            v = p["low"] + q * (p["high"] - p["low"])
        else:
            v = float(np.quantile(np.asarray(self.values, dtype=float), q))
        return float(min(max(v, 1.0), MAX_TOKENS))

    @property
    def mean(self) -> float:
        """Mean length (before clipping, which matters only for a normal reaching below 1)."""
        p = self.p
        if self.kind == "fixed":
            return p["value"]
        if self.kind == "normal":
            return max(p["mean"], 1.0)
        if self.kind == "lognormal":
            return p["median"] * math.exp(p["sigma"] ** 2 / 2)
        if self.kind == "uniform":
            return (p["low"] + p["high"]) / 2
        return float(np.mean(self.values))

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    def spec(self) -> str:
        """The spec string that gives this distribution back."""
        if self.kind == "empirical":
            return f"empirical:{len(self.values)} values, mean {self.mean:.0f}"
        if self.kind == "fixed":
            return f"fixed:{self.p['value']:g}"
        return f"{self.kind}:" + ",".join(f"{k}={v:g}" for k, v in self.params)


def fixed(tokens: int) -> LengthDist:
    return LengthDist("fixed", (("value", float(tokens)),))


def parse_length(text: str | int | LengthDist, field_name: str = "length") -> LengthDist:
    """A length distribution from a number or a spec string; errors name the field and the value."""
    if isinstance(text, LengthDist):
        return text
    raw = str(text).strip()
    if re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", raw):
        value = float(raw)
        if not 1 <= value <= MAX_TOKENS or value != int(value):
            raise PlannerError(f"{field_name} {raw}: must be a whole number of tokens between 1 and {MAX_TOKENS:,}")
        return LengthDist("fixed", (("value", value),))
    kind, sep, rest = raw.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS or not sep:
        raise PlannerError(f"{field_name} {raw!r} is not a length or a distribution; expected a whole number or {SPEC_HELP}")
    if kind == "empirical":
        try:
            values = tuple(int(float(v)) for v in rest.split(",") if v.strip())
        except (ValueError, OverflowError):
            raise PlannerError(f"{field_name} {raw!r}: empirical values must be numbers separated by commas") from None
        if not values or min(values) < 1 or max(values) > MAX_TOKENS:
            raise PlannerError(f"{field_name} {raw!r}: empirical values must be between 1 and {MAX_TOKENS:,}")
        return LengthDist("empirical", (), values)
    if kind == "fixed":
        rest = rest if "=" in rest else f"value={rest}"
    params = {}
    for item in rest.split(","):
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or name not in _PARAMS[kind]:
            raise PlannerError(f"{field_name} {raw!r}: {kind} takes {', '.join(k + '=' for k in _PARAMS[kind])} (got {item.strip()!r})")
        try:
            params[name] = float(value)
        except ValueError:
            raise PlannerError(f"{field_name} {raw!r}: {name} must be a number, got {value.strip()!r}") from None
    missing = [k for k in _PARAMS[kind] if k not in params]
    if missing:
        raise PlannerError(f"{field_name} {raw!r}: {kind} needs {', '.join(missing)}")
    return _checked(LengthDist(kind, tuple((k, params[k]) for k in _PARAMS[kind])), field_name, raw)


def _checked(d: LengthDist, field_name: str, raw: str) -> LengthDist:
    p = d.p
    bad = None
    if any(not math.isfinite(v) for v in p.values()):
        bad = "parameters must be finite numbers"
    elif d.kind == "fixed" and not 1 <= p["value"] <= MAX_TOKENS:
        bad = f"must be between 1 and {MAX_TOKENS:,} tokens"
    elif d.kind == "normal" and not (1 <= p["mean"] <= MAX_TOKENS and 0 <= p["std"] <= MAX_TOKENS):
        bad = f"mean must be 1..{MAX_TOKENS:,} and std 0..{MAX_TOKENS:,}"
    elif d.kind == "lognormal" and not (1 <= p["median"] <= MAX_TOKENS and 0 <= p["sigma"] <= 4):
        bad = f"median must be 1..{MAX_TOKENS:,} and sigma 0..4"
    elif d.kind == "uniform" and not (1 <= p["low"] <= p["high"] <= MAX_TOKENS):
        bad = f"needs 1 <= low <= high <= {MAX_TOKENS:,}"
    if bad:
        raise PlannerError(f"{field_name} {raw!r}: {bad}")
    return d


@dataclass(frozen=True)
class RequestMix:
    """The requests of a workload: lengths (independent distributions, or joint pairs from a
    log), optional arrival times, and prefix sharing.

    `prefix_tokens`: a prompt prefix every request shares (a system prompt), computed once and
    then served from the prefix cache; `cache_hit_rate`: the share of each prompt found in the
    cache. Either removes that much prefill work where the engine caches prefixes.
    """

    isl: LengthDist
    osl: LengthDist
    prefix_tokens: int = 0
    cache_hit_rate: float = 0.0
    source: str = ""
    estimated: bool = False  # token counts estimated from text (~4 characters per token)
    pairs: np.ndarray | None = field(default=None, compare=False, repr=False)  # (N, 2) joint ISL, OSL of a log
    arrivals_s: np.ndarray | None = field(default=None, compare=False, repr=False)  # seconds from the log's start

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`n` (ISL, OSL) pairs: joint rows of the log when there is one, else independent draws."""
        if self.pairs is not None:
            rows = self.pairs[rng.integers(0, len(self.pairs), n)]
            return rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
        return self.isl.sample(n, rng), self.osl.sample(n, rng)

    def cached_tokens(self, isl: np.ndarray) -> np.ndarray:
        """Prompt tokens served from the prefix cache (never the whole prompt: the last token is always computed)."""
        isl = np.asarray(isl, dtype=np.int64)
        hit = np.maximum(np.minimum(self.prefix_tokens, isl - 1), np.floor(self.cache_hit_rate * isl).astype(np.int64))
        return np.clip(hit, 0, np.maximum(isl - 1, 0))

    @property
    def mean_isl(self) -> float:
        return float(self.pairs[:, 0].mean()) if self.pairs is not None else self.isl.mean

    @property
    def mean_osl(self) -> float:
        return float(self.pairs[:, 1].mean()) if self.pairs is not None else self.osl.mean

    @property
    def is_fixed(self) -> bool:
        return self.pairs is None and self.isl.is_fixed and self.osl.is_fixed

    def describe(self) -> str:
        text = self.source or f"ISL {self.isl.spec()}, OSL {self.osl.spec()}"
        if self.prefix_tokens:
            text += f", shared prefix {self.prefix_tokens} tokens"
        if self.cache_hit_rate:
            text += f", prefix-cache hit rate {self.cache_hit_rate:.0%}"
        if self.estimated:
            text += " (token counts estimated from text at ~4 characters per token)"
        return text


def fixed_mix(isl: int, osl: int) -> RequestMix:
    return RequestMix(fixed(isl), fixed(osl))


def parse_workload(text: str | RequestMix | None, isl: int | str | None = None, osl: int | str | None = None, **log_options) -> RequestMix:
    """A workload from `--workload` (a request log path or `isl=...;osl=...[;prefix=N|cache_hit=F]`),
    else from `--isl` / `--osl` (numbers or distribution specs)."""
    if isinstance(text, RequestMix):
        return text
    if text is None or str(text).strip() == "":
        return RequestMix(parse_length(1024 if isl is None else isl, "isl"), parse_length(1024 if osl is None else osl, "osl"))
    raw = str(text).strip()
    path = Path(raw).expanduser()
    if path.exists() or re.search(r"\.(csv|jsonl|json|ndjson|txt)$", raw, re.I):
        from .requestlog import read_log

        if not path.exists():
            raise PlannerError(f"workload {raw!r}: no such file (give a request log, CSV or JSON lines, or isl=...;osl=...)")
        if path.is_dir():
            raise PlannerError(f"workload {raw!r}: {path} is a folder, not a request log (give a CSV or JSON-lines file, or isl=...;osl=...)")
        return read_log(path, **log_options).mix()
    parts: dict[str, str] = {}
    for item in re.split(r"[;\s]+", raw):
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in ("isl", "osl", "prefix", "cache_hit"):
            raise PlannerError(
                f"workload {raw!r}: expected a request-log file or 'isl=SPEC;osl=SPEC[;prefix=N][;cache_hit=F]' with SPEC one of {SPEC_HELP} (got {item!r})"
            )
        parts[key] = value.strip()
    if "isl" not in parts and isl is not None:
        parts["isl"] = str(isl)
    if "osl" not in parts and osl is not None:
        parts["osl"] = str(osl)
    missing = [k for k in ("isl", "osl") if k not in parts]
    if missing:
        raise PlannerError(f"workload {raw!r} lacks {' and '.join(missing)} (e.g. 'isl=normal:mean=2000,std=400;osl=fixed:256')")
    prefix, hit = 0, 0.0
    if "prefix" in parts:
        try:
            prefix = int(parts["prefix"])
        except ValueError:
            raise PlannerError(f"workload {raw!r}: prefix must be a whole number of tokens") from None
        if not 0 <= prefix <= MAX_TOKENS:
            raise PlannerError(f"workload {raw!r}: prefix must be 0..{MAX_TOKENS:,} tokens")
    if "cache_hit" in parts:
        try:
            hit = float(parts["cache_hit"])
        except ValueError:
            hit = -1.0
        if not 0.0 <= hit < 1.0:
            raise PlannerError(f"workload {raw!r}: cache_hit must be a fraction in [0, 1)")
    return RequestMix(parse_length(parts["isl"], "isl"), parse_length(parts["osl"], "osl"), prefix, hit, source=raw)
