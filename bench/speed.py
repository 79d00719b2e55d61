"""Speed of the vectorised sweep against a plain Python loop over the same configurations.

The grid: one model on every catalog GPU x every precision x TP 1-8 x PP 1-4 x batch 1-1024 x
five ISL/OSL pairs (invalid combinations dropped). The sweep evaluates it with numpy; the loop
calls the same model functions one configuration at a time on a random sample of the grid
(the full loop would take hours) and its rate is extrapolated.

    python bench/speed.py [--model ID] [--loop-sample N] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner import serving  # noqa: E402
from planner.catalog import get_model, gpus  # noqa: E402
from planner.defaults import DEFAULT_EFFICIENCIES  # noqa: E402
from planner.specs import DEFAULT_KV, EngineSettings, Precision  # noqa: E402
from planner.sweep import grid, sweep  # noqa: E402

LENGTHS = [(128, 128), (128, 2048), (2048, 128), (2048, 2048), (1000, 1000)]
GRID = dict(tps=range(1, 9), pps=range(1, 5), batches=range(1, 1025), lengths=LENGTHS)


def loop(model, gs, ps, g, idx):
    """The same computation, one configuration at a time in Python."""
    eng = EngineSettings()
    for i in idx:
        p = ps[g["prec_idx"][i]]
        s = serving.prepare(model, [gs[g["gpu_idx"][i]]], [p], [DEFAULT_KV[p]], [g["tp"][i]], [g["pp"][i]], eng, DEFAULT_EFFICIENCIES)
        serving.concurrency(s, g["isl"][i], g["osl"][i], g["batch"][i])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="meta-llama/Llama-3.1-8B")
    ap.add_argument("--loop-sample", type=int, default=2000, help="configurations timed in the Python loop")
    ap.add_argument("--repeat", type=int, default=3, help="sweep repetitions (best is reported)")
    args = ap.parse_args(argv)

    model = get_model(args.model)
    gs, ps = list(gpus().values()), list(Precision)
    sweep(model, tps=[1], batches=[1], lengths=LENGTHS[:1])  # warm the catalogs
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        frame = sweep(model, **GRID)
        times.append(time.perf_counter() - t0)
    n = len(frame)
    best = min(times)
    rate = n / best

    g = grid(model, gs, ps, GRID["tps"], GRID["pps"], GRID["batches"], GRID["lengths"])
    idx = np.random.default_rng(0).choice(len(g["tp"]), size=min(args.loop_sample, len(g["tp"])), replace=False)
    t0 = time.perf_counter()
    loop(model, gs, ps, g, idx)
    loop_rate = len(idx) / (time.perf_counter() - t0)

    print(
        f"model {model.id}: {n:,} configurations ({len(gs)} GPUs x {len(ps)} precisions x TP 1-8 x PP 1-4 x batch 1-1024 x {len(LENGTHS)} ISL/OSL; invalid dropped)"
    )
    print(f"vectorised sweep: best of {args.repeat}: {best:.2f} s -> {rate:,.0f} configurations/s (fits: {int(frame.fits.sum()):,})")
    print(f"plain Python loop, same functions, {len(idx)} sampled configurations: {loop_rate:,.0f} configurations/s")
    print(f"configs={n} configs_per_s={rate:.3g} loop_configs_per_s={loop_rate:.3g} ratio_vs_loop={rate / loop_rate:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
