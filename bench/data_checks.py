"""Consistency of the measurement files: the same measurement filed under different deployments.

A row is one measured deployment. When two rows of a file carry the very same measured values
(TTFT, ITL and output tokens/s, all to the file's precision) for the same model, GPU, precision
and lengths, but different parallelism or concurrency, at most one of the labels can be right,
and a model checked against both is checked against a mislabelled row. This lists such groups
per file, so that whoever owns `../shared/data` can correct them; the planner's benches keep
reading the rows as they are.

    python bench/data_checks.py [--data DIR] [--examples N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.predict import read_measurements  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "measured"
SAME = ["model", "gpu", "precision", "isl", "osl"]
MEASURED = ["ttft_ms", "itl_ms", "output_tok_s"]
LABELS = ["tp", "pp", "ep", "attention_dp", "concurrency", "request_rate"]


def conflicting_labels(frame: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """Groups of rows with identical measured values but different deployment labels:
    `(the shared fields, the distinct labels)` per group."""
    measured = [c for c in MEASURED if c in frame and frame[c].notna().any()]
    labels = [c for c in LABELS if c in frame]
    rows = frame.dropna(subset=measured, how="all")
    out = []
    for key, grp in rows.groupby(SAME + measured, dropna=False):
        distinct = grp[labels].astype(str).drop_duplicates()
        if len(distinct) > 1:
            out.append((dict(zip(SAME + measured, key, strict=True)), distinct))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--examples", type=int, default=5, help="groups to print per file")
    args = ap.parse_args(argv)
    total = 0
    for path in sorted(args.data.glob("*.csv")):
        groups = conflicting_labels(read_measurements(path))
        total += len(groups)
        print(f"{path.name}: {len(groups)} measurement(s) filed under more than one deployment")
        for shared, labels in groups[: args.examples]:
            what = ", ".join(f"{k} {v}" for k, v in shared.items() if pd.notna(v))
            print(f"  {what}")
            print("    " + labels.to_string(index=False).replace("\n", "\n    "))
    print(f"groups={total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
