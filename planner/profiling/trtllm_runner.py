"""The calibration run: a short grid of `trtllm-bench` runs on this host, then a fitted profile.

`python -m planner calibrate --run-trtllm --model ID --gpu ID --precision P [--tp N] [--checkpoint HF_ID]`:

0. decides what is run so that it is what the profile will claim: the checkpoint at that precision
   (the model itself at 16 bits or when it ships at P, else a known quantized checkpoint from
   `model_configs/checkpoints.yaml`, else `--checkpoint` is required), the KV-cache dtype, attention
   DP and EP, written to an `--extra_llm_api_options` YAML that every step uses;
1. checks that `trtllm-bench` and an NVIDIA GPU are present (one-line message with the install
   hint when not) and records the host with NVML, warning when it differs from the catalog entry;
2. plans a short grid: latency-mode runs at batch 1 (memory-bound decode and step overhead) and
   throughput-mode runs at three ISL/OSL pairs (prefill-heavy, decode-heavy, balanced; compute-
   bound batches), with request counts sized by the planner's own estimate so that the whole grid
   takes about `minutes` GPU-minutes;
3. writes the synthetic datasets (token-id JSON lines: `task_id`, `input_ids`, `output_tokens`);
4. runs each step with a progress bar and live ETA, saving each finished step's report at once,
   so that an interrupted run resumes where it stopped (`--resume`);
5. imports the reports, refuses any whose recorded precision, KV dtype, parallelism, checkpoint or
   GPU differs from the plan (nothing is fitted from a run that measured something else), and fits
   the profile (`planner.calibration`); the TensorRT-LLM version the reports record goes into it.

`--dry-run` prints the files it would write (the options YAML in full) and the exact commands.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from ..calibration import calibrate
from ..catalog import get_gpu, get_model
from ..checkpoints import checkpoint_for, known_checkpoints  # noqa: F401  (the stand-in trtllm-bench reads them)
from ..errors import PlannerError
from ..estimate import estimate
from ..fileio import atomic_write_text
from ..importers import import_file
from ..profiles import Profile, save_profile
from ..specs import KvPrecision, ModelSpec, Parallelism, Precision, default_kv, parse_choice
from .nvml import NoNvidiaGpu, catalog_warnings, local_gpus

INSTALL_HINT = (
    "trtllm-bench was not found on PATH. It ships with TensorRT-LLM, which installs only on a Linux host with an "
    "NVIDIA GPU: pip install tensorrt-llm --extra-index-url https://pypi.nvidia.com (or use NVIDIA's TensorRT-LLM "
    "container); see https://nvidia.github.io/TensorRT-LLM/installation/"
)
LATENCY_PAIRS = ((128, 128), (1024, 128), (128, 1024))
THROUGHPUT_PAIRS = ((2048, 128), (128, 2048), (1024, 1024))
LATENCY_SHARE = 0.3  # of the time budget
STARTUP_S = 30.0  # model load and warm-up of each trtllm-bench run (s), outside the measured time
OPTIONS_FILE = "llm_options.yaml"
#: `kv_cache_config.dtype` of TensorRT-LLM's LLM API for each KV precision ("auto": the model's dtype).
KV_DTYPES = {KvPrecision.fp16: "auto", KvPrecision.bf16: "auto", KvPrecision.fp8: "fp8", KvPrecision.nvfp4: "nvfp4"}


@dataclass
class Step:
    """One trtllm-bench run of the grid."""

    name: str
    mode: str  # "latency" (batch 1) or "throughput" (all requests queued)
    isl: int
    osl: int
    num_requests: int
    est_seconds: float

    @property
    def dataset(self) -> str:
        return f"datasets/isl{self.isl}_osl{self.osl}_n{self.num_requests}.jsonl"

    @property
    def report(self) -> str:
        return f"reports/{self.name}.json"


@dataclass
class RunSpec:
    """What to calibrate. `tp` x `attention_dp` GPUs per stage (TensorRT-LLM's attention DP runs
    attention with TP 1 over its `--tp` GPUs, so DEP-N is tp 1, attention_dp N, ep N)."""

    model: str
    gpu: str
    precision: str
    tp: int = 1
    pp: int = 1
    ep: int = 1
    attention_dp: int = 1
    kv_precision: str | None = None
    checkpoint: str | None = None
    minutes: float = 10.0
    model_path: str | None = None
    backend: str = "pytorch"


def run_kv(spec: RunSpec, model: ModelSpec) -> KvPrecision:
    prec = parse_choice(Precision, spec.precision, "precision")
    kv = default_kv(model, prec) if spec.kv_precision is None else parse_choice(KvPrecision, spec.kv_precision, "kv precision")
    if kv not in KV_DTYPES:
        raise PlannerError(f"kv precision {kv.value!r} is not a kv_cache_config dtype of TensorRT-LLM; use one of: {', '.join(k.value for k in KV_DTYPES)}")
    return kv


def llm_options(spec: RunSpec, model: ModelSpec) -> dict:
    """The `--extra_llm_api_options` YAML of every step (keys of TensorRT-LLM's LLM API)."""
    opts: dict = {"kv_cache_config": {"dtype": KV_DTYPES[run_kv(spec, model)]}, "cuda_graph_config": {"enable_padding": True}}
    if spec.attention_dp > 1:
        opts["enable_attention_dp"] = True
    return opts


def check_spec(spec: RunSpec, model: ModelSpec) -> None:
    """Refuse a plan TensorRT-LLM cannot run as described."""
    model.check_parallelism(Parallelism(tp=spec.tp, pp=spec.pp, ep=spec.ep, attention_dp=spec.attention_dp))
    if spec.attention_dp > 1 and spec.tp > 1:
        raise PlannerError(
            f"tp {spec.tp} with attention_dp {spec.attention_dp}: TensorRT-LLM's attention DP runs attention with TP 1 over its GPUs; use tp 1, attention_dp {spec.tp * spec.attention_dp}"
        )


def plan(spec: RunSpec) -> list[Step]:
    """The grid and its request counts, sized to about `spec.minutes` of GPU time."""
    if spec.minutes <= 0:
        raise PlannerError(f"minutes {spec.minutes}: must be > 0")
    n_steps = len(LATENCY_PAIRS) + len(THROUGHPUT_PAIRS)
    budget = max(spec.minutes * 60.0 - STARTUP_S * n_steps, 0.3 * spec.minutes * 60.0)
    steps = []
    for mode, pairs, share in (("latency", LATENCY_PAIRS, LATENCY_SHARE), ("throughput", THROUGHPUT_PAIRS, 1 - LATENCY_SHARE)):
        for isl, osl in pairs:
            kw = dict(model=spec.model, gpu=spec.gpu, precision=spec.precision, kv_precision=spec.kv_precision, tp=spec.tp, pp=spec.pp, isl=isl, osl=osl)
            e = estimate(**kw, ep=spec.ep, attention_dp=spec.attention_dp, profile="none")
            if not e.fits:
                raise PlannerError(f"{spec.model} does not fit on {spec.tp * spec.pp * spec.attention_dp} x {spec.gpu} at {spec.precision}: {e.fit_reason}")
            per_step = budget * share / len(pairs)
            if mode == "latency":
                n = max(3, min(200, int(per_step / (e.e2e_alone_ms / 1e3))))  # requests one at a time
                est = n * e.e2e_alone_ms / 1e3
            else:  # enough requests for several full batches, within the time share
                n = int(max(2 * e.max_concurrency, min(per_step * e.requests_per_s, 20 * e.max_concurrency)))
                est = n / e.requests_per_s
            steps.append(Step(f"{mode}_isl{isl}_osl{osl}", mode, isl, osl, n, est + STARTUP_S))
    return steps


def command(spec: RunSpec, step: Step, work: Path, checkpoint: str, moe: bool = False) -> list[str]:
    """The exact trtllm-bench command line of a step (documented options only)."""
    argv = ["trtllm-bench", "--model", checkpoint]
    if spec.model_path:
        argv += ["--model_path", spec.model_path]
    argv += ["--workspace", str(work / "workspace"), step.mode, "--dataset", str(work / step.dataset), "--num_requests", str(step.num_requests)]
    argv += ["--backend", spec.backend, "--tp", str(spec.tp * spec.attention_dp), "--pp", str(spec.pp)]
    if moe:
        argv += ["--ep", str(spec.ep)]
    argv += ["--extra_llm_api_options", str(work / OPTIONS_FILE), "--report_json", str(work / step.report)]
    if step.mode == "throughput":
        argv += ["--streaming"]
    return argv


def write_dataset(path: Path, isl: int, osl: int, n: int, vocab_size: int, seed: int = 0) -> Path:
    """Synthetic trtllm-bench dataset: `n` requests of `isl` random token ids asking `osl` tokens."""
    rng = random.Random(seed)
    lines = (json.dumps({"task_id": i, "input_ids": [rng.randrange(100, vocab_size) for _ in range(isl)], "output_tokens": osl}) for i in range(n))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def check_host(spec: RunSpec, skip_gpu_check: bool = False) -> dict | None:
    """trtllm-bench on PATH and an NVIDIA GPU present; returns the NVML facts of GPU 0."""
    if shutil.which("trtllm-bench") is None:
        raise PlannerError(INSTALL_HINT)
    if skip_gpu_check:
        return None
    try:
        gpus = local_gpus()
    except NoNvidiaGpu as exc:
        raise PlannerError(f"calibration runs need an NVIDIA GPU: {exc}") from None
    host = gpus[0]
    for w in catalog_warnings(host, spec.gpu):
        print(f"warning: {w}", file=sys.stderr)
    need = spec.tp * spec.pp * spec.attention_dp
    if len(gpus) < need:
        raise PlannerError(f"tp {spec.tp} x pp {spec.pp} x attention_dp {spec.attention_dp} needs {need} GPUs; this host has {len(gpus)}")
    return host


def _done(work: Path, step: Step) -> bool:
    path = work / step.report
    if not path.exists():
        return False
    try:
        import_file(path)
    except PlannerError:
        return False
    return True


def _bar(total: float):
    try:
        from tqdm import tqdm
    except ImportError:  # progress as plain lines
        return None
    return tqdm(
        total=round(total),
        unit="s",
        desc="calibration",
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s [elapsed {elapsed}, ETA {remaining}]",
    )


def run(
    spec: RunSpec, work: Path, resume: bool = False, dry_run: bool = False, skip_gpu_check: bool = False, out: Path | None = None, command_line: str = ""
) -> Profile | None:
    """Plan, run (or print) the grid, and fit the profile. Each finished step's report is kept;
    a failed step stops the run with what to do, and `resume` continues after the finished ones."""
    spec.gpu = get_gpu(spec.gpu).id
    model = get_model(spec.model)
    spec.model = model.id
    precision = parse_choice(Precision, spec.precision, "precision")
    spec.precision = precision.value
    check_spec(spec, model)
    checkpoint = checkpoint_for(model, precision, spec.checkpoint)
    kv = run_kv(spec, model)
    options = llm_options(spec, model)
    steps = plan(spec)
    work = Path(work)
    gpus = spec.tp * spec.pp * spec.attention_dp
    print(f"calibration plan for {spec.model} on {gpus} x {spec.gpu} ({spec.precision}, KV {kv.value}), work folder {work}:", file=sys.stderr)
    print(f"  checkpoint {checkpoint}" + ("" if checkpoint == model.id else f" (the {spec.precision} checkpoint of {model.id})"), file=sys.stderr)
    for s in steps:
        print(f"  {s.name:32s} {s.mode:10s} ISL {s.isl:5d} OSL {s.osl:5d} requests {s.num_requests:5d}  ~{s.est_seconds / 60:4.1f} min", file=sys.stderr)
    print(f"  total ~{sum(s.est_seconds for s in steps) / 60:.1f} GPU-minutes", file=sys.stderr)
    options_text = yaml.safe_dump(options, sort_keys=False)
    if dry_run:
        print(f"# {work / OPTIONS_FILE}")
        print("\n".join(f"#   {line}" for line in options_text.rstrip().splitlines()))
        for s in steps:
            print(f"# {work / s.dataset}: {s.num_requests} requests of {s.isl} random token ids, {s.osl} output tokens each")
        for s in steps:
            print(shlex.join(command(spec, s, work, checkpoint, model.is_moe)))
        return None
    host = check_host(spec, skip_gpu_check)
    work.mkdir(parents=True, exist_ok=True)
    state = work / "plan.json"
    if state.exists() and not resume and any((work / s.report).exists() for s in steps):
        raise PlannerError(f"{work} holds reports of an earlier run; pass --resume to continue it, or choose another --work-dir")
    atomic_write_text(work / OPTIONS_FILE, options_text)
    atomic_write_text(
        state, json.dumps({"spec": asdict(spec), "checkpoint": checkpoint, "llm_options": options, "steps": [asdict(s) for s in steps], "host": host}, indent=1)
    )
    bar = _bar(sum(s.est_seconds for s in steps))
    try:
        for s in steps:
            if resume and _done(work, s):
                print(f"  {s.name}: done earlier, kept", file=sys.stderr)
                if bar:
                    bar.update(round(s.est_seconds))
                continue
            write_dataset(work / s.dataset, s.isl, s.osl, s.num_requests, model.vocab_size)
            (work / s.report).parent.mkdir(parents=True, exist_ok=True)
            _run_step(spec, s, work, bar, checkpoint, model.is_moe)
    finally:
        if bar:
            bar.close()
    rows = []
    for s in steps:
        imp = import_file(work / s.report)
        check_report(work / s.report, imp.rows[0], spec, checkpoint, kv, model.is_moe)
        for r in imp.rows:
            r.update(model=spec.model, gpu=spec.gpu, engine="trtllm", precision=spec.precision, kv_precision=kv.value)
            r.update(tp=spec.tp, pp=spec.pp, ep=spec.ep, attention_dp=spec.attention_dp)
            if s.mode == "latency":
                r["concurrency"] = 1
            rows.append(r)
    import pandas as pd

    cmd = command_line or f"planner.profiling.trtllm_runner.run({spec})"
    host_facts = {
        k: v for k, v in (host or {}).items() if k in ("name", "driver", "memory_total_gib", "sm_clock_max_mhz", "mem_clock_max_mhz", "power_limit_w")
    } or None
    profile = calibrate(pd.DataFrame(rows), spec.gpu, "trtllm", spec.precision, command=cmd, inputs=[str(work / s.report) for s in steps], host=host_facts)

    target = out or Path("profiles") / f"{profile.name}.json"
    if target.suffix != ".json":
        target.mkdir(parents=True, exist_ok=True)
        target = target / f"{profile.name}.json"
    save_profile(profile, target)
    versions = ", ".join(profile.engine_versions) or "not recorded in the reports"
    print(f"wrote {target} (TensorRT-LLM {versions}): fitted " + ", ".join(f"{k}={profile.parameters[k]:.3g}" for k in profile.fitted), file=sys.stderr)
    return profile


def check_report(path: Path, row: dict, spec: RunSpec, checkpoint: str, kv: KvPrecision, moe: bool) -> None:
    """Refuse a report that records another precision, KV dtype, parallelism, checkpoint or GPU
    than the plan: the profile would claim what was not measured."""
    expected = {
        "precision": spec.precision,
        "kv_precision": None if kv in (KvPrecision.fp16, KvPrecision.bf16) else kv.value,
        "tp": spec.tp * spec.attention_dp,
        "pp": spec.pp,
    }
    if moe:
        expected["ep"] = spec.ep
    wrong = []
    for field, want in expected.items():
        got = row.get(field)
        if field == "kv_precision" and want is None:
            if got not in (None, "fp16", "bf16"):
                wrong.append(f"kv_precision {got} (planned 16-bit)")
            continue
        if got is None:
            continue  # not recorded by this report version: nothing to contradict
        same = float(got) == float(want) if field in ("tp", "pp", "ep") else str(got) == str(want)
        if not same:
            wrong.append(f"{field} {got} (planned {want})")
    model = row.get("model")
    if model and str(model).strip().lower() != checkpoint.lower():
        wrong.append(f"model {model} (planned {checkpoint})")
    if row.get("gpu"):
        try:
            if get_gpu(str(row["gpu"])).id != spec.gpu:
                wrong.append(f"gpu {row['gpu']} (planned {spec.gpu})")
        except PlannerError:
            pass  # a GPU name the catalog does not know: the host check compared it with NVML
    if wrong:
        raise PlannerError(f"{path}: the run measured something else than planned: {'; '.join(wrong)}; nothing was fitted")


def _run_step(spec: RunSpec, step: Step, work: Path, bar, checkpoint: str, moe: bool) -> None:
    argv = command(spec, step, work, checkpoint, moe)
    log = work / "logs" / f"{step.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    report = work / step.report
    partial = report.with_suffix(".partial.json")
    argv[argv.index("--report_json") + 1] = str(partial)  # a report appears under its name only when complete
    start, shown = time.monotonic(), 0
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=os.environ.copy())
        while proc.poll() is None:
            time.sleep(0.2)
            if bar:
                target = min(round(time.monotonic() - start), round(step.est_seconds))
                bar.update(target - shown)
                shown = target
    if bar:
        bar.update(round(step.est_seconds) - shown)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise PlannerError(f"step {step.name} failed (exit {proc.returncode}): {tail[0][:200]}; log {log}; finished steps are kept, rerun with --resume")
    if not partial.exists():
        raise PlannerError(f"step {step.name}: trtllm-bench exited 0 but wrote no report ({partial}); log {log}")
    import_file(partial)  # a malformed report fails here, before it counts as done
    os.replace(partial, report)
