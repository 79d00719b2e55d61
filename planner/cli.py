"""Command line: `python -m planner estimate|predict|gpus|models ...` (DESIGN §5).

A thin layer over the Python API. User errors print one line on stderr and exit with code 2;
help texts come from the pydantic field descriptions in `planner.specs` / `planner.estimate`.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import catalog, cli_serving
from .calibration import calibrate_frame
from .cli_options import engine_kwargs, engine_options, engine_version_option, field_help, positive_int
from .cost import OWNED_FIELDS
from .defaults import ARRIVALS
from .errors import PlannerError
from .estimate import Estimate, Workload, batch_limit_text, estimate, vision_note
from .fileio import atomic_write_text
from .importers import import_files
from .measurements import systems_read
from .predict import predict, read_measurements
from .profiles import load_profile, save_profile
from .specs import MEMORY_SETTING, EngineSettings, KvPrecision, Parallelism, Precision

REPORT_FORMATS = ["html", "pdf", "md", "json", "csv"]


def report_format(out: str) -> str:
    """The report format a file name asks for by its extension (`report.md` -> md), else html."""
    ext = Path(out).suffix.lower().lstrip(".")
    ext = {"htm": "html", "markdown": "md"}.get(ext, ext)
    return ext if ext in REPORT_FORMATS else "html"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (exit code 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = "" if self.prog == "python -m planner" else " " + self.prog.split()[-1]
        self.exit(2, f"error: {message} (see `python -m planner{command} --help`)\n")


def _import_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fields a benchmark file may not record (an option replaces the file's value)")
    g.add_argument("--model", default=None, help="catalog model id or alias")
    g.add_argument("--gpu", default=None, help="catalog GPU id or alias")
    g.add_argument("--engine", choices=["trtllm", "vllm", "sglang"], default=None)
    g.add_argument("--precision", default=None, help=", ".join(x.value for x in Precision))
    g.add_argument("--kv-precision", default=None)
    g.add_argument("--tp", type=positive_int, default=None)
    g.add_argument("--pp", type=positive_int, default=None)
    g.add_argument("--ep", type=positive_int, default=None)
    g.add_argument("--attention-dp", type=positive_int, default=None)
    g.add_argument("--isl", type=positive_int, default=None)
    g.add_argument("--osl", type=positive_int, default=None)
    g.add_argument("--concurrency", type=positive_int, default=None, help="closed-loop clients of the run")
    g.add_argument("--request-rate", type=float, default=None, help="Poisson rate of the run (requests/s)")


def _import_overrides(args: argparse.Namespace) -> dict:
    keys = ("model", "gpu", "engine", "precision", "kv_precision", "tp", "pp", "ep", "attention_dp", "isl", "osl", "concurrency", "request_rate")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m planner", description="LLM inference capacity planner: memory, latency, throughput and cost.")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    e = sub.add_parser("estimate", help="estimate one deployment", description="Estimate memory, KV capacity, latency, throughput and cost of one deployment.")
    e.add_argument("--model", required=True, help="catalog id or alias (see `models`), or a path to a config.json")
    e.add_argument("--arch", default=None, choices=sorted(cli_serving.ARCHITECTURES), metavar="FAMILY", help=cli_serving.ARCH_HELP)
    e.add_argument("--gpu", required=True, help="catalog id or alias (see `gpus`), e.g. H100, 'H100 80GB HBM3'")
    e.add_argument(
        "--precision",
        default=None,
        help=f"weights and compute: {', '.join(p.value for p in Precision)} (default: the checkpoint's own from its quantization_config, fp16 for a 16-bit one)",
    )
    e.add_argument(
        "--kv-precision",
        default=None,
        help=f"KV cache: {', '.join(p.value for p in KvPrecision)} (default: the checkpoint's, else fp8 for fp8/nvfp4 weights, else 16-bit)",
    )
    e.add_argument("--tp", type=int, default=1, help=field_help(Parallelism, "tp"))
    e.add_argument("--pp", type=int, default=1, help=field_help(Parallelism, "pp"))
    e.add_argument("--ep", type=int, default=1, help=field_help(Parallelism, "ep"))
    e.add_argument(
        "--attention-dp",
        type=int,
        default=1,
        help=field_help(Parallelism, "attention_dp") + "; GPUs = tp x pp x attention_dp, e.g. DEP8 is --tp 1 --attention-dp 8 --ep 8",
    )
    e.add_argument("--isl", default="1024", help=field_help(Workload, "isl") + ": a number or a distribution, e.g. normal:mean=2000,std=400 (default 1024)")
    e.add_argument("--osl", default="1024", help=field_help(Workload, "osl") + ": a number or a distribution (default 1024)")
    e.add_argument("--concurrency", type=int, default=None, help=field_help(Workload, "concurrency") + " (default: offline max throughput)")
    e.add_argument("--request-rate", type=float, default=None, help=field_help(Workload, "request_rate"))
    e.add_argument("--num-requests", type=int, default=None, help=field_help(Workload, "num_requests") + " (simulated: default 2,000, or 10 per client)")
    e.add_argument("--replay", action="store_true", help="run a request log's own arrival times (scaled to --request-rate when given)")
    e.add_argument("--seed", type=int, default=0, help="seed of the simulation's arrivals and lengths (default 0)")
    e.add_argument(
        "--no-chunked-prefill", action="store_true", help="prompts run whole or wait (" + field_help(EngineSettings, "chunked_prefill").split(". Off")[0] + ")"
    )
    e.add_argument("--no-prefix-caching", action="store_true", help="the engine reuses no prompt prefix")
    engine_options(e)
    engine_version_option(e)
    e.add_argument("--trtllm-backend", choices=["cpp", "pytorch"], default=None, help=field_help(EngineSettings, "trtllm_backend"))
    e.add_argument(
        "--hardware",
        default=None,
        metavar="FILE",
        help="hardware profile from `probe` of this GPU: its datasheet peaks scaled by how its measured rates compare with the shipped reference probe's",
    )
    e.add_argument(
        "--profile", default=None, metavar="FILE", help="calibration profile to use, or 'none' for the analytic model (default: the matching one in profiles/)"
    )
    e.add_argument("--format", choices=["table", "json"], default="table")
    cli_serving._workload_options(e, lengths=False)

    p = sub.add_parser("predict", help="one estimate per row of a measurement CSV", description="Predict every row of a measurement CSV (DESIGN §4 columns).")
    p.add_argument("queries", help="CSV with at least model, gpu, precision, isl, osl")
    p.add_argument("--out", default=None, help="write the CSV here (atomically) instead of stdout")
    p.add_argument(
        "--profile", nargs="+", default=None, metavar="FILE", help="calibration profiles to use where they match a row (default: the shipped ones in profiles/)"
    )
    engine_options(p)

    c = sub.add_parser(
        "calibrate",
        help="fit calibration profiles from measurements",
        description="Fit step-time parameters per GPU x engine x precision from measurement files; one profile per group.",
    )
    c.add_argument(
        "--measurements",
        nargs="+",
        default=None,
        metavar="FILE",
        help="measurement CSV (DESIGN §4), trtllm-bench report JSON or text, GenAI-Perf / AIPerf export, vLLM or SGLang serving-benchmark result",
    )
    c.add_argument(
        "--out",
        default=None,
        metavar="FILE|DIR",
        help="a .json file for one group, or a folder (one <gpu>--<engine>--<precision>[--v<major.minor>].json per group and engine version); with --run-trtllm default profiles/",
    )
    _import_options(c)
    r = c.add_argument_group("a calibration run on this GPU host (--run-trtllm; needs --model, --gpu, --precision)")
    r.add_argument("--run-trtllm", action="store_true", help="run the short trtllm-bench grid here, then fit")
    r.add_argument("--minutes", type=float, default=10.0, help="GPU-minutes the grid should take (default 10)")
    r.add_argument("--work-dir", default="calibration-run", help="datasets, logs and each finished step's report (default ./calibration-run)")
    r.add_argument("--resume", action="store_true", help="keep the finished steps of an interrupted run in --work-dir")
    r.add_argument("--dry-run", action="store_true", help="print the plan and the exact trtllm-bench commands, run nothing")
    r.add_argument(
        "--checkpoint",
        default=None,
        metavar="HF_ID",
        help="the Hugging Face checkpoint trtllm-bench loads (default: the model itself at 16 bits or at the precision it ships in, "
        "else its known FP8 / NVFP4 checkpoint from model_configs/checkpoints.yaml)",
    )
    r.add_argument("--model-path", default=None, help="local checkpoint folder for trtllm-bench --model_path")
    r.add_argument("--backend", default="pytorch", choices=["pytorch", "tensorrt"], help="trtllm-bench backend (default pytorch)")
    r.add_argument("--skip-gpu-check", action="store_true", help="do not require an NVIDIA GPU (for testing the runner with a stand-in trtllm-bench)")

    rp = sub.add_parser(
        "report",
        help="a sizing report (HTML, PDF, Markdown, JSON, CSV) for a deployment or a fleet",
        description="A sizing report: with --rate and latency targets, the recommended fleet; else one deployment "
        "(the estimate options). --from rebuilds any format from a report JSON.",
    )
    rp.add_argument(
        "--format",
        choices=REPORT_FORMATS,
        default=None,
        help="default: from the --out file's extension (.html, .pdf, .md, .json, .csv), else html",
    )
    rp.add_argument("--out", required=True, metavar="FILE", help="written atomically")
    rp.add_argument("--from", dest="from_json", default=None, metavar="REPORT.json", help="render this report JSON instead of planning again")
    rp.add_argument("--model", default=None, help="catalog id or alias, or a path to a config.json")
    rp.add_argument("--gpu", default=None, help="the deployment's GPU (a deployment report)")
    rp.add_argument("--precision", default=None)
    rp.add_argument("--kv-precision", default=None)
    rp.add_argument("--tp", type=positive_int, default=None)
    rp.add_argument("--pp", type=positive_int, default=None)
    rp.add_argument("--ep", type=positive_int, default=None)
    rp.add_argument("--attention-dp", type=positive_int, default=None)
    rp.add_argument("--engine", choices=["trtllm", "vllm", "sglang"], default=None)
    engine_version_option(rp)
    rp.add_argument("--trtllm-backend", choices=["cpp", "pytorch"], default=None, help=field_help(EngineSettings, "trtllm_backend"))
    rp.add_argument("--free-gpu-memory-fraction", type=float, default=None)
    rp.add_argument("--max-batch-size", type=positive_int, default=None)
    rp.add_argument("--max-num-tokens", type=positive_int, default=None)
    rp.add_argument(
        "--max-model-len",
        type=positive_int,
        default=None,
        metavar="N",
        help="longest request (tokens) the deployment must accept; a fleet report rejects replicas whose KV cache cannot hold one",
    )
    rp.add_argument("--isl", default=None, help="input tokens, or a distribution spec")
    rp.add_argument("--osl", default=None, help="output tokens, or a distribution spec")
    rp.add_argument("--workload", default=None, help="a request log or isl=...;osl=... (histogram and pattern shares go into the report)")
    rp.add_argument("--concurrency", type=positive_int, default=None)
    rp.add_argument("--request-rate", type=float, default=None, help="requests/s on one replica (a deployment report)")
    rp.add_argument("--rate", type=float, default=None, help="requests/s the fleet must serve (a fleet report)")
    rp.add_argument("--ttft-ms", type=float, default=None)
    rp.add_argument("--ttft-pct", type=float, default=None)
    rp.add_argument("--itl-ms", type=float, default=None)
    rp.add_argument("--itl-pct", type=float, default=None)
    rp.add_argument("--budget", type=float, default=None, metavar="USD_PER_MONTH")
    rp.add_argument("--gpus", nargs="+", default=None, help="GPUs a fleet report considers (default: the catalog)")
    rp.add_argument("--headroom", type=float, default=None, help="spare capacity on top of the rate (default 0.2)")
    rp.add_argument("--disaggregated", action="store_true", default=None, help="also size separate prefill and decode pools")
    rp.add_argument("--profile", default=None, help="calibration profile file for the estimate (default: the matching shipped one)")
    rp.add_argument("--hardware", default=None, metavar="FILE", help="hardware profile from `probe` of the deployment's GPU (a deployment report)")
    rp.add_argument(
        "--replay",
        action="store_true",
        default=None,
        help="run the --workload log's own arrival times (scaled to --request-rate when given; a deployment report)",
    )
    cli_serving._price_options(rp)

    i = sub.add_parser(
        "import", help="convert benchmark files to the measurement CSV", description="Read benchmark outputs into one measurement CSV (DESIGN §4 columns)."
    )
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--out", default=None, help="write the CSV here (atomically) instead of stdout")
    _import_options(i)

    pr = sub.add_parser(
        "probe",
        help="measure GEMM TFLOP/s and copy bandwidth with PyTorch (optional)",
        description="PyTorch micro-probe: writes a hardware profile that --hardware uses to scale the datasheet peaks (measured rates over the shipped reference probe's).",
    )
    pr.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    pr.add_argument("--gpu", default=None, help="catalog GPU the measurement is for (default: matched from the device name)")
    pr.add_argument("--size", type=positive_int, default=None, help="GEMM size N (N x N x N; default 8192 on a GPU, 512 on the CPU)")
    pr.add_argument("--out", default=None, help="output file (default profiles/hardware/<gpu>.json)")

    g = sub.add_parser("gpus", help="list the GPU catalog (or, with --local, this host's GPUs)")
    g.add_argument("--local", action="store_true", help="list this host's NVIDIA GPUs (NVML) with their catalog match and free memory")
    g.add_argument("--format", choices=["table", "json"], default="table")
    m = sub.add_parser("models", help="list the model catalog")
    m.add_argument("--format", choices=["table", "json"], default="table")
    cli_serving.add_parsers(sub, positive_int)
    return ap


def _fmt(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def estimate_table(e: Estimate) -> str:
    """A readable table of one estimate, grouped as a person reads it."""
    point = {
        "offline": "offline max throughput: every request queued at once",
        "concurrency": f"{e.concurrency} concurrent users",
        "rate": f"{e.request_rate} requests/s (Poisson)",
        "trace": "the log's own arrival times" + (f" scaled to {e.request_rate} requests/s" if e.request_rate else ""),
    }[e.operating_point]
    lat_note = point
    rows = [
        ("Deployment", None),
        ("model", f"{e.model} ({e.params_total / 1e9:.2f} B params{vision_note(e.params_vision_encoder, 2)})"),
        ("gpu", f"{e.gpu} x {e.gpus} (TP {e.tp}, PP {e.pp}, EP {e.ep}" + (f", attention DP {e.attention_dp})" if e.attention_dp > 1 else ")")),
        ("precision / kv", f"{e.precision} / {e.kv_precision} ({e.precision_source})"),
        (
            "engine",
            f"{e.engine}{' ' + e.engine_version if e.engine_version else ''}{' C++ runtime' if e.trtllm_backend == 'cpp' else ''} (max batch {batch_limit_text(e.max_batch_size, e.kv_capacity_tokens)}, max tokens/step {e.max_num_tokens:,}, "
            f"{MEMORY_SETTING[e.engine]} {e.memory_fraction:g}" + (f", max_model_len {e.max_model_len:,})" if e.max_model_len else ")"),
        ),
        ("workload", f"{e.workload}; {point}"),
        ("Memory per GPU", None),
        ("weights", f"{e.weights_gib_per_gpu:.2f} GiB"),
        (
            "activations",
            f"{e.activations_gib_per_gpu:.2f} GiB" + (f" ({e.decoder_gib_per_gpu:.2f} GiB of them the C++ runtime's decoder)" if e.decoder_gib_per_gpu else ""),
        ),
        ("runtime overhead", f"{e.overhead_gib_per_gpu:.2f} GiB"),
        ("KV cache", f"{e.kv_cache_gib_per_gpu:.2f} GiB of {e.memory_gib_per_gpu:.1f} GiB usable"),
        ("KV bytes / token", f"{e.kv_bytes_per_token:,.0f} (whole model)"),
        *(
            [
                (
                    "linear-attn state",
                    f"{e.state_bytes_per_sequence / 1e6:,.1f} MB per sequence (whole model); {e.state_gib_per_gpu:.2f} GiB of the KV cache per GPU",
                )
            ]
            if e.state_bytes_per_sequence
            else []
        ),
        ("KV capacity", f"{e.kv_capacity_tokens:,} tokens, {e.max_concurrency:,} sequences of ISL+OSL"),
        ("fits", "yes" if e.fits else f"NO: {e.fit_reason}" + (f"; smallest deployment that fits: {e.smallest_fit}" if e.smallest_fit else "")),
        (f"Latency ({lat_note}; {e.latency_method})", None),
    ]
    if e.saturated:
        rows.append(
            (
                "SATURATED",
                f"{_fmt(e.request_rate, 2)} requests/s exceeds the {_fmt(e.sustainable_rps, 2)} requests/s this replica sustains: "
                "the queue grows without bound, so no latency figure holds; add replicas or lower the rate",
            )
        )
    if e.fits:
        rows += [
            ("", "mean      p50       p90       p99"),
            ("TTFT (ms)", "  ".join(f"{_fmt(v):>8}" for v in (e.ttft_ms, e.ttft_p50_ms, e.ttft_p90_ms, e.ttft_p99_ms))),
            ("ITL (ms, excl. first)", "  ".join(f"{_fmt(v, 2):>8}" for v in (e.itl_ms, e.itl_p50_ms, e.itl_p90_ms, e.itl_p99_ms))),
            ("E2E (ms)", "  ".join(f"{_fmt(v):>8}" for v in (e.e2e_ms, e.e2e_p50_ms, e.e2e_p90_ms, e.e2e_p99_ms))),
        ]
        if e.rejected_requests or e.preemptions:
            rows.append(("note", f"{e.rejected_requests or 0} requests could never be served; {e.preemptions or 0} preemptions for lack of KV memory"))
        rows.append(
            ("one request alone", f"TTFT {_fmt(e.ttft_alone_ms)} ms, ITL {_fmt(e.itl_alone_ms, 2)} ms, E2E {_fmt(e.e2e_alone_ms)} ms (an idle replica)")
        )
    rows += [
        (f"Throughput ({point})", None),
        ("output tokens/s", f"{_fmt(e.output_tok_s)} (per GPU {_fmt(e.output_tok_s_per_gpu)}, per user {_fmt(e.output_tok_s_per_user)})"),
        ("requests/s", _fmt(e.requests_per_s, 2) + (f" (sustainable {_fmt(e.sustainable_rps, 2)})" if e.sustainable_rps else "")),
        ("Cost", None),
        ("$/hour", _fmt(e.usd_per_hour, 2) + (" (catalog on-demand price)" if e.usd_per_hour is not None else " (no catalog price)")),
        (
            "$ per M output tokens",
            _fmt(e.usd_per_million_output_tokens, 3) + (" (at the rate served)" if e.operating_point != "offline" else " (at max throughput)"),
        ),
        (
            "source",
            f"{e.source}, uncertainty ±{e.uncertainty_pct:.0f}%"
            + (f" (TTFT ±{e.ttft_uncertainty_pct:.0f}%, {ARRIVALS[e.operating_point]})" if e.ttft_uncertainty_pct else ""),
        ),
    ]
    rows += [("WARNING", w) for w in e.warnings]
    rows += [("ADVICE", a) for a in e.advice]
    width = max(len(k) for k, v in rows if v is not None) + 2
    lines = []
    for k, v in rows:
        lines.append(k if v is None else f"  {k:<{width}}{v}")
    return "\n".join(lines)


def _print_frame(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "json":
        print(frame.to_json(orient="records", indent=2))
    else:
        print(frame.to_string(index=False))


def gpus_frame() -> pd.DataFrame:
    rows = []
    for g in catalog.gpus().values():
        rows.append(
            {
                "id": g.id,
                "name": g.name,
                "memory_gib": g.memory_gib,
                "marketed_gb": g.memory_gb_marketed,
                "bw_tb_s": g.memory_bandwidth_tb_s,
                "bf16_tflops": g.tflops.get("bf16", g.tflops.get("fp16")),
                "fp8_tflops": g.tflops.get("fp8"),
                "fp4_tflops": g.tflops.get("fp4"),
                "nvlink_gpus": g.nvlink_domain_gpus,
                "usd_per_hour": g.price_usd_per_hour,
            }
        )
    return pd.DataFrame(rows)


def models_frame() -> pd.DataFrame:
    rows = []
    for hf_id in catalog.model_ids():
        try:
            m = catalog.get_model(hf_id)
            rows.append(
                {
                    "id": hf_id,
                    "type": m.model_type,
                    "params_b": round(m.params_total / 1e9, 2),
                    "active_b": round(m.params_active / 1e9, 2),
                    "layers": m.num_layers,
                    "attention": m.attention + (f" + {m.num_linear_layers} linear" if m.num_linear_layers else ""),
                    "kv_bytes_per_token_fp16": int(m.kv_bytes_per_token(2.0)),
                    "state_mb_per_sequence": round(m.linear_state_bytes_per_sequence(1) / 1e6, 1),
                    "supported": "yes",
                }
            )
        except PlannerError as exc:
            rows.append({"id": hf_id, "supported": "no: " + str(exc).split(": ", 2)[-1]})
    return pd.DataFrame(rows)


def _local_gpus(fmt: str) -> int:
    """This host's GPUs through NVML; on a host without the NVIDIA driver, one line and exit 0."""
    from .profiling.nvml import NoNvidiaGpu, local_gpus

    try:
        rows = local_gpus()
    except NoNvidiaGpu as exc:
        print(str(exc))
        return 0
    frame = pd.DataFrame(rows)
    frame["catalog_id"] = frame["catalog_id"].fillna("(no match)")
    _print_frame(frame.round(2), fmt)
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """Fit profiles from measurement files (or a trtllm-bench run) and write them atomically."""
    if args.run_trtllm:
        missing = [f"--{k}" for k in ("model", "gpu", "precision") if not getattr(args, k)]
        if missing:
            raise PlannerError(f"--run-trtllm needs {', '.join(missing)}")
        from .profiling.trtllm_runner import RunSpec, run

        spec = RunSpec(
            model=args.model,
            gpu=args.gpu,
            precision=args.precision,
            tp=args.tp or 1,
            pp=args.pp or 1,
            ep=args.ep or 1,
            attention_dp=args.attention_dp or 1,
            kv_precision=args.kv_precision,
            checkpoint=args.checkpoint,
            minutes=args.minutes,
            model_path=args.model_path,
            backend=args.backend,
        )
        run(
            spec,
            Path(args.work_dir),
            resume=args.resume,
            dry_run=args.dry_run,
            skip_gpu_check=args.skip_gpu_check,
            out=Path(args.out) if args.out else None,
            command_line="python -m planner " + shlex.join(sys.argv[1:]),
        )
        return 0
    if not args.measurements or not args.out:
        raise PlannerError("calibrate needs --measurements FILE... and --out FILE|DIR, or --run-trtllm --model ID --gpu ID --precision P")
    frame = _import(args.measurements, args)

    def progress(i, n, name):
        print(f"[{i + 1}/{n}] fitting {name}", file=sys.stderr, flush=True)

    for line in systems_read(frame):
        print(line, file=sys.stderr)
    command = "python -m planner " + shlex.join(sys.argv[1:])
    profiles, failed = calibrate_frame(frame, command=command.strip(), inputs=list(args.measurements), progress=progress)
    if not profiles:
        raise PlannerError("no profile could be fitted: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    out = Path(args.out)
    if out.suffix == ".json":
        if len(profiles) > 1:
            raise PlannerError(
                f"--out {out} is one file but the measurements hold {len(profiles)} groups ({', '.join(p.name for p in profiles)}); give a folder"
            )
        targets = [(profiles[0], out)]
    else:
        out.mkdir(parents=True, exist_ok=True)
        targets = [(p, out / f"{p.name}.json") for p in profiles]
    for prof, path in targets:
        save_profile(prof, path)
        r = prof.residuals
        fitted = ", ".join(f"{k}={prof.parameters[k]:.3g}" for k in prof.fitted)
        print(f"{path}: {r.n_points} points, in-sample median {_fmt(r.median_abs_pct)}% p90 {_fmt(r.p90_abs_pct)}%, fitted {fitted}")
        if len(prof.p90_by_parallelism) > 1:
            print(f"  in-sample p90 by TP: {prof.p90_by_parallelism_text} (an answer states its own TP degree's)")
        print(f"  models: {', '.join(prof.models)} (answers for other architectures or TP degrees state at least the uncalibrated band)")
        if prof.at_bounds:
            bound = ", ".join(f"{k}={v:.3g}" for k, v in prof.at_bounds.items())
            print(f"  at its physical bound: {bound} (the measurements show something the model lacks; it transfers to other models with less confidence)")
    for name, why in failed.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 0


def _import(paths: list[str], args: argparse.Namespace) -> pd.DataFrame:
    """`import_files`, saying on stderr which files of a folder were skipped and why."""
    skipped: dict = {}
    frame = import_files(paths, skipped=skipped, **_import_overrides(args))
    for path, why in skipped.items():
        print(f"skipped {path}: {why}", file=sys.stderr)
    files = frame["source"].nunique() if "source" in frame else len(paths)
    print(f"imported {len(frame)} rows from {files} file(s); skipped {len(skipped)}", file=sys.stderr)
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "arch", None) and args.model:
            args.model = catalog.get_model(args.model, arch=args.arch)
        if args.command == "estimate":
            e = estimate(
                model=args.model,
                gpu=args.gpu,
                precision=args.precision,
                kv_precision=args.kv_precision,
                tp=args.tp,
                pp=args.pp,
                ep=args.ep,
                attention_dp=args.attention_dp,
                engine_version=args.engine_version,
                isl=args.isl,
                osl=args.osl,
                concurrency=args.concurrency,
                request_rate=args.request_rate,
                num_requests=args.num_requests,
                profile=args.profile,
                hardware=args.hardware,
                workload=cli_serving.workload_from_args(args) if args.workload else None,
                replay=args.replay,
                seed=args.seed,
                chunked_prefill=False if args.no_chunked_prefill else None,
                prefix_caching=False if args.no_prefix_caching else None,
                trtllm_backend=args.trtllm_backend,
                **engine_kwargs(args),
            )
            print(json.dumps(e.model_dump(), indent=2) if args.format == "json" else estimate_table(e))
        elif args.command == "predict":
            given = [load_profile(p) for p in args.profile] if args.profile else None
            out = predict(read_measurements(args.queries), profiles=given, **engine_kwargs(args))
            if args.out:
                atomic_write_text(args.out, out.to_csv(index=False))
                bad = out["pred_source"].astype(str).str.startswith("error").sum()
                print(f"wrote {len(out)} rows to {args.out} ({bad} could not be predicted; see pred_source)", file=sys.stderr)
            else:
                sys.stdout.write(out.to_csv(index=False))
        elif args.command == "calibrate":
            return _calibrate(args)
        elif args.command == "report":
            from .report import REPORT_KEYS, build_report, read_report, write_report

            if args.from_json:
                report = read_report(args.from_json)
            else:
                inputs = {k: getattr(args, k) for k in REPORT_KEYS if getattr(args, k) is not None}
                if args.own_server_usd_per_gpu is not None:
                    inputs["owned"] = {k: getattr(args, f"own_{k}") for k in OWNED_FIELDS}
                if "model" not in inputs or ("gpu" not in inputs and "rate" not in inputs):
                    raise PlannerError("report needs --model and either --gpu (a deployment) or --rate with latency targets (a fleet), or --from REPORT.json")
                for k in ("isl", "osl"):
                    if k in inputs and str(inputs[k]).isdigit():
                        inputs[k] = int(inputs[k])
                report = build_report(inputs, command="python -m planner " + shlex.join(sys.argv[1:] if argv is None else list(argv)))
            path = write_report(report, args.format or report_format(args.out), args.out)
            print(f"wrote {path}", file=sys.stderr)
        elif args.command == "import":
            frame = _import(args.files, args)
            text = frame.to_csv(index=False)
            if args.out:
                atomic_write_text(args.out, text)
                print(f"wrote {len(frame)} rows to {args.out}", file=sys.stderr)
            else:
                sys.stdout.write(text)
        elif args.command == "probe":
            from .profiling.torch_probe import probe, save_hardware_profile

            hw = probe(args.device, size=args.size, gpu=args.gpu, command="python -m planner " + shlex.join(sys.argv[1:]))
            out = Path(args.out) if args.out else catalog.ROOT / "profiles" / "hardware" / f"{hw.gpu or 'cpu'}.json"
            save_hardware_profile(hw, out)
            rates = ", ".join(f"{k} {v:.2f} TFLOP/s" for k, v in hw.tflops.items())
            print(f"{hw.device}: {rates}, copy {hw.memory_bandwidth_tb_s * 1000:.1f} GB/s -> {out}")
        elif args.command == "gpus":
            if args.local:
                return _local_gpus(args.format)
            _print_frame(gpus_frame(), args.format)
        elif args.command == "models":
            _print_frame(models_frame(), args.format)
        elif args.command in ("workload", "sweep", "recommend"):
            return cli_serving.run(args)
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return 0
