"""Accuracy of the uncalibrated (analytic) model against published measurements.

(`--profiles shipped` shows the in-sample error of the shipped calibration profiles instead; the
honest out-of-sample test of calibration is `bench/calibration_eval.py`.)

Predicts every row of `../shared/data/measured/*.csv` and prints the median and p90 absolute
percentage error (APE) of output tokens/s, and of TTFT / ITL where measured: overall and per
GPU x precision, per model, per TP. Rows it cannot predict are counted, with the reason.

Rows with a concurrency or a request rate are predicted by simulating the benchmark run the row
describes (`planner.load`: its clients or Poisson arrivals, its request count, the engine's
scheduler); an offline row's TTFT and ITL, where measured, by simulating its queued burst of
`num_requests` requests (its throughput stays the offline model's).

    python bench/accuracy.py [--data DIR] [--file NAME ...]

The last line is a `key=value` summary for the v0.13 offline file (the issue's target).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog import get_model  # noqa: E402
from planner.defaults import DEFAULT_EFFICIENCIES, ENGINE_EFFICIENCIES, Efficiencies, default_efficiencies, model_class  # noqa: E402
from planner.errors import PlannerError, validation_line  # noqa: E402
from planner.measurements import row_gpu  # noqa: E402
from planner.predict import predict, read_measurements  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "measured"
METRICS = [("output_tok_s", "pred_output_tok_s"), ("ttft_ms", "pred_ttft_ms"), ("itl_ms", "pred_itl_ms")]


def ape(predicted: pd.Series, measured: pd.Series) -> pd.Series:
    """Absolute percentage error of each prediction (NaN where either is missing)."""
    p, m = pd.to_numeric(predicted, errors="coerce"), pd.to_numeric(measured, errors="coerce")
    return (100.0 * (p - m).abs() / m).where(m > 0)


def summarise(errors: pd.Series, ratio: pd.Series | None = None) -> str:
    """n, median / p90 / max APE, and with `ratio` the median predicted / measured (< 1: under-predicted)."""
    e = errors.dropna()
    if e.empty:
        return "n=0"
    text = f"n={len(e):4d}  median={np.median(e):6.1f}%  p90={np.percentile(e, 90):6.1f}%  max={e.max():7.1f}%"
    return text if ratio is None else f"{text}  ratio={np.nanmedian(ratio):5.2f}"


def _class(model: str, attention_dp) -> str:
    """The row's model class (`planner.defaults.model_class`), "unknown" for a model the catalog lacks."""
    try:
        is_moe = get_model(model).is_moe
    except PlannerError:
        return "unknown"
    return model_class(is_moe, 1 if pd.isna(attention_dp) else float(attention_dp))


def report(name: str, frame: pd.DataFrame, worst: int = 0) -> dict:
    print(f"\n=== {name}: {len(frame)} rows ===")
    bad = frame["pred_source"].astype(str).str.startswith("error")
    if bad.any():
        print(f"unpredicted: {int(bad.sum())}")
        for reason, n in frame.loc[bad, "pred_source"].value_counts().items():
            print(f"  {n:4d}  {reason}")
    result = {"rows": len(frame), "unpredicted": int(bad.sum())}
    frame["gpu"] = [row_gpu(r) for r in frame.to_dict("records")]  # the GPU each row ran on: GH200 at TP 4 is DGX-GH200
    frame["model_class"] = [_class(m, a) for m, a in zip(frame["model"], frame.get("attention_dp", pd.Series(1, index=frame.index)), strict=True)]
    for measured, predicted in METRICS:
        if measured not in frame or frame[measured].notna().sum() == 0:
            continue
        err = ape(frame[predicted], frame[measured])
        frame[f"ape_{measured}"] = err
        print(f"\n{measured}: overall {summarise(err)}")
        frame[f"ratio_{measured}"] = pd.to_numeric(frame[predicted], errors="coerce") / pd.to_numeric(frame[measured], errors="coerce")
        print(f"  median signed error (+ = over-prediction): {np.nanmedian(frame[f'ratio_{measured}'] - 1) * 100:+.1f}%")
        for by in (["gpu", "precision"], ["model"], ["model_class"], ["tp"], ["engine"], ["engine", "model_class"]):
            if frame[by[0]].nunique() < 2 and by != ["gpu", "precision"]:
                continue
            print(f"  by {' x '.join(by)}:")
            for key, grp in frame.groupby(by, dropna=False):
                label = " x ".join(map(str, key if isinstance(key, tuple) else (key,)))
                print(f"    {label:45s} {summarise(grp[f'ape_{measured}'], grp[f'ratio_{measured}'])}")
        if measured == "output_tok_s" and frame["tp"].nunique() > 1:
            ratio = pd.to_numeric(frame[predicted], errors="coerce") / pd.to_numeric(frame[measured], errors="coerce")
            table = frame.assign(ratio=ratio).pivot_table(index=["isl", "osl"], columns="tp", values="ratio", aggfunc="median")
            print("  median predicted / measured by ISL x OSL (rows) and TP (columns):")
            print("    " + table.round(2).to_string().replace("\n", "\n    "))
        if worst:
            cols = [c for c in ("model", "gpu", "precision", "tp", "isl", "osl", "concurrency", measured, predicted) if c in frame]
            print(f"  the {worst} largest errors:")
            print("    " + frame.assign(ape=err).nlargest(worst, "ape")[cols + ["ape"]].round(1).to_string(index=False).replace("\n", "\n    "))
        e = err.dropna()
        if len(e):
            result[f"{measured}_median_ape"] = float(np.median(e))
            result[f"{measured}_p90_ape"] = float(np.percentile(e, 90))
    return result


def as_dep(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with MoE models and no `attention_dp` re-read as DEP over their `tp` GPUs."""
    out = frame.copy()
    adp = pd.to_numeric(out.get("attention_dp", pd.Series(np.nan, index=out.index)), errors="coerce")
    moe = out["model"].map(lambda m: get_model(m).is_moe) & adp.isna() & (out["tp"] > 1)
    out["attention_dp"] = adp.where(~moe, out["tp"])
    out.loc[moe, "ep"] = out.loc[moe, "tp"]
    out.loc[moe, "tp"] = 1
    return out


def parse_changes(items: list[str]) -> dict:
    """`--set NAME=VALUE` / `NAME.KEY=VALUE` items as efficiency changes (exits with a one-line error)."""
    changes: dict = {}
    for item in items:
        name, _, value = item.partition("=")
        field, _, key = name.partition(".")
        known = field in Efficiencies.model_fields
        current = getattr(DEFAULT_EFFICIENCIES, field) if known else None
        if not known or not value or bool(key) != isinstance(current, dict) or (key and key not in current):
            raise SystemExit(
                f"error: --set {item!r}: expected NAME=VALUE, or NAME.KEY=VALUE for a per-precision or per-link field, "
                f"with NAME one of {', '.join(Efficiencies.model_fields)}"
            )
        try:
            number = float(value)
        except ValueError:
            raise SystemExit(f"error: --set {item!r}: {value!r} is not a number") from None
        changes[field] = {**changes.get(field, {}), key: number} if key else number
    for engine in ENGINE_EFFICIENCIES:
        changed_efficiencies(engine, changes)  # bad values fail here, before any prediction
    return changes


def changed_efficiencies(engine: str, changes: dict) -> Efficiencies:
    """The engine's analytic defaults (`default_efficiencies`) with `changes` applied on top.

    A change to one key of a per-precision or per-link field keeps the field's other keys.
    """
    base = default_efficiencies(engine).model_dump()
    merged = {k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in changes.items()}
    try:
        return Efficiencies(**{**base, **merged})
    except ValidationError as exc:
        raise SystemExit(f"error: --set: {validation_line(exc)}") from None


def predict_changed(rows: pd.DataFrame, changes: dict, **limits) -> pd.DataFrame:
    """Analytic predictions with `changes` over each row's engine's own defaults (rows keep their order)."""
    engines = rows["engine"].fillna("trtllm").astype(str)
    parts = [predict(rows[engines == e], efficiencies=changed_efficiencies(e, changes), **limits) for e in engines.unique()]
    return pd.concat(parts).loc[rows.index]


def under_load(rows: pd.DataFrame) -> pd.Series:
    """The TensorRT-LLM rows run under load (a concurrency or a request rate): what `--serve-limits` applies to."""
    missing = pd.Series(np.nan, index=rows.index)
    trtllm = rows.get("engine", missing).fillna("trtllm").eq("trtllm")
    return trtllm & (rows.get("concurrency", missing).notna() | rows.get("request_rate", missing).notna())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder of measurement CSVs")
    ap.add_argument("--file", nargs="*", help="only these file names")
    ap.add_argument(
        "--profiles",
        choices=["none", "shipped"],
        default="none",
        help="none: the uncalibrated analytic model (default); shipped: the profiles in profiles/, which were fitted on these very files (in-sample)",
    )
    ap.add_argument(
        "--moe-as-dep",
        action="store_true",
        help="read MoE rows that give no attention_dp as DEP (attention data parallel and expert parallel over the "
        "row's tp GPUs: tp 1, attention_dp = ep = tp); the TensorRT-LLM perf-overview pages enable attention DP for "
        "their Qwen3-MoE and Llama-4 runs while the v1.0 table's labels say TP, so neither reading is certain",
    )
    ap.add_argument("--worst", type=int, default=0, metavar="N", help="also list the N rows with the largest errors, per file and metric")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change one default efficiency for this run, e.g. --set overlap_exponent=2 or --set eta_compute.fp8=0.54 "
        "(see planner/defaults.py), on top of each engine's own defaults (ENGINE_EFFICIENCIES); implies --profiles none",
    )
    ap.add_argument(
        "--serve-limits",
        metavar="BATCH,TOKENS",
        help="give the TensorRT-LLM rows run under load (a concurrency or a request rate) these engine limits instead of "
        "trtllm-bench's sizing, e.g. 2048,8192 (trtllm-serve's own defaults, TensorRT-LLM BuildConfig)",
    )
    args = ap.parse_args(argv)
    serve = None
    if args.serve_limits:
        try:
            batch, tokens = (int(x) for x in args.serve_limits.split(","))
        except ValueError:
            raise SystemExit(f"error: --serve-limits {args.serve_limits!r}: expected BATCH,TOKENS, e.g. 2048,8192") from None
        serve = {"max_batch_size": batch, "max_num_tokens": tokens}
    overrides = {"profile": False} if args.profiles == "none" else {}
    changes = parse_changes(args.set)
    if changes:
        print(f"efficiencies changed for this run, over each engine's defaults: {changes}")
    files = sorted(args.data.glob("*.csv"))
    if args.file:
        unknown = sorted(set(args.file) - {f.name for f in files})
        if unknown:
            raise SystemExit(f"error: --file {' '.join(unknown)}: not in {args.data}; its files: {', '.join(f.name for f in files)}")
        files = [f for f in files if f.name in args.file]
    if not files:
        raise SystemExit(f"error: no measurement CSVs in {args.data}")
    results = {}
    for path in files:
        rows = read_measurements(path)
        rows = as_dep(rows) if args.moe_as_dep else rows
        loaded = under_load(rows) if serve else pd.Series(False, index=rows.index)
        parts = []
        for subset, limits in ((rows[~loaded], {}), (rows[loaded], serve or {})):
            if len(subset):
                parts.append(predict_changed(subset, changes, **limits) if changes else predict(subset, **overrides, **limits))
        frame = pd.concat(parts).loc[rows.index]
        results[path.stem] = report(path.name, frame, args.worst)
    main_key = "trtllm_v0.13_offline"
    r = results.get(main_key) or next(iter(results.values()))
    summary = {
        "rows": r["rows"],
        "median_ape": round(r.get("output_tok_s_median_ape", float("nan")), 1),
        "p90_ape": round(r.get("output_tok_s_p90_ape", float("nan")), 1),
        "unpredicted": r["unpredicted"],
    }
    online = results.get("trtllm_v0.14_online")
    if online:
        summary["online_ttft_median_ape"] = round(online.get("ttft_ms_median_ape", float("nan")), 1)
        summary["online_itl_median_ape"] = round(online.get("itl_ms_median_ape", float("nan")), 1)
    agg = results.get("aiconfigurator_silicon_agg")
    if agg:
        summary["aic_ttft_median_ape"] = round(agg.get("ttft_ms_median_ape", float("nan")), 1)
        summary["aic_itl_median_ape"] = round(agg.get("itl_ms_median_ape", float("nan")), 1)
        summary["aic_unpredicted"] = agg["unpredicted"]
    print()
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
