"""Command line for serving under load: `workload`, `sweep` and `recommend` (DESIGN §5).

A thin layer over `planner.workload`, `planner.requestlog`, `planner.sizing`, `planner.search`
and `planner.cost`; every number comes from those modules. Bad input is a `PlannerError`,
printed by `planner.cli` as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pandas as pd

from .catalog import get_model
from .cli_options import engine_limit_options, engine_options, engine_settings, engine_version_option
from .configs import ARCHITECTURES
from .cost import OWNED_FIELDS, PriceBook, owned_hardware, parse_price_overrides
from .defaults import ARRIVALS, ttft_uncertainty_pct
from .errors import PlannerError, option_error
from .fileio import atomic_write_text
from .load import PERCENTILES, RateModel
from .requestlog import LONG_INPUT_TOKENS, LONG_OUTPUT_TOKENS, peak_window
from .search import DEFAULT_PPS, DEFAULT_TPS, candidates, frontier_sample, recommend
from .sla import Sla
from .sweep import row_sources, sweep
from .workload import parse_workload
from .workload_report import describe_workload

ARCH_HELP = "read the config.json as this architecture family when its model_type is one the planner does not know (one of: %(choices)s)"


def _workload_options(p: argparse.ArgumentParser, lengths: bool = True) -> None:
    g = p.add_argument_group("workload")
    if lengths:
        g.add_argument("--isl", default=None, help="input tokens: a number or a distribution (normal:mean=2000,std=400, lognormal:median=800,sigma=0.9, ...)")
        g.add_argument("--osl", default=None, help="output tokens: a number or a distribution")
    g.add_argument("--workload", default=None, metavar="SPEC|FILE", help="a request log (CSV / JSON lines) or 'isl=SPEC;osl=SPEC[;prefix=N][;cache_hit=F]'")
    g.add_argument("--input-column", default=None, help="the log's input-token column, when not recognised")
    g.add_argument("--output-column", default=None, help="the log's output-token column, when not recognised")
    g.add_argument("--time-column", default=None, help="the log's arrival-time column, when not recognised")
    g.add_argument(
        "--time-unit", choices=["s", "ms", "us"], default=None, help="unit of numeric arrival times (default: seconds, or what the trace's format says)"
    )


def workload_from_args(args: argparse.Namespace):
    opts = {k: getattr(args, k, None) for k in ("input_column", "output_column", "time_column", "time_unit")}
    return parse_workload(args.workload, getattr(args, "isl", None), getattr(args, "osl", None), **{k: v for k, v in opts.items() if v is not None})


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return v


def _sla_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("latency targets (a percentile of each, in ms)")
    g.add_argument("--ttft-ms", type=_positive_float, default=None, help=Sla.model_fields["ttft_ms"].description)
    g.add_argument("--ttft-pct", type=_positive_float, default=90.0, help="percentile of TTFT (default 90)")
    g.add_argument("--itl-ms", type=_positive_float, default=None, help=Sla.model_fields["itl_ms"].description)
    g.add_argument("--itl-pct", type=_positive_float, default=90.0, help="percentile of ITL (default 90)")
    g.add_argument("--e2e-ms", type=_positive_float, default=None, help=Sla.model_fields["e2e_ms"].description + " (optional)")
    g.add_argument("--e2e-pct", type=_positive_float, default=90.0, help="percentile of E2E (default 90)")


def _sla(args: argparse.Namespace) -> Sla:
    from pydantic import ValidationError

    try:
        return Sla(ttft_ms=args.ttft_ms, ttft_pct=args.ttft_pct, itl_ms=args.itl_ms, itl_pct=args.itl_pct, e2e_ms=args.e2e_ms, e2e_pct=args.e2e_pct)
    except ValidationError as exc:
        raise option_error(exc) from None


def _price_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("prices (default: the catalog's on-demand price of each GPU, with its market)")
    g.add_argument("--price", action="append", default=None, metavar="GPU=USD", help="price per GPU-hour, e.g. --price H100=2.49 (repeat per GPU)")
    g.add_argument("--prices", default=None, metavar="FILE", help="prices file: YAML list or CSV of gpu, usd_per_hour, market, source, date")
    g.add_argument("--own-server-usd-per-gpu", type=_positive_float, default=None, help="price owned hardware instead: purchase price per GPU (USD)")
    g.add_argument("--own-years", type=_positive_float, default=4.0, help="owned: amortisation years (default 4)")
    g.add_argument("--own-usd-per-kwh", type=float, default=0.10, help="owned: electricity USD/kWh (default 0.10)")
    g.add_argument("--own-pue", type=float, default=1.3, help="owned: data-centre PUE (default 1.3)")
    g.add_argument("--own-utilisation", type=float, default=0.7, help="owned: average power as a share of TDP (default 0.7)")
    g.add_argument("--own-hosting-usd-per-gpu-month", type=float, default=0.0, help="owned: hosting per GPU-month (default 0)")


def prices_from_args(args: argparse.Namespace) -> PriceBook:
    owned = owned_hardware(**{k: getattr(args, f"own_{k}") for k in OWNED_FIELDS}) if args.own_server_usd_per_gpu is not None else None
    return PriceBook(parse_price_overrides(args.price), args.prices, owned)


def add_parsers(sub, positive_int) -> None:
    w = sub.add_parser(
        "workload",
        help="describe a request log or distribution: histogram, patterns, arrivals, engine sizing",
        description="Describe a workload: ISL/OSL percentiles and 2D histogram, the four query patterns and (with --model/--gpu) their share of GPU time, arrivals per minute, and engine limits covering a percentile.",
    )
    w.add_argument("source", metavar="FILE|SPEC", help="request log (CSV / JSON lines) or 'isl=SPEC;osl=SPEC'")
    w.add_argument("--input-column", default=None)
    w.add_argument("--output-column", default=None)
    w.add_argument("--time-column", default=None)
    w.add_argument("--time-unit", choices=["s", "ms", "us"], default=None)
    w.add_argument("--long-input", type=positive_int, default=LONG_INPUT_TOKENS, help=f"prompts longer than this are long (default {LONG_INPUT_TOKENS})")
    w.add_argument("--long-output", type=positive_int, default=LONG_OUTPUT_TOKENS, help=f"answers longer than this are long (default {LONG_OUTPUT_TOKENS})")
    w.add_argument("--percentile", type=_positive_float, default=99.0, help="engine limits cover this percentile of requests (default 99)")
    w.add_argument("--model", default=None, help="for GPU-time shares and KV sizing")
    w.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES), metavar="FAMILY", help=ARCH_HELP)
    w.add_argument("--gpu", default=None, help="for GPU-time shares (with --model)")
    w.add_argument("--precision", default=None, help="default: a quantized checkpoint's own; else fp8 where the GPU has it, else bf16")
    w.add_argument("--tp", type=positive_int, default=1)
    w.add_argument("--engine", choices=["trtllm", "vllm", "sglang"], default="trtllm")
    w.add_argument("--bins", type=positive_int, default=8, help="ISL and OSL bins of the printed histogram (default 8)")
    w.add_argument("--format", choices=["table", "json"], default="table")

    sw = sub.add_parser(
        "sweep",
        help="every GPU x precision x TP x PP at several loads (CSV/JSON)",
        description="Sweep deployments of one model: closed-loop concurrencies (a benchmark run's approximation: equal requests, clients start together) or Poisson rates (the queueing approximation, with percentiles).",
    )
    sw.add_argument("--model", required=True)
    sw.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES), metavar="FAMILY", help=ARCH_HELP)
    sw.add_argument("--gpus", nargs="+", default=None, help="GPU ids (default: the catalog)")
    sw.add_argument(
        "--precisions", nargs="+", default=None, help="default: a quantized checkpoint's own; for a 16-bit one every precision each GPU runs but mxfp4"
    )
    sw.add_argument("--tp", nargs="+", type=positive_int, default=list(DEFAULT_TPS))
    sw.add_argument("--pp", nargs="+", type=positive_int, default=list(DEFAULT_PPS))
    sw.add_argument("--concurrency", nargs="+", type=positive_int, default=None, help="closed-loop client counts (default 1..512)")
    sw.add_argument("--rates", nargs="+", type=_positive_float, default=None, help="Poisson request rates (requests/s per replica) instead of concurrencies")
    engine_options(sw)
    engine_version_option(sw)
    _workload_options(sw)
    sw.add_argument("--format", choices=["csv", "json"], default="csv")
    sw.add_argument("--out", default=None, help="write here (atomically) instead of stdout")

    r = sub.add_parser(
        "recommend",
        help="which GPU, precision, parallelism and how many, for a rate within latency targets",
        description="Rank deployments that serve a request rate within TTFT/ITL targets by cost; the first choice is checked by simulation.",
    )
    r.add_argument("--model", required=True)
    r.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES), metavar="FAMILY", help=ARCH_HELP)
    r.add_argument(
        "--rate",
        default=None,
        help="requests/s of the whole traffic; 'peak' or 'mean' for a request log's busiest minute or its average (default with a log: peak)",
    )
    _workload_options(r)
    _sla_options(r)
    r.add_argument("--gpus", nargs="+", default=None, help="GPU ids to consider (default: the catalog)")
    r.add_argument(
        "--precisions",
        nargs="+",
        default=None,
        help="precisions to consider (default: a quantized checkpoint's own; for a 16-bit one all each GPU runs but mxfp4)",
    )
    r.add_argument("--tp", nargs="+", type=positive_int, default=list(DEFAULT_TPS))
    r.add_argument("--pp", nargs="+", type=positive_int, default=list(DEFAULT_PPS))
    r.add_argument("--engine", choices=["trtllm", "vllm", "sglang"], default="trtllm")
    engine_version_option(r)
    engine_limit_options(r)
    r.add_argument("--headroom", type=float, default=0.2, help="spare capacity on top of the rate (default 0.2 = 20%%)")
    r.add_argument("--budget", type=_positive_float, default=None, metavar="USD_PER_MONTH", help="reject fleets that cost more per month")
    r.add_argument(
        "--max-model-len",
        type=positive_int,
        default=None,
        metavar="N",
        help="longest request (prompt + output tokens) the deployment must accept, e.g. the model's full context: "
        "replicas whose KV cache cannot hold one are rejected (vLLM would refuse to start)",
    )
    _price_options(r)
    r.add_argument("--disaggregated", action="store_true", help="also size separate prefill and decode pools and compare")
    r.add_argument("--no-verify", action="store_true", help="skip the simulation check of the first choice")
    r.add_argument("--top", type=positive_int, default=10, help="options listed (default 10)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--format", choices=["table", "json"], default="table")


# ---------------------------------------------------------------------------------------------


def _workload(args: argparse.Namespace) -> int:
    opts = {k: getattr(args, k) for k in ("input_column", "output_column", "time_column", "time_unit") if getattr(args, k)}
    mix = parse_workload(args.source, **opts)
    out, shares, counts, ie, oe = describe_workload(
        mix, args.model, args.gpu, args.precision, args.tp, args.engine, args.percentile, args.long_input, args.long_output, args.bins
    )
    gpu_s = "gpu_time_basis" in out
    if args.format == "json":
        print(json.dumps(out, indent=2))
        return 0
    print(f"Workload: {out['workload']}")
    print(f"  requests {out['requests']:,}" + ("  (token counts estimated from text)" if mix.estimated else ""))
    frame = pd.DataFrame({"ISL": out["isl"], "OSL": out["osl"]}).T[["mean", "p50", "p90", "p95", "p99", "max"]]
    print("\nLengths (tokens)\n" + frame.round(0).astype(int).to_string())
    if "arrivals" in out:
        a = out["arrivals"]
        print(
            f"\nArrivals: {a['mean_rps']:.2f} requests/s on average over {a['duration_s'] / 60:.1f} min; per minute mean {a['per_minute_mean']:.0f}, "
            f"peak {a['per_minute_peak']}; busiest 60 s window {a['peak_minute_rps']:.2f} requests/s (starting at {a['peak_minute_start_s']:.0f} s)"
        )
    cols = ["pattern", "requests", "share_requests", "mean_isl", "mean_osl", "share_input_tokens", "share_output_tokens"] + (
        ["share_gpu_time"] if gpu_s else []
    )
    print(f"\nQuery patterns (long input > {args.long_input} tokens, long output > {args.long_output})")
    print(shares[cols].round(3).to_string(index=False))
    if gpu_s:
        print(f"  GPU time: {out['gpu_time_basis']}")
    print("\nISL x OSL histogram (requests; rows: ISL bins, columns: OSL bins)")
    labels_i = [f"{int(ie[k]):>6}-{int(ie[k + 1]):<6}" for k in range(len(ie) - 1)]
    labels_o = [f"{int(oe[k])}-{int(oe[k + 1])}" for k in range(len(oe) - 1)]
    print(pd.DataFrame(counts.astype(int), index=labels_i, columns=labels_o).to_string())
    if "engine_sizing" in out:
        z = out["engine_sizing"]
        print(f"\nEngine sizing for p{z['percentile']:g} of requests ({get_model(args.model).id})")
        print(f"  max_input_len {z['max_input_len']:,}   max_seq_len {z['max_seq_len']:,}   max_num_tokens {z['max_num_tokens']:,}")
        if z["full_context"]:
            print(
                f"  KV per sequence: {z['kv_gib_per_sequence_at_max_seq_len']:.3f} GiB at max_seq_len vs {z['kv_gib_per_sequence_at_full_context']:.3f} GiB "
                f"at the full {z['full_context']:,}-token context: {z['kv_gib_freed_per_sequence']:.3f} GiB freed per sequence slot"
            )
        if z.get("max_batch_size") is not None:
            print(
                f"  max_batch_size {z['max_batch_size']:,} sequences of max_seq_len fit the KV cache (vs {z['max_batch_size_at_full_context']} at full context)"
            )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    mix = workload_from_args(args)
    eng = engine_settings(args)
    for rate in args.rates or []:
        if not 1e-6 <= rate <= 1e6:
            raise PlannerError(f"--rates {rate:g}: must be request rates in [0.000001, 1000000] requests/s")
    if args.rates:
        c = candidates(args.model, mix, args.gpus, args.precisions, args.tp, args.pp, eng)
        model = RateModel(c.setup, c.plan, mix)
        fits = c.plan.max_batch >= 1
        if eng.max_model_len is not None:  # the engine must accept a request this long (vLLM refuses to start otherwise)
            c.model.check_max_model_len(eng.max_model_len, math.ceil(mix.mean_isl + mix.mean_osl))
            holds = c.setup.holds_request(eng.max_model_len, c.plan)
            fits = fits & holds
        frames = []
        for rate in args.rates:
            a = model.at(rate)
            f = {
                "gpu": [c.gpus[i].id for i in c.gpu_idx],
                "precision": [c.precisions[i].value for i in c.prec_idx],
                "tp": c.tp.astype(int),
                "pp": c.pp.astype(int),
                "attention_dp": c.adp.astype(int),
                "ep": c.ep.astype(int),
                "rate_rps": rate,
                **({"holds_max_model_len": holds} if eng.max_model_len is not None else {}),
                "fits": fits,
                "sustainable_rps": np.where(fits, model.mu, np.nan),
                "saturated": a.saturated & fits,
                "batch": np.where(fits, a.batch, np.nan),
            }
            for m in ("ttft", "itl", "e2e"):
                for q in PERCENTILES:
                    f[f"{m}_p{q}_ms"] = np.where(fits, a.quantiles[m][q] * 1e3, np.nan)
            f["output_tok_s_per_gpu"] = np.where(fits & ~a.saturated, rate * mix.mean_osl / c.gpus_per, np.nan)
            f["source"], f["uncertainty_pct"] = row_sources(
                c.model, c.gpu_idx, c.prec_idx, c.tp, round(mix.mean_isl), round(mix.mean_osl), a.batch, c.profiles, c.adp
            )
            f["uncertainty_pct"] = np.where(fits, f["uncertainty_pct"], np.nan)
            frames.append(pd.DataFrame(f))
        frame = pd.concat(frames, ignore_index=True)
        frame["method"] = "queueing approximation"
    else:
        if not mix.is_fixed:
            raise PlannerError("a concurrency sweep takes fixed --isl/--osl; give --rates to sweep a distribution or a log")
        frame = sweep(
            args.model,
            gpus=args.gpus,
            precisions=args.precisions,
            tps=args.tp,
            pps=args.pp,
            batches=args.concurrency or [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
            lengths=[(round(mix.mean_isl), round(mix.mean_osl))],
            engine=eng,
        )
        frame["method"] = "closed-loop approximation of a benchmark run (equal requests; clients start together, 10 requests each)"
    text = frame.to_json(orient="records", indent=1) if args.format == "json" else frame.to_csv(index=False)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {len(frame):,} rows to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _rate(args: argparse.Namespace, mix) -> tuple[float, str]:
    text = (args.rate or "").strip().lower()
    if text in ("", "peak", "mean"):
        if mix.arrivals_s is None or len(mix.arrivals_s) < 2:
            raise PlannerError("give --rate R (requests/s), or a request log with arrival times for --rate peak|mean")
        t = mix.arrivals_s
        if text == "mean":
            return float((len(t) - 1) / (t[-1] - t[0])), "the log's mean rate"
        start, rps = peak_window(t)
        return rps, f"the log's busiest minute (from {start:.0f} s)"
    try:
        rate = float(text)
    except ValueError:
        raise PlannerError(f"--rate {args.rate!r}: expected requests/s, 'peak' or 'mean'") from None
    return rate, "given"


def _recommend(args: argparse.Namespace) -> int:
    mix = workload_from_args(args)
    rate, rate_note = _rate(args, mix)
    sla = _sla(args)
    if not sla.targets():
        raise PlannerError("give at least one latency target: --ttft-ms and/or --itl-ms (and --e2e-ms)")
    rec = recommend(
        args.model,
        rate,
        mix,
        sla,
        gpus=args.gpus,
        precisions=args.precisions,
        tps=args.tp,
        pps=args.pp,
        engine=engine_settings(args),
        headroom=args.headroom,
        budget_usd_per_month=args.budget,
        prices=prices_from_args(args),
        verify=not args.no_verify,
        disaggregated=args.disaggregated,
        top=args.top,
        seed=args.seed,
        max_model_len=args.max_model_len,
    )
    rec.question["rate_source"] = rate_note
    if args.format == "json":
        print(json.dumps(rec.to_json(), indent=2, allow_nan=False, default=_json_default))
        return 0
    print(recommend_table(rec, sla))
    return 0


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x))


def _f(v, digits=1, unit=""):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:,.{digits}f}{unit}"


def recommend_table(rec, sla: Sla) -> str:
    q = rec.question
    lines = [
        f"{q['model']} at {q['rate_rps']:.2f} requests/s ({q.get('rate_source', 'given')}), {q['workload']}",
        f"SLA: {q['sla']}; headroom {q['headroom']:.0%}; engine {q['engine']}{' ' + q['engine_version'] if q.get('engine_version') else ''}"
        + "".join(f", {k} {q[k]:g}" for k in ("free_gpu_memory_fraction", "max_batch_size", "max_num_tokens") if q.get(k) is not None)
        + f"; {q['candidates']} deployments considered"
        + (f"; requests up to {q['max_model_len']:,} tokens accepted (max_model_len)" if q.get("max_model_len") else ""),
        "",
    ]
    if not rec.recommendations:
        lines.append("No deployment meets the SLA. Closest reasons:")
        for r in rec.rejected[:8]:
            lines.append(f"  {r['gpu']} {r['precision']} {r['parallelism']}: {r['reason']}")
        return "\n".join(lines)
    t_pct = {m: f"{m.upper()} p{qq:g}" for m, qq, _ in sla.targets()}
    rows = []
    for r in rec.recommendations:
        rows.append(
            {
                "gpu": r["gpu"],
                "prec": r["precision"],
                "split": r["parallelism"],
                "replicas": r["replicas"],
                "GPUs": r["num_gpus"],
                "max req/s/replica": _f(r["max_rate_rps"], 2),
                t_pct.get("ttft", "TTFT") + " ms": _f(r["ttft_p90_ms"], 0),
                t_pct.get("itl", "ITL") + " ms": _f(r["itl_p90_ms"], 1),
                "$/month": _f(r["usd_per_month"], 0),
                "$/M out tok": _f(r["usd_per_million_output_tokens"], 3),
                "breaks first": r["bottleneck"],
                "source": r["source"].split(":")[0] + f" ±{r['uncertainty_pct']:.0f}%",
            }
        )
    lines.append(
        "Options meeting the SLA, cheapest first (latencies at each option's own per-replica load; "
        f"TTFT ±{ttft_uncertainty_pct('rate'):.0f}% for {ARRIVALS['rate']}, the rest ± as each source says):"
    )
    lines.append(pd.DataFrame(rows).to_string(index=False))
    best = rec.recommendations[0]
    lines += [
        "",
        f"Recommended: {best['replicas']} x {best['gpu']} {best['precision']} {best['parallelism']}"
        f" = {best['num_gpus']} GPUs, ${_f(best['usd_per_hour'], 2)}/hour, ${_f(best['usd_per_month'], 0)}/month"
        f" (${_f(best.get('usd_per_gpu_hour'), 2)}/GPU-hour, {best.get('price_market', '?')})",
        f"  per million tokens: ${_f(best.get('usd_per_million_output_tokens'), 3)} per output token-million (whole fleet cost), "
        f"${_f(best.get('usd_per_million_input_tokens_split'), 4)} input / ${_f(best.get('usd_per_million_output_tokens_split'), 3)} output split by GPU time; "
        f"${_f(best.get('usd_per_request'), 5)} per request",
        f"  utilisation {_f((best.get('utilisation') or math.nan) * 100, 0)}% of the fleet's sustainable rate; "
        f"{_f(best.get('joules_per_output_token'), 2)} J per output token (GPU board power at TDP x utilisation)",
        f"  what breaks first as traffic grows: {best['bottleneck']}",
    ]
    if rec.verification:
        last = rec.verification["runs"][-1]
        got = ", ".join(f"{k.replace('_ms', '')} {v:,.1f} ms" for k, v in last.items() if k.endswith("_ms") and v is not None)
        lines.append(f"  checked by simulation at {last['rate_per_replica_rps']:.2f} requests/s per replica: {got} -> {best.get('verified_by')}")
    if rec.fastest and rec.fastest is not best:
        f = rec.fastest
        lines.append(
            f"Fastest meeting the SLA: {f['replicas']} x {f['gpu']} {f['precision']} {f['parallelism']}, ITL p50 {_f(f['itl_p50_ms'], 1)} ms, ${_f(f['usd_per_month'], 0)}/month"
        )
    if rec.disaggregated:
        d = rec.disaggregated
        if d.get("available"):
            lines.append(
                f"Disaggregated: {d['prefill']['replicas']} prefill x TP{d['prefill']['tp']} + {d['decode']['replicas']} decode x TP{d['decode']['tp']} "
                f"{d['gpu']} {d['precision']} = {d['num_gpus']} GPUs, ${_f(d['usd_per_month'], 0)}/month "
                f"({'cheaper' if d.get('wins') else 'not cheaper'} than aggregated by {_f(abs(d.get('saving_vs_aggregated_pct', math.nan)), 1)}%; "
                f"KV transfer {d['prefill']['kv_transfer_ms']:.2f} ms)"
            )
        else:
            lines.append(f"Disaggregated: {d.get('reason')}")
    reasons = pd.Series([r["reason"].split(":")[0].split(" (")[0] for r in rec.rejected]).value_counts()
    if len(reasons):
        lines.append("Rejected: " + "; ".join(f"{n} {why}" for why, n in reasons.items()) + " (--format json lists each)")
    if rec.pareto:
        shown = frontier_sample(rec.pareto, 6)
        what = "" if len(shown) == len(rec.pareto) else f", {len(shown)} of its {len(rec.pareto)} points from the most per GPU to the most per user"
        lines.append(
            f"Pareto frontier (output tok/s per GPU / per user{what}): "
            + ", ".join(f"{p['config']} {p['output_tok_s_per_gpu']:,.0f}/{p['output_tok_s_per_user']:.0f}" for p in shown)
        )
    for n in rec.notes:
        lines.append(f"Note: {n}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    return {"workload": _workload, "sweep": _sweep, "recommend": _recommend}[args.command](args)
