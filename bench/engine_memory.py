"""Engine memory: the KV cache each logged engine start-up allocated, against the planner's.

Reads `../shared/data/engine_memory/engine_memory_logs.csv` (public vLLM, SGLang and TensorRT-LLM
start-up logs: model, GPU, settings, and the KV capacity the engine printed), predicts each
start-up's KV cache with `planner.estimate` under the logged settings, and prints the error per
row (KV tokens where the log gives them, else KV GiB per GPU) with the median and p90 absolute
percentage error. Rows the planner cannot describe (a model or GPU not in the catalog, an
architecture it does not model) are listed with the reason; "FAILED" start-ups must be predicted
not to fit.

    python bench/engine_memory.py [--csv FILE]

The last line is a `key=value` summary.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner import PlannerError, estimate  # noqa: E402
from planner.catalog import get_gpu, get_model  # noqa: E402

CSV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "engine_memory" / "engine_memory_logs.csv"
#: Tolerance the issue sets for each start-up (% of the logged KV tokens).
TARGET_PCT = 5.0


@dataclass
class Case:
    case_id: str
    kwargs: dict | None  # estimate() arguments; None when the row cannot be described
    reason: str  # why not, or what was read
    logged_tokens: float | None
    logged_gib: float | None
    failed: bool


def _first_float(value) -> float | None:
    m = re.search(r"-?\d+(?:\.\d+)?", str(value)) if pd.notna(value) else None
    return float(m.group()) if m else None


def _gpu(row):
    """The catalog GPU a row names (first word, then without its memory suffix), with the logged
    total memory in place of the catalog's where the log prints it."""
    text = str(row.gpu) if pd.notna(row.gpu) else ""
    word = re.split(r"[\s(]", text.strip())[0] if text.strip() else ""
    for name in (word, re.sub(r"-\d+G(B)?$", "", word)):
        try:
            g = get_gpu(name)
            break
        except PlannerError:
            continue
    else:
        raise PlannerError(f"GPU {text!r} is not in the catalog" if text else "GPU not stated")
    total = _first_float(row.gpu_total_gib_logged)
    return g.model_copy(update={"memory_gib": total}) if total else g


def _model(row):
    word = str(row.model).split()[0]
    return get_model(word)


def _precision(value) -> str | None:
    """A logged precision; `auto` (vLLM / SGLang `kv_cache_dtype`) is the model's 16-bit dtype."""
    if pd.isna(value):
        return None
    word = str(value).split()[0].lower()
    return "bf16" if word == "auto" else word


def _attention_dp(row) -> int:
    """Attention data-parallel ranks: from the logged SGLang command (`--dp N --enable-dp-attention`,
    where `--tp` counts every GPU), or from a case id that states it (`...-tp8dp8-...`); else 1."""
    command = str(row.quote) if pd.notna(row.quote) else ""
    m = re.search(r"--dp(?:-size)?[ =](\d+)", command)
    if m and "--enable-dp-attention" in command:
        return int(m.group(1))
    m = re.search(r"-tp\d+dp(\d+)(?:-|$)", str(row.case_id))
    return int(m.group(1)) if m else 1


def _stated_version(row) -> str | None:
    """The engine release a row states: the logged one, else the one its notes date the log format
    to ("The log format is the V0 worker of about v0.6.4"); None when neither says."""
    if pd.notna(row.engine_version):
        return str(row.engine_version)
    m = re.search(r"about v(\d+\.\d+(?:\.\d+)?)", str(row.notes)) if pd.notna(row.notes) else None
    return m.group(1) if m else None


def _versions(frame: pd.DataFrame) -> list[str | None]:
    """Each row's engine release: its own, else the one another row from the same source (the same
    issue comment or PR, "Same comment, run with ...") states."""
    stated = [_stated_version(row) for row in frame.itertuples(index=False)]
    by_source: dict[str, str] = {}
    for url, version in zip(frame.source_url, stated, strict=True):
        if version and pd.notna(url):
            by_source.setdefault(str(url), version)
    return [v or by_source.get(str(url)) for url, v in zip(frame.source_url, stated, strict=True)]


def _failed(row) -> bool:
    """Whether the start-up failed: the case id says so, or the notes ("Start-up FAILED because ...")."""
    return "FAILED" in str(row.case_id) or "start-up failed" in str(row.notes).lower()


def _fraction(row) -> float | None:
    """The logged memory fraction; None for the engine's default. A row that says SGLang set it
    automatically gets SGLang's automatic default (`planner.engine_limits.sglang_server_defaults`);
    any other row that says the value was not stated cannot be predicted."""
    text = str(row.memory_fraction_setting) if pd.notna(row.memory_fraction_setting) else ""
    if "automatic" in text.lower() and str(row.engine) == "sglang":
        return None
    if "not stated" in text.lower():
        raise PlannerError(f"memory fraction not stated ({text})")
    return _first_float(text)


def _backend(row) -> str | None:
    """TensorRT-LLM's runtime as the row states it ('cpp', 'pytorch (derived)'); None otherwise."""
    word = str(row.backend).split()[0].lower() if pd.notna(row.backend) and str(row.engine) == "trtllm" else ""
    return word if word in ("cpp", "pytorch") else None


def read_cases(path: Path = CSV) -> list[Case]:
    frame = pd.read_csv(path)
    cases = []
    for row, version in zip(frame.itertuples(index=False), _versions(frame), strict=True):
        tokens = _first_float(row.kv_tokens_logged)
        if tokens is None and pd.notna(row.kv_blocks_logged):
            tokens = float(row.kv_blocks_logged) * (_first_float(row.block_size) or 16.0)
        gib = _first_float(row.kv_gib_logged)
        failed = _failed(row)
        try:
            model, gpu = _model(row), _gpu(row)
            engine = str(row.engine)
            fraction = _fraction(row)
            adp = _attention_dp(row)
            tp = int(row.tp) if pd.notna(row.tp) else 1
            seq_len = int(row.max_seq_len) if pd.notna(row.max_seq_len) else None
            # the engine's max_seq_len: vLLM checks it against the cache; TensorRT-LLM's C++ runtime sizes its
            # decoder by it (the requests are then taken as long as it allows)
            isl, osl = (seq_len // 2, seq_len - seq_len // 2) if engine == "trtllm" and seq_len else (1024, 1024)
            kw = dict(
                model=model,
                gpu=gpu,
                precision=_precision(row.precision),
                kv_precision=_precision(row.kv_precision),
                tp=tp // adp,
                attention_dp=adp,
                pp=int(row.pp) if pd.notna(row.pp) else 1,
                engine=engine,
                engine_version=version,
                free_gpu_memory_fraction=fraction,
                max_num_tokens=int(row.max_num_tokens) if pd.notna(row.max_num_tokens) else None,
                max_batch_size=int(row.max_batch_size) if pd.notna(row.max_batch_size) else None,
                max_model_len=seq_len if engine in ("vllm", "trtllm") else None,
                trtllm_backend=_backend(row),
                isl=isl,
                osl=osl,
                profile="none",
            )
            if pd.isna(row.tp):
                raise PlannerError("TP not stated")
            cases.append(Case(row.case_id, kw, "", tokens, gib, failed))
        except PlannerError as exc:
            cases.append(Case(row.case_id, None, str(exc), tokens, gib, failed))
    return cases


def predict_case(case: Case) -> dict:
    """The planner's KV cache for one start-up, and its error against the log."""
    e = estimate(**case.kwargs)
    tokens = e.kv_capacity_tokens // e.attention_dp  # an engine logs one attention-DP rank's pool
    version = case.kwargs.get("engine_version") or ""
    out = {"case": case.case_id, "version": version, "fits": e.fits, "pred_tokens": tokens, "pred_gib": e.kv_cache_gib_per_gpu}
    started = not case.failed  # a failed start-up must be predicted not to start, and its logged capacity still compared
    if case.logged_tokens:
        err = 100.0 * (tokens / case.logged_tokens - 1.0)
        out.update(logged=f"{case.logged_tokens:,.0f} tokens", error_pct=err, ok=abs(err) <= TARGET_PCT and e.fits == started)
    elif case.logged_gib and case.logged_gib > 0:  # a failed start-up may log the negative memory it lacked
        err = 100.0 * (e.kv_cache_gib_per_gpu / case.logged_gib - 1.0)
        out.update(logged=f"{case.logged_gib:.2f} GiB", error_pct=err, ok=abs(err) <= TARGET_PCT and e.fits == started)
    elif case.failed:
        out.update(logged="did not fit", error_pct=0.0 if not e.fits else np.nan, ok=not e.fits)
    else:
        out.update(logged="nothing to compare", error_pct=np.nan, ok=None)
    if case.failed:
        out["logged"] += " (failed)"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=CSV)
    args = ap.parse_args(argv)
    cases = read_cases(args.csv)
    rows, skipped = [], []
    for case in cases:
        if case.kwargs is None:
            skipped.append((case.case_id, case.reason))
            continue
        try:
            rows.append(predict_case(case))
        except PlannerError as exc:
            skipped.append((case.case_id, str(exc)))
    frame = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 50):
        print(frame.assign(error_pct=frame.error_pct.round(1), pred_gib=frame.pred_gib.round(2)).to_string(index=False))
    print(f"\nnot predicted ({len(skipped)}):")
    for case_id, reason in skipped:
        print(f"  {case_id}: {reason}")
    e = frame.error_pct.dropna().abs()
    within = int(frame.ok.fillna(False).astype(bool).sum())
    print(
        f"\ncases={len(cases)} predicted={len(frame)} within_{TARGET_PCT:g}pct={within} "
        f"median_ape={np.median(e):.1f} p90_ape={np.percentile(e, 90):.1f} max_ape={e.max():.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
