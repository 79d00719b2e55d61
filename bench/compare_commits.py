"""What a change did to the predictions: every measured row predicted at another commit and at this one.

For each file of `../shared/data/measured/`, predicts every row with the uncalibrated model
(`predict(..., profile=False)`) in a temporary `git worktree` of COMMIT and in this checkout, and
prints, per predicted quantity, how many rows both predict, how many of those changed (relative
difference above 1e-9) and by how much at most, and how many rows only one of them predicts.

    python bench/compare_commits.py COMMIT [--data DIR] [--rows N]

`--rows N` lists the N rows that changed most: the measured value, both predictions and their errors.

Needs git; the worktree is removed afterwards.
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
COLUMNS = ["pred_output_tok_s", "pred_ttft_ms", "pred_itl_ms"]
#: Run in a fresh interpreter at a checkout: predicts every row of every file, writes one pickle.
PREDICT = """
import sys, pandas as pd
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from planner.predict import predict, read_measurements
frames = []
for path in sorted(Path(sys.argv[2]).glob("*.csv")):
    frame = predict(read_measurements(path), profile=False)
    frame["file"] = path.name
    frames.append(frame)
pd.concat(frames, ignore_index=True).to_pickle(sys.argv[3])
"""


def predictions(checkout: Path, data: Path, out: Path) -> pd.DataFrame:
    subprocess.run([sys.executable, "-c", PREDICT, str(checkout), str(data), str(out)], check=True, cwd=checkout)
    return pd.read_pickle(out)


def compare(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Per file and quantity: rows both predict, rows changed, the largest relative change, rows new or lost."""
    rows = []
    for name, o in old.groupby("file"):
        n = new[new.file == name]
        if len(o) != len(n):
            raise SystemExit(f"error: {name} has {len(o)} rows at the other commit and {len(n)} here")
        for col in COLUMNS:
            a, b = pd.to_numeric(o[col], errors="coerce").to_numpy(), pd.to_numeric(n[col], errors="coerce").to_numpy()
            both = ~np.isnan(a) & ~np.isnan(b)
            rel = np.abs(a[both] - b[both]) / np.abs(a[both]) if both.any() else np.array([0.0])
            rows.append(
                {
                    "file": name,
                    "quantity": col.removeprefix("pred_"),
                    "both": int(both.sum()),
                    "changed": int((rel > 1e-9).sum()),
                    "max_rel_change": float(rel.max()),
                    "new": int((np.isnan(a) & ~np.isnan(b)).sum()),
                    "lost": int((~np.isnan(a) & np.isnan(b)).sum()),
                }
            )
    return pd.DataFrame(rows)


def changed_rows(old: pd.DataFrame, new: pd.DataFrame, n: int) -> pd.DataFrame:
    """The `n` predictions that changed most, with what was measured and both errors (%)."""
    keys = [c for c in ("file", "model", "gpu", "engine", "precision", "tp", "pp", "isl", "osl", "concurrency") if c in new.columns]
    out = []
    for col in COLUMNS:
        measured = col.removeprefix("pred_")
        if measured not in new.columns:
            continue
        a, b = pd.to_numeric(old[col], errors="coerce"), pd.to_numeric(new[col], errors="coerce")
        rel = ((a - b).abs() / a.abs()).where(a.notna() & b.notna())
        hit = new.loc[rel > 1e-9, keys].copy()
        m = pd.to_numeric(new.loc[hit.index, measured], errors="coerce")
        hit["quantity"] = measured
        hit["measured"], hit["before"], hit["now"] = m, a[hit.index], b[hit.index]
        hit["ape_before"] = (100 * (hit.before - m).abs() / m).round(1)
        hit["ape_now"] = (100 * (hit.now - m).abs() / m).round(1)
        hit["change"] = rel[hit.index]
        out.append(hit)
    rows = pd.concat(out) if out else pd.DataFrame()
    return rows.sort_values("change", ascending=False).head(n).drop(columns="change") if len(rows) else rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("commit")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rows", type=int, default=0, help="list the N predictions that changed most")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), args.commit], check=True, cwd=ROOT)
        try:
            old = predictions(tree, args.data, Path(tmp) / "old.pkl")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True, cwd=ROOT)
        new = predictions(ROOT, args.data, Path(tmp) / "new.pkl")
    table = compare(old, new)
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False))
    print(
        f"\nboth={int(table.both.sum())} changed={int(table.changed.sum())} new={int(table.new.sum())} "
        f"lost={int(table.lost.sum())} max_rel_change={table.max_rel_change.max():.3g}"
    )
    if args.rows:
        rows = changed_rows(old, new, args.rows)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(f"\nthe {len(rows)} predictions that changed most:\n" + (rows.to_string(index=False) if len(rows) else "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
