"""The calibration run: a short grid of `trtllm-bench` runs on this host, then a fitted profile.

`python -m planner calibrate --run-trtllm --model ID --gpu ID --precision P [--tp N]`:

1. checks that `trtllm-bench` and an NVIDIA GPU are present (one-line message with the install
   hint when not) and records the host with NVML, warning when it differs from the catalog entry;
2. plans a short grid: latency-mode runs at batch 1 (memory-bound decode and step overhead) and
   throughput-mode runs at three ISL/OSL pairs (prefill-heavy, decode-heavy, balanced; compute-
   bound batches), with request counts sized by the planner's own estimate so that the whole grid
   takes about `minutes` GPU-minutes;
3. writes the synthetic datasets (token-id JSON lines: `task_id`, `input_ids`, `output_tokens`);
4. runs each step with a progress bar and live ETA, saving each finished step's report at once,
   so that an interrupted run resumes where it stopped (`--resume`);
5. imports the reports and fits the profile (`planner.calibration`).

`--dry-run` prints the exact commands without running anything.
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

from ..calibration import calibrate
from ..catalog import get_gpu, get_model
from ..errors import PlannerError
from ..estimate import estimate
from ..fileio import atomic_write_text
from ..importers import import_file
from ..profiles import Profile, save_profile
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
    model: str
    gpu: str
    precision: str
    tp: int = 1
    pp: int = 1
    minutes: float = 10.0
    model_path: str | None = None
    backend: str = "pytorch"


def plan(spec: RunSpec) -> list[Step]:
    """The grid and its request counts, sized to about `spec.minutes` of GPU time."""
    if spec.minutes <= 0:
        raise PlannerError(f"minutes {spec.minutes}: must be > 0")
    n_steps = len(LATENCY_PAIRS) + len(THROUGHPUT_PAIRS)
    budget = max(spec.minutes * 60.0 - STARTUP_S * n_steps, 0.3 * spec.minutes * 60.0)
    steps = []
    for mode, pairs, share in (("latency", LATENCY_PAIRS, LATENCY_SHARE), ("throughput", THROUGHPUT_PAIRS, 1 - LATENCY_SHARE)):
        for isl, osl in pairs:
            kw = dict(model=spec.model, gpu=spec.gpu, precision=spec.precision, tp=spec.tp, pp=spec.pp, isl=isl, osl=osl)
            e = estimate(**kw, profile="none")
            if not e.fits:
                raise PlannerError(f"{spec.model} does not fit on {spec.tp * spec.pp} x {spec.gpu} at {spec.precision}: {e.fit_reason}")
            per_step = budget * share / len(pairs)
            if mode == "latency":
                n = max(3, min(200, int(per_step / (e.e2e_alone_ms / 1e3))))  # requests one at a time
                est = n * e.e2e_alone_ms / 1e3
            else:  # enough requests for several full batches, within the time share
                n = int(max(2 * e.max_concurrency, min(per_step * e.requests_per_s, 20 * e.max_concurrency)))
                est = n / e.requests_per_s
            steps.append(Step(f"{mode}_isl{isl}_osl{osl}", mode, isl, osl, n, est + STARTUP_S))
    return steps


def command(spec: RunSpec, step: Step, work: Path) -> list[str]:
    """The exact trtllm-bench command line of a step (documented options only)."""
    argv = ["trtllm-bench", "--model", spec.model]
    if spec.model_path:
        argv += ["--model_path", spec.model_path]
    argv += ["--workspace", str(work / "workspace"), step.mode, "--dataset", str(work / step.dataset), "--num_requests", str(step.num_requests)]
    argv += ["--backend", spec.backend, "--tp", str(spec.tp), "--pp", str(spec.pp), "--report_json", str(work / step.report)]
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
    if len(gpus) < spec.tp * spec.pp:
        raise PlannerError(f"tp {spec.tp} x pp {spec.pp} needs {spec.tp * spec.pp} GPUs; this host has {len(gpus)}")
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
    spec.model = model.id  # trtllm-bench needs the Hugging Face name
    steps = plan(spec)
    work = Path(work)
    print(f"calibration plan for {spec.model} on {spec.tp * spec.pp} x {spec.gpu} ({spec.precision}), work folder {work}:", file=sys.stderr)
    for s in steps:
        print(f"  {s.name:32s} {s.mode:10s} ISL {s.isl:5d} OSL {s.osl:5d} requests {s.num_requests:5d}  ~{s.est_seconds / 60:4.1f} min", file=sys.stderr)
    print(f"  total ~{sum(s.est_seconds for s in steps) / 60:.1f} GPU-minutes", file=sys.stderr)
    if dry_run:
        for s in steps:
            print(shlex.join(command(spec, s, work)))
        return None
    host = check_host(spec, skip_gpu_check)
    work.mkdir(parents=True, exist_ok=True)
    state = work / "plan.json"
    if state.exists() and not resume and any((work / s.report).exists() for s in steps):
        raise PlannerError(f"{work} holds reports of an earlier run; pass --resume to continue it, or choose another --work-dir")
    atomic_write_text(state, json.dumps({"spec": asdict(spec), "steps": [asdict(s) for s in steps], "host": host}, indent=1))
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
            _run_step(spec, s, work, bar)
    finally:
        if bar:
            bar.close()
    reports = [import_file(work / s.report, gpu=spec.gpu, precision=spec.precision, model=spec.model, tp=spec.tp, pp=spec.pp, engine="trtllm") for s in steps]
    rows = []
    for s, imp in zip(steps, reports, strict=True):
        for r in imp.rows:
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
    print(f"wrote {target}: fitted " + ", ".join(f"{k}={profile.parameters[k]:.3g}" for k in profile.fitted), file=sys.stderr)
    return profile


def _run_step(spec: RunSpec, step: Step, work: Path, bar) -> None:
    argv = command(spec, step, work)
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
