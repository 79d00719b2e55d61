"""How far the closed-loop closed form (`serving.concurrency`: what `sweep --concurrency` and
calibration's concurrency rows use) is from measured benchmark runs, uncalibrated.

Every row of a measurement file that names a concurrency (closed-loop clients) is predicted with
the closed form and the engine's default efficiencies (no profile, no simulation; `bench/accuracy.py`
predicts the same rows by simulating each run). Prints the median / p90 absolute percentage error
of TTFT and ITL, overall and per engine, and the median ratio predicted / measured.
`--at COMMIT` also evaluates the planner of another commit (in a temporary `git worktree`) on the
same rows, for a before / after.

    python bench/closed_loop.py [--file aiconfigurator_silicon_agg.csv] [--at COMMIT]

The last line is a `key=value` summary (this checkout).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "measured"
#: Run in a fresh interpreter at a checkout: the closed form's TTFT and ITL for every concurrency row, one pickle.
EVALUATE = """
import sys, warnings
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from planner.calibration import Group
from planner.catalog import get_gpu
from planner.defaults import default_efficiencies
from planner.errors import PlannerError
from planner.specs import Precision
warnings.filterwarnings("ignore")
frame = pd.read_csv(sys.argv[2])
frame = frame[frame["concurrency"].notna()].reset_index(drop=True)
frame["row"] = frame.index
parts = []
for (gpu, engine, precision), rows in frame.groupby(["gpu", "engine", "precision"]):
    try:
        group = Group(rows, get_gpu(gpu), engine, Precision(precision))
    except (PlannerError, ValueError):
        continue
    out = group.predict(default_efficiencies(engine))
    parts.append(pd.DataFrame({"row": group.frame["row"], "pred_ttft_ms": out["ttft_ms"], "pred_itl_ms": out["itl_ms"]}))
pd.concat(parts, ignore_index=True).to_pickle(sys.argv[3])
"""


def evaluate(checkout: Path, path: Path) -> pd.DataFrame:
    """The closed form's predictions for the concurrency rows of `path`, by the planner at `checkout`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pred.pkl"
        subprocess.run([sys.executable, "-c", EVALUATE, str(checkout), str(path), str(out)], check=True)
        return pd.read_pickle(out)


def summary(frame: pd.DataFrame, pred: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Median / p90 APE and median ratio of TTFT and ITL, overall and per engine."""
    joined = frame.merge(pred, on="row", how="left")
    result = {}
    for scope, rows in [("all", joined), *joined.groupby("engine")]:
        stats = {"n": float(rows["pred_itl_ms"].notna().sum())}
        for metric in ("ttft_ms", "itl_ms"):
            ratio = pd.to_numeric(rows[f"pred_{metric}"], errors="coerce") / pd.to_numeric(rows[metric], errors="coerce")
            ape = (100.0 * (ratio - 1.0).abs()).dropna()
            stats[f"{metric}_median"] = float(np.median(ape)) if len(ape) else float("nan")
            stats[f"{metric}_p90"] = float(np.percentile(ape, 90)) if len(ape) else float("nan")
            stats[f"{metric}_ratio"] = float(np.nanmedian(ratio)) if ratio.notna().any() else float("nan")
        result[str(scope)] = stats
    return result


def show(label: str, stats: dict[str, dict[str, float]]) -> None:
    print(f"\n{label}")
    print(f"  {'':8s} {'n':>5s}   {'TTFT median / p90 (ratio)':>28s}   {'ITL median / p90 (ratio)':>27s}")
    for scope, s in stats.items():
        print(
            f"  {scope:8s} {int(s['n']):5d}   {s['ttft_ms_median']:7.1f}% / {s['ttft_ms_p90']:6.1f}% ({s['ttft_ms_ratio']:4.2f})"
            f"   {s['itl_ms_median']:6.1f}% / {s['itl_ms_p90']:6.1f}% ({s['itl_ms_ratio']:4.2f})"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default="aiconfigurator_silicon_agg.csv", help="measurement file of --data (default: AIConfigurator's)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of measurement CSVs")
    ap.add_argument("--at", metavar="COMMIT", help="also evaluate the planner of this commit on the same rows")
    args = ap.parse_args(argv)
    path = args.data / args.file
    if not path.is_file():
        ap.error(f"{path}: no such file")
    frame = pd.read_csv(path)
    frame = frame[frame["concurrency"].notna()].reset_index(drop=True)
    frame["row"] = frame.index
    print(f"{args.file}: {len(frame)} rows with a concurrency; closed form, engine defaults (no profile)")
    if args.at and subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", f"{args.at}^{{commit}}"], capture_output=True).returncode:
        ap.error(f"--at {args.at}: not a commit of this repository")
    if args.at:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.at], check=True)
            try:
                show(f"at {args.at}", summary(frame, evaluate(tree, path)))
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    stats = summary(frame, evaluate(ROOT, path))
    show("this checkout", stats)
    s = stats["all"]
    print()
    print(" ".join(f"{k}={s[k]:.1f}" for k in ("ttft_ms_median", "ttft_ms_p90", "itl_ms_median", "itl_ms_p90")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
