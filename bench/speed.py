"""Speed: the vectorised sweep against a plain Python loop, the scheduler simulation, and
`recommend` over the whole catalog.

1. The grid: one model on every catalog GPU x every precision x TP 1-8 x PP 1-4 x batch 1-1024
   x five ISL/OSL pairs (invalid combinations dropped). The sweep evaluates it with numpy; the
   loop calls the same model functions one configuration at a time on a random sample of the
   grid (the full loop would take hours) and its rate is extrapolated.
2. The discrete-event simulation of one replica: 10,000 Poisson requests (Llama-3.1-70B FP8 TP4
   on H100, log-normal lengths, 80% of its sustainable rate), 10,000 requests from 256
   closed-loop clients, and the Azure conversation trace replayed (19,366 requests).
3. `recommend` for Llama-3.1-70B over every catalog GPU x precision x TP 1-8 x PP 1-2 (first
   call in the process, then the best of three), with the simulation check of the first choice.
4. `predict` over `../shared/data/measured/trtllm_v0.13_offline.csv` (862 offline rows): the
   vectorised path, against one `estimate` per row (what `predict` did before, including each
   offline row's queued-burst simulation) on a sample of rows, extrapolated; the figures agree.

    python bench/speed.py [--model ID] [--loop-sample N] [--repeat N] [--skip-sweep]
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
from planner.workload import parse_workload  # noqa: E402

DATA_TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "traces"
DATA_MEASURED = DATA_TRACES.parent / "measured"

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
    ap.add_argument("--skip-sweep", action="store_true", help="only the simulation and recommend timings")
    args = ap.parse_args(argv)
    if not args.skip_sweep:
        sweep_speed(args)
    simulation_speed()
    recommend_speed(args.repeat)
    predict_speed(args.repeat)
    return 0


def predict_speed(repeat: int, sample: int = 40) -> None:
    from planner.measurements import read_measurements, row_kwargs
    from planner.predict import _one, predict

    frame = read_measurements(DATA_MEASURED / "trtllm_v0.13_offline.csv")
    predict(frame.head(3))  # profiles loaded, caches warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = predict(frame)
        times.append(time.perf_counter() - t0)
    sampled = frame.sample(sample, random_state=0)
    t0 = time.perf_counter()
    slow = [_one(row_kwargs(r))[0] for r in sampled.to_dict("records")]
    per_row = (time.perf_counter() - t0) / sample
    agree = float(np.max(np.abs(np.array(slow) / out.loc[sampled.index, "pred_output_tok_s"].to_numpy(float) - 1)))
    best = min(times)
    print(
        f"predict v0.13 ({len(frame)} rows): vectorised {best:.3f} s ({best / len(frame) * 1e3:.3f} ms/row); "
        f"one estimate per row {per_row * 1e3:.1f} ms/row on {sample} sampled rows -> {per_row * len(frame):.1f} s; "
        f"speed-up {per_row * len(frame) / best:.0f}x; largest throughput difference {agree:.1e}"
    )
    print(f"predict_s={best:.3f} predict_loop_s={per_row * len(frame):.1f} predict_speedup={per_row * len(frame) / best:.0f}")


def simulation_speed() -> None:
    from planner.load import simulate_load, sustainable_rate

    p = Precision.fp8
    s = serving.prepare(get_model("llama-3.1-70b"), [gpus()["H100-SXM"]], [p], [DEFAULT_KV[p]], [4], [1], EngineSettings(), DEFAULT_EFFICIENCIES)
    mix = parse_workload("isl=lognormal:median=800,sigma=0.8;osl=lognormal:median=200,sigma=0.7")
    plan = s.plan(round(mix.mean_isl), round(mix.mean_osl))
    mu = sustainable_rate(s, plan, mix)
    runs = {
        "poisson_10k": dict(rate=0.8 * mu, num_requests=10_000),
        "closed_256_10k": dict(concurrency=256, num_requests=10_000),
    }
    trace = DATA_TRACES / "azure_llm_2023_conv.csv"
    for name, kw in runs.items():
        t0 = time.perf_counter()
        st = simulate_load(s, plan, mix, **kw)
        dt = time.perf_counter() - t0
        print(
            f"simulation {name}: {st.num_requests:,} requests in {dt:.3f} s (incl. the sustainable-rate run for open loops); TTFT p90 {st.percentile('ttft', 90) * 1e3:.0f} ms"
        )
        print(f"sim_{name}_s={dt:.3f}")
    if trace.exists():
        log = parse_workload(str(trace))
        plan = s.plan(round(log.mean_isl), round(log.mean_osl))
        t0 = time.perf_counter()
        st = simulate_load(s, plan, log, trace=True)
        dt = time.perf_counter() - t0
        print(f"simulation azure_conv replay: {st.num_requests:,} requests in {dt:.3f} s")
        print(f"sim_azure_conv_s={dt:.3f}")


def recommend_speed(repeat: int) -> None:
    from planner.search import recommend
    from planner.sla import Sla

    mix = parse_workload("isl=2048;osl=512")
    sla = Sla(ttft_ms=1000, itl_ms=50)
    t0 = time.perf_counter()
    rec = recommend("meta-llama/Llama-3.1-70B", 20.0, mix, sla)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rec = recommend("meta-llama/Llama-3.1-70B", 20.0, mix, sla)
        times.append(time.perf_counter() - t0)
    best = rec.recommendations[0]
    print(
        f"recommend Llama-3.1-70B, 20 requests/s, 2048/512, {sla.describe()}: {rec.question['candidates']} deployments, "
        f"first call {first:.2f} s (loads profiles), then best of {repeat} {min(times):.2f} s; "
        f"first choice {best['replicas']} x {best['gpu']} {best['precision']} TP{best['tp']} ({best['verified_by']})"
    )
    print(f"recommend_first_s={first:.3f} recommend_s={min(times):.3f}")


def sweep_speed(args) -> None:
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


if __name__ == "__main__":
    raise SystemExit(main())
