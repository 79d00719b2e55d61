"""The same deployment measured by two TensorRT-LLM releases: how much the engine alone moved.

Pairs the rows of two offline measurement files that describe the same deployment (model, with an
`-Instruct` suffix ignored; GPU; precision; TP; PP; ISL; OSL; the KV precision is printed, since
a file may leave it blank, which the planner reads as FP8 for FP8 weights) and prints the newer
release's measured output tokens/s over the older's, with the analytic model's ratio for the same
pair beside it. The model has one set of default efficiencies for every TensorRT-LLM release, so
its ratio stays near 1 wherever the two rows' inputs agree; the measured ratio is what a single set
cannot follow, and what a calibration profile per engine version (`calibrate`, `--engine-version`)
is for.

    python bench/engine_versions.py [--old trtllm_v0.13_offline.csv] [--new trtllm_v1.0_offline.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.predict import predict, read_measurements  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "measured"
KEYS = ["model", "gpu", "precision", "tp", "pp", "isl", "osl"]


def pairs(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of `old` and `new` (offline, no concurrency or rate) that describe the same deployment."""

    def offline(frame):
        f = frame[frame["concurrency"].isna() & frame["request_rate"].isna()].copy()
        f["model_key"] = f["model"].str.replace(r"-Instruct$", "", regex=True)
        return f

    keys = ["model_key"] + KEYS[1:]
    return offline(old).merge(offline(new), on=keys, suffixes=("_old", "_new"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--old", default="trtllm_v0.13_offline.csv")
    ap.add_argument("--new", default="trtllm_v1.0_offline.csv")
    args = ap.parse_args(argv)
    old, new = read_measurements(args.data / args.old), read_measurements(args.data / args.new)
    m = pairs(old, new)
    if m.empty:
        print(f"no deployment is measured in both {args.old} and {args.new}")
        return 0

    def side(suffix):
        own = ("model", "engine", "kv_precision", "ep", "concurrency", "request_rate", "num_requests", "output_tok_s")
        frame = m.rename(columns={f"{c}_{suffix}": c for c in own})[list(own) + KEYS[1:]]
        return predict(frame, profile=False)

    p_old, p_new = side("old"), side("new")
    m["measured_new_over_old"] = m["output_tok_s_new"] / m["output_tok_s_old"]
    m["model_new_over_old"] = p_new["pred_output_tok_s"].to_numpy(float) / p_old["pred_output_tok_s"].to_numpy(float)
    pd.set_option("display.width", 200)
    cols = [
        "model_key",
        "gpu",
        "precision",
        "kv_precision_old",
        "kv_precision_new",
        "tp",
        "isl",
        "osl",
        "output_tok_s_old",
        "output_tok_s_new",
        "measured_new_over_old",
        "model_new_over_old",
    ]
    print(f"{len(m)} deployments measured in both {args.old} (old) and {args.new} (new):\n")
    print(m[cols].round(2).to_string(index=False))
    g = m.groupby(["model_key", "gpu", "tp"])["measured_new_over_old"].agg(["count", "median", "min", "max"])
    print("\nmeasured new / old, per model x GPU x TP:")
    print(g.round(2).to_string())
    r = m["measured_new_over_old"]
    print(f"\nall pairs: median {r.median():.2f}, min {r.min():.2f}, max {r.max():.2f}; the model's ratio: median {m['model_new_over_old'].median():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
