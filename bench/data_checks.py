"""Consistency of the measurement files: the same measurement filed under different deployments,
client counts the source states otherwise, and precisions that no kernel of the row's engine runs
on the row's GPU.

A row is one measured deployment. When two rows of a file carry the very same measured values
(TTFT, ITL and output tokens/s, all to the file's precision) for the same model, GPU, precision
and lengths, but different parallelism or concurrency, at most one of the labels can be right,
and a model checked against both is checked against a mislabelled row. This lists such groups
per file, so that whoever owns `../shared/data` can correct them; the planner's benches keep
reading the rows as they are.

A row whose precision its engine cannot run on its GPU at all (NVFP4 in TensorRT-LLM on Hopper:
no FP4 tensor cores and no weight-only NVFP4 kernel) measured something else; where the model's
checkpoint ships another precision the engine does run there, that is named as the likely one.

    python bench/data_checks.py [--data DIR] [--examples N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog import get_gpu, get_model  # noqa: E402
from planner.errors import PlannerError  # noqa: E402
from planner.measurements import row_concurrency  # noqa: E402
from planner.predict import read_measurements  # noqa: E402
from planner.specs import Precision  # noqa: E402

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


def clients_from_source(frame: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """Rows whose `source` names another client count (`silicon_concurrency=N`) than their
    `concurrency`: how many the reader takes N for (`row_concurrency`: attention-DP rows, where N is
    concurrency x attention_dp, one rank's batch_size filed as the concurrency), and the others,
    which it reads as filed."""
    named = frame.get("source", pd.Series("", index=frame.index)).astype(str).str.extract(r"silicon_concurrency=(\d+)")[0].astype(float)
    conc = pd.to_numeric(frame.get("concurrency", pd.Series(float("nan"), index=frame.index)), errors="coerce")
    differ = named.notna() & conc.notna() & (named != conc)
    adp = pd.to_numeric(frame.get("attention_dp", pd.Series(1, index=frame.index)), errors="coerce").fillna(1).clip(lower=1)
    read = [row_concurrency(r, int(a)) for r, a in zip(frame.to_dict("records"), adp, strict=True)]
    taken = differ & (pd.Series(read, index=frame.index, dtype=float) == named)
    cols = [c for c in ("model", "gpu", "engine", "tp", "ep", "attention_dp", "concurrency") if c in frame]
    left = frame.loc[differ & ~taken, cols].assign(source_clients=named[differ & ~taken])
    return int(taken.sum()), left


def unrunnable_precisions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per model x GPU x engine x precision whose engine has no kernel for that precision on
    that GPU, with the checkpoint's own precision where the engine does run it (else empty)."""
    out = []
    for (model, gpu, engine, precision), grp in frame.groupby(["model", "gpu", "engine", "precision"], dropna=False):
        try:
            g, prec = get_gpu(str(gpu)), Precision(str(precision))
            own = get_model(str(model)).checkpoint_precision
        except (PlannerError, ValueError):
            continue
        if g.supports(prec, str(engine)):
            continue
        likely = own.value if own is not None and g.supports(own, str(engine)) else ""
        out.append({"model": model, "gpu": gpu, "engine": engine, "precision": precision, "rows": len(grp), "checkpoint_precision": likely})
    return pd.DataFrame(out, columns=["model", "gpu", "engine", "precision", "rows", "checkpoint_precision"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--examples", type=int, default=5, help="groups to print per file")
    args = ap.parse_args(argv)
    total = 0
    for path in sorted(args.data.glob("*.csv")):
        frame = read_measurements(path)
        groups = conflicting_labels(frame)
        total += len(groups)
        print(f"{path.name}: {len(groups)} measurement(s) filed under more than one deployment")
        for shared, labels in groups[: args.examples]:
            what = ", ".join(f"{k} {v}" for k, v in shared.items() if pd.notna(v))
            print(f"  {what}")
            print("    " + labels.to_string(index=False).replace("\n", "\n    "))
        taken, left = clients_from_source(frame)
        if taken or len(left):
            print(f"  {taken} attention-DP row(s) read with the clients their source names (concurrency x attention_dp)")
        if len(left):
            print(f"  {len(left)} row(s) whose source names other clients, not explained by attention DP, read as filed:")
            print("    " + left.to_string(index=False).replace("\n", "\n    "))
        bad = unrunnable_precisions(frame)
        if len(bad):
            print(f"  {int(bad.rows.sum())} row(s) at a precision their engine cannot run on their GPU (checkpoint_precision: the likely one):")
            print("    " + bad.to_string(index=False).replace("\n", "\n    "))
    print(f"groups={total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
