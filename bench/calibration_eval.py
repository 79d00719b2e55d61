"""Does calibration keep its promise? Calibrate on a little, predict the rest.

Throughput (TensorRT-LLM v0.13 and v1.0 offline): for each GPU x precision group that has them, fit a profile through the
same code path as `python -m planner calibrate` on *only* the `meta-llama/Llama-3.1-8B` TP1 rows
(what a short profiling run on a small model gives), then predict every other row of the group
(other models, MoE, MHA, TP 2-8, all lengths). Also leave-one-model-out: fit on the group's other
models, predict the left-out one.

Latency: per GPU x engine x precision of the AIConfigurator file, fit on one model's concurrency
sweep and predict the other models' TTFT and ITL (every model takes a turn); and on the v0.14
online file, fit on one model's rows and predict the other's.

Same model, held-out rows (every file): per GPU x engine x precision x model, fit on part of the
model's own rows and predict the rest: its other TP degrees (fitted on the smallest), its longer
sequences (fitted on ISL + OSL up to the median), its higher concurrencies (fitted up to the
median), and every other row (fitted on the alternate ones). This is the use the README recommends
(a profile made on the model you will serve), and it checks the uncertainty those answers state.

Another GPU or precision (TensorRT-LLM offline tables; `--transfer FILE...` for others): fit on
each GPU x engine x precision group, predict the same engine's other groups with that profile given
by hand. The lookup uses another precision of the same GPU when the precision asked about has no
profile; it never uses another GPU's profile, which this protocol shows to be no better than the
uncalibrated model.

Every table shows the analytic (uncalibrated) error on the same rows beside the calibrated one,
and how often the errors stay within the uncertainty each answer states.

    python bench/calibration_eval.py [--data DIR] [--quick]   (--quick skips the held-out-rows and other-group protocols)
    python bench/calibration_eval.py --transfer aiconfigurator_silicon_agg.csv

The last line is a `key=value` summary (throughput, 8B-TP1 protocol).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import ape, summarise  # noqa: E402  (the same error measures as bench/accuracy.py)

from planner import (
    PlannerError,  # noqa: E402
    calibration,  # noqa: E402
    profiles,  # noqa: E402
)
from planner.calibration import calibrate  # noqa: E402
from planner.measurements import row_gpu  # noqa: E402
from planner.predict import predict, read_measurements  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "measured"
SMALL = "meta-llama/Llama-3.1-8B"


def stats(e: pd.Series) -> str:
    return summarise(e).replace("  ", " ")


def with_predictions(rows: pd.DataFrame, profile, by_hand: bool = False) -> pd.DataFrame:
    """Calibrated and analytic predictions of the same rows, side by side. The profile is used
    where the lookup would take it for a row (its GPU, engine and precision, or another precision),
    else the row gets the shipped profiles; `by_hand` uses it for every row, as `--profile` does."""
    cal = predict(rows, profile=profile) if by_hand else predict(rows, profiles=[profile])
    ana = predict(rows, profile=False)
    out = rows.copy()
    for m in ("output_tok_s", "ttft_ms", "itl_ms"):
        out[f"cal_{m}"] = cal[f"pred_{m}"].to_numpy()
        out[f"ana_{m}"] = ana[f"pred_{m}"].to_numpy()
    out["cal_uncertainty"] = pd.to_numeric(cal["pred_uncertainty_pct"], errors="coerce").to_numpy()
    out["ana_uncertainty"] = pd.to_numeric(ana["pred_uncertainty_pct"], errors="coerce").to_numpy()
    return out


def coverage(frame: pd.DataFrame) -> str:
    """How often the error stays within the uncertainty the answer states, calibrated and analytic,
    overall and by the calibrated band's size."""
    cal_ok = frame._cal.notna() & frame.cal_uncertainty.notna()
    inside = frame._cal <= frame.cal_uncertainty
    parts = [
        f"calibrated {100 * inside[cal_ok].mean():.0f} % (median band ±{frame.cal_uncertainty[cal_ok].median():.0f} %)",
        f"analytic {100 * (frame._ana <= frame.ana_uncertainty)[frame._ana.notna()].mean():.0f} %",
    ]
    bands = pd.cut(frame.cal_uncertainty[cal_ok], [0, 10, 20, 40, 80, np.inf], labels=["<=10", "10-20", "20-40", "40-80", ">80"])
    by_band = [f"{b} % {100 * inside[cal_ok][bands == b].mean():.0f} % (n={int((bands == b).sum())})" for b in bands.cat.categories if (bands == b).any()]
    return ", ".join(parts) + "; calibrated, by stated band: " + ", ".join(by_band)


def table(frame: pd.DataFrame, metric: str, by: list[list[str]]) -> None:
    cal, ana = ape(frame[f"cal_{metric}"], frame[metric]), ape(frame[f"ana_{metric}"], frame[metric])
    frame = frame.assign(_cal=cal, _ana=ana)
    print(f"  {metric} overall   calibrated {stats(frame._cal)}   | analytic {stats(frame._ana)}")
    # a rule not adopted: each prediction from whichever of the two states the smaller uncertainty
    profile_first = frame.cal_uncertainty <= frame.ana_uncertainty
    chosen = ape(frame[f"cal_{metric}"].where(profile_first, frame[f"ana_{metric}"]), frame[metric])
    print(f"  {metric} taking the smaller stated uncertainty (profile for {100 * profile_first.mean():.0f} % of rows): {stats(chosen)}")
    if metric != "ttft_ms":  # the stated uncertainty is of throughput and ITL (TTFT has its own band)
        print(f"  {metric} errors within the stated uncertainty (a band set from p90 errors should hold about 90 %): " + coverage(frame))
    for keys in by:
        print(f"  by {' x '.join(keys)}:")
        for key, grp in frame.groupby(keys, dropna=False):
            label = " x ".join(map(str, key if isinstance(key, tuple) else (key,)))
            print(f"    {label:42s} calibrated {stats(grp._cal)}   | analytic {stats(grp._ana)}")


def fit(rows: pd.DataFrame, gpu: str, engine: str, precision: str):
    return calibrate(rows, gpu, engine, precision, command="bench/calibration_eval.py")


def throughput_eval(path: Path, quick: bool, skip_gpus=()) -> dict:
    data = read_measurements(path)
    data = data[~data.gpu.isin(skip_gpus)]
    data["gpu"] = [row_gpu(r) for r in data.to_dict("records")]
    small, lomo = [], []
    for (gpu, precision), grp in data.groupby(["gpu", "precision"]):
        train = grp[(grp.model == SMALL) & (grp.tp == 1) & (grp.pp == 1)]
        if train.empty:
            print(f"{gpu} x {precision}: no {SMALL} TP1 rows to calibrate on; its {len(grp)} rows are left out of the 8B-TP1 protocol")
        else:
            prof = fit(train, gpu, "trtllm", precision)
            print(f"{gpu} x {precision}: fitted on {len(train)} {SMALL} TP1 rows: " + ", ".join(f"{k}={prof.parameters[k]:.3g}" for k in prof.fitted))
            small.append(with_predictions(grp.drop(train.index), prof))
        if quick:
            continue
        for model, held in grp.groupby("model"):  # every group with two models or more, 8B TP1 rows or not
            rest = grp[grp.model != model]
            try:
                lomo.append(with_predictions(held, fit(rest, gpu, "trtllm", precision)))
            except PlannerError as exc:
                print(f"  {gpu} x {precision} leave-one-model-out {model}: {exc}")
    result = pd.concat(small)
    print(f"\n=== throughput ({path.name}): calibrate on {SMALL} TP1 only, predict the other {len(result)} rows of each group ===")
    table(result, "output_tok_s", [["gpu", "precision"], ["model"], ["tp"]])
    if lomo:
        lo = pd.concat(lomo)
        print(f"\n=== throughput: leave one model out ({len(lo)} rows) ===")
        table(lo, "output_tok_s", [["gpu", "precision"], ["model"]])
    e = ape(result.cal_output_tok_s, result.output_tok_s).dropna()
    a = ape(result.ana_output_tok_s, result.output_tok_s).dropna()
    return {
        "rows": len(e),
        "median_ape": np.median(e),
        "p90_ape": np.percentile(e, 90),
        "max_ape": e.max(),
        "analytic_median_ape": np.median(a),
        "analytic_p90_ape": np.percentile(a, 90),
    }


def held_out_splits(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Training masks over one model's rows, by what the held-out rows go beyond."""
    splits = {}
    tps = sorted(rows.tp.unique())
    if len(tps) > 1:
        splits["other TP"] = rows.tp == tps[0]
    length = rows.isl + rows.osl
    if length.nunique() > 2:
        splits["longer sequences"] = length <= length.median()
    clients = rows.concurrency.fillna(0)
    if clients.nunique() > 2:
        splits["more clients"] = clients <= clients.median()
    order = rows.sort_values(["tp", "isl", "osl"], kind="stable").index
    splits["alternate rows"] = pd.Series(np.arange(len(order)) % 2 == 0, index=order).reindex(rows.index)
    return splits


def same_model_eval(paths: list[Path]) -> dict:
    """Fit on part of one model's rows, predict the rest of that model's rows (`held_out_splits`)."""
    parts = []
    for path in paths:
        data = read_measurements(path)
        data["gpu"] = [row_gpu(r) for r in data.to_dict("records")]
        data["engine"] = data.get("engine", pd.Series("trtllm", index=data.index)).fillna("trtllm")
        for (gpu, engine, precision, _model), grp in data.groupby(["gpu", "engine", "precision", "model"]):
            if len(grp) < 6:
                continue
            for protocol, train in held_out_splits(grp).items():
                if train.sum() < 3 or train.all():
                    continue
                try:
                    prof = fit(grp[train], gpu, engine, precision)
                except PlannerError:
                    continue
                parts.append(with_predictions(grp[~train], prof).assign(protocol=protocol, file=path.name))
    result = pd.concat(parts)
    print(f"\n=== same model, held-out rows: fit on part of a model's rows, predict the rest ({len(result)} predictions) ===")
    for metric in ("output_tok_s", "itl_ms"):
        rows = result[result[metric].notna()]
        if len(rows):
            table(rows, metric, [["protocol"], ["file"]])
    measured = np.where(result.itl_ms.notna(), result.itl_ms, result.output_tok_s)
    predicted = np.where(result.itl_ms.notna(), result.cal_itl_ms, result.cal_output_tok_s).astype(float)
    err = pd.Series(100 * np.abs(predicted / measured - 1), index=result.index)
    ok = err.notna() & result.cal_uncertainty.notna()
    return {
        "predictions": int(ok.sum()),
        "within_stated_pct": 100 * float((err[ok] <= result.cal_uncertainty[ok]).mean()),
        "median_stated_pct": float(result.cal_uncertainty[ok].median()),
    }


def other_group_eval(paths: list[Path]) -> dict:
    """Fit on each GPU x engine x precision group, predict the file's other groups of the same
    engine (another GPU, or the same GPU at another precision) with that profile given by hand;
    throughput where the rows have it, ITL where they have that."""
    parts = []
    for path in paths:
        data = read_measurements(path)
        data["gpu"] = [row_gpu(r) for r in data.to_dict("records")]
        data["engine"] = data.get("engine", pd.Series("trtllm", index=data.index)).fillna("trtllm")
        groups = dict(tuple(data.groupby(["gpu", "engine", "precision"])))
        for (gpu, engine, precision), rows in groups.items():
            try:
                prof = fit(rows, gpu, engine, precision)
            except PlannerError:
                continue
            for (other, other_engine, other_precision), held in groups.items():
                if other_engine == engine and (other, other_precision) != (gpu, precision):
                    parts.append(
                        with_predictions(held, prof, by_hand=True).assign(
                            file=path.name, same_gpu=other == gpu, same_precision=other_precision == precision, fitted_model=held.model.isin(rows.model)
                        )
                    )
    result = pd.concat(parts)
    print(f"\n=== another GPU or precision: fit on one GPU x engine x precision, predict the file's other groups ({len(result)} predictions) ===")
    out = {}
    for metric in ("output_tok_s", "itl_ms"):
        rows = result[result[metric].notna()]
        if rows.empty:
            continue
        table(rows, metric, [["file", "engine", "same_gpu", "same_precision"]])
        other_precision = rows[rows.same_gpu & ~rows.same_precision]
        if len(other_precision):
            print(f"  same GPU, another precision ({metric}), by whether the profile was fitted on the row's model:")
            table(other_precision, metric, [["fitted_model"]])
        other_gpu = rows[~rows.same_gpu]
        print(f"  another GPU only ({metric}):")
        table(other_gpu, metric, [])
        err = ape(other_gpu[f"cal_{metric}"], other_gpu[metric])
        ok = err.notna() & other_gpu.cal_uncertainty.notna()
        out[f"{metric}_predictions"] = int(ok.sum())
        out[f"{metric}_within_stated_pct"] = 100 * float((err[ok] <= other_gpu.cal_uncertainty[ok]).mean())
        out[f"{metric}_median_ape"] = float(np.median(err.dropna()))
        out[f"{metric}_analytic_median_ape"] = float(np.median(ape(other_gpu[f"ana_{metric}"], other_gpu[metric]).dropna()))
    return out


def latency_eval(path: Path, quick: bool) -> dict:
    data = read_measurements(path)
    data["gpu"] = [row_gpu(r) for r in data.to_dict("records")]
    data["engine"] = data.get("engine", pd.Series("trtllm", index=data.index)).fillna("trtllm")
    parts, eta_c = [], []
    for (gpu, engine, precision), grp in data.groupby(["gpu", "engine", "precision"]):
        models = grp.model.unique()
        if len(models) < 2:
            continue
        for model in models[:2] if quick else models:
            train, test = grp[grp.model == model], grp[grp.model != model]
            try:
                prof = fit(train, gpu, engine, precision)
            except PlannerError as exc:
                print(f"{gpu} x {engine} x {precision}: fit on {model}: {exc}")
                continue
            parts.append(with_predictions(test, prof).assign(fitted_on=model))
            eta_c.append(prof.parameters["eta_compute"])
    if not parts:
        return {}
    result = pd.concat(parts)
    print(f"\n=== latency ({path.name}): calibrate on one model, predict the others ({len(result)} predictions) ===")
    low = profiles.BOUNDS["eta_compute"][0]
    print(
        f"  fitted eta_compute over {len(eta_c)} fits: median {np.median(eta_c):.2f}, min {min(eta_c):.2f}, {sum(e < 1.5 * low for e in eta_c)} near the lower bound {low}"
    )
    for metric in ("ttft_ms", "itl_ms"):
        table(result, metric, [["gpu", "engine", "precision"], ["engine"]])
    out = {}
    for metric in ("ttft_ms", "itl_ms"):
        e = ape(result[f"cal_{metric}"], result[metric]).dropna()
        if len(e):
            out[f"{metric}_median_ape"] = np.median(e)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--quick", action="store_true", help="skip leave-one-model-out and most rotations")
    ap.add_argument(
        "--skip-gpu", nargs="*", default=[], metavar="GPU", help="leave these GPUs' rows out of the throughput evaluation (as the measurement file names them)"
    )
    ap.add_argument(
        "--fit-ttft",
        action="store_true",
        help="also fit TTFT under load (weight 1, as throughput and ITL), to see what that does to the efficiencies and to ITL",
    )
    ap.add_argument(
        "--transfer",
        nargs="+",
        metavar="FILE",
        help="run only the another-GPU-or-precision protocol, on these files of --data (e.g. aiconfigurator_silicon_agg.csv, "
        "about 4 min); the full run does it on the two offline TensorRT-LLM tables",
    )
    args = ap.parse_args(argv)
    if args.transfer:
        r = other_group_eval([args.data / f for f in args.transfer])
        print()
        print(" ".join(f"other_gpu_{k}={round(v, 1)}" for k, v in r.items()))
        return 0
    if args.fit_ttft:
        calibration.METRIC_WEIGHTS["ttft_ms"] = 1.0
        print("fitting TTFT too (METRIC_WEIGHTS['ttft_ms'] = 1)")
    tp = throughput_eval(args.data / "trtllm_v0.13_offline.csv", args.quick, args.skip_gpu)
    v1 = throughput_eval(args.data / "trtllm_v1.0_offline.csv", args.quick, args.skip_gpu)
    online = latency_eval(args.data / "trtllm_v0.14_online.csv", args.quick)
    aic = latency_eval(args.data / "aiconfigurator_silicon_agg.csv", args.quick)
    files = ("trtllm_v0.13_offline.csv", "trtllm_v1.0_offline.csv", "trtllm_v0.14_online.csv", "aiconfigurator_silicon_agg.csv")
    same = {} if args.quick else same_model_eval([args.data / f for f in files])
    other_gpu = {} if args.quick else other_group_eval([args.data / f for f in files[:2]])
    summary = {
        "rows": tp["rows"],
        "median_ape": round(tp["median_ape"], 1),
        "p90_ape": round(tp["p90_ape"], 1),
        "max_ape": round(tp["max_ape"], 1),
        "analytic_median_ape": round(tp["analytic_median_ape"], 1),
        "analytic_p90_ape": round(tp["analytic_p90_ape"], 1),
    }
    summary.update({f"v1_{k}": round(v, 1) if isinstance(v, float) else v for k, v in v1.items() if k != "max_ape"})
    for prefix, r in (("online", online), ("aic", aic), ("same_model", same), ("other_gpu", other_gpu)):
        for k, v in r.items():
            summary[f"{prefix}_{k}"] = round(v, 1)
    print()
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
