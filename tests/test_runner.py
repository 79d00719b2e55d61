"""The trtllm-bench calibration runner, end to end against a stand-in `trtllm-bench` on PATH."""

import json
import os
import subprocess
import sys

import pytest

from planner.profiles import load_profile
from planner.profiling.trtllm_runner import RunSpec, plan, write_dataset
from tests.conftest import ROOT

STANDIN = ROOT / "tests" / "fakes" / "trtllm_bench_standin.py"


@pytest.fixture
def fake_bin(tmp_path):
    """A folder holding an executable `trtllm-bench` that runs the stand-in with this interpreter."""
    folder = tmp_path / "bin"
    folder.mkdir()
    exe = folder / "trtllm-bench"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    exe.chmod(0o755)
    return folder


KNOWN = {"eta_memory": 0.7, "step_overhead_ms": 0.6, "eta_compute": {"fp16": 0.6, "bf16": 0.6, "fp8": 0.58, "int8": 0.51, "fp4": 0.41}}


def calibrate(tmp_path, *extra, env=None, path_dirs=(), model="llama-3.1-8b", gpu="H100", precision="fp8", extra_args=()):
    e = {
        **os.environ,
        "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
        "FAKE_TRTLLM_EFFICIENCIES": json.dumps(KNOWN),
        "FAKE_TRTLLM_CALLS": str(tmp_path / "calls.txt"),
        **(env or {}),
    }
    argv = [sys.executable, "-m", "planner", "calibrate", "--run-trtllm", "--model", model, "--gpu", gpu, "--precision", precision, "--minutes", "2"]
    argv += ["--work-dir", str(tmp_path / "run"), "--out", str(tmp_path / "profiles"), "--skip-gpu-check", *extra_args, *extra]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=e)


def calls(tmp_path):
    path = tmp_path / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_plan_is_short_and_well_spread():
    steps = plan(RunSpec(model="meta-llama/Llama-3.1-8B", gpu="H100-SXM", precision="fp8", minutes=10))
    modes = [s.mode for s in steps]
    assert modes.count("latency") == 3 and modes.count("throughput") == 3
    assert {(s.isl, s.osl) for s in steps if s.mode == "throughput"} == {(2048, 128), (128, 2048), (1024, 1024)}
    assert 8 * 60 <= sum(s.est_seconds for s in steps) <= 12 * 60
    shorter = plan(RunSpec(model="meta-llama/Llama-3.1-8B", gpu="H100-SXM", precision="fp8", minutes=3))
    assert sum(s.est_seconds for s in shorter) < sum(s.est_seconds for s in steps)


def test_dataset_format(tmp_path):
    path = write_dataset(tmp_path / "d.jsonl", 16, 8, 3, vocab_size=1000)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["task_id"] for r in rows] == [0, 1, 2]
    assert all(len(r["input_ids"]) == 16 and r["output_tokens"] == 8 and all(100 <= t < 1000 for t in r["input_ids"]) for r in rows)


def test_dry_run_prints_the_commands(tmp_path):
    r = calibrate(tmp_path, "--dry-run")
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()
    lines = [x for x in out if not x.startswith("#")]
    # an FP8 profile is measured on the FP8 checkpoint, not the 16-bit weights
    assert len(lines) == 6 and all(x.startswith("trtllm-bench --model nvidia/Llama-3.1-8B-Instruct-FP8 ") for x in lines)
    assert sum(" latency " in x for x in lines) == 3 and all("--report_json" in x and "--extra_llm_api_options" in x for x in lines)
    files = [x for x in out if x.startswith("#")]
    assert files[0].endswith("llm_options.yaml") and "#     dtype: fp8" in files and sum("datasets/" in x for x in files) == 6
    assert "total ~" in r.stderr and "checkpoint nvidia/Llama-3.1-8B-Instruct-FP8" in r.stderr and not calls(tmp_path)
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_a_precision_without_a_known_checkpoint_asks_for_one(tmp_path):
    r = calibrate(tmp_path, "--dry-run", model="llama-3.1-70b", extra_args=("--tp", "4"))
    assert r.returncode == 2 and "no known fp8 checkpoint of meta-llama/Llama-3.1-70B" in r.stderr and "--checkpoint" in r.stderr
    r = calibrate(tmp_path, "--dry-run", "--checkpoint", "my-org/Llama-3.1-70B-FP8", model="llama-3.1-70b", extra_args=("--tp", "4"))
    assert r.returncode == 0 and "trtllm-bench --model my-org/Llama-3.1-70B-FP8 " in r.stdout and "--tp 4" in r.stdout


def test_attention_dp_and_ep_reach_the_command_and_the_options(tmp_path):
    r = calibrate(tmp_path, "--dry-run", model="Qwen/Qwen3-235B-A22B", gpu="B200", precision="nvfp4", extra_args=("--attention-dp", "4", "--ep", "4"))
    assert r.returncode == 0, r.stderr
    assert "#   enable_attention_dp: true" in r.stdout and " --tp 4 --pp 1 --ep 4 " in r.stdout and "nvidia/Qwen3-235B-A22B-FP4" in r.stdout
    r = calibrate(
        tmp_path, "--dry-run", model="Qwen/Qwen3-235B-A22B", gpu="B200", precision="nvfp4", extra_args=("--tp", "2", "--attention-dp", "2", "--ep", "4")
    )
    assert r.returncode == 2 and "attention DP runs attention with TP 1" in r.stderr


def test_missing_trtllm_bench_says_how_to_install(tmp_path):
    r = calibrate(tmp_path)
    assert r.returncode == 2 and "trtllm-bench was not found on PATH" in r.stderr and "pip install tensorrt-llm" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 10 and "Traceback" not in r.stderr


def test_missing_gpu_is_a_clear_error(tmp_path, fake_bin):
    e = {**os.environ, "PATH": os.pathsep.join([str(fake_bin), "/usr/bin", "/bin"])}
    argv = [
        sys.executable,
        "-m",
        "planner",
        "calibrate",
        "--run-trtllm",
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--precision",
        "fp8",
        "--work-dir",
        str(tmp_path / "w"),
    ]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=e)
    assert r.returncode == 2 and "calibration runs need an NVIDIA GPU" in r.stderr


def test_end_to_end_fits_the_known_parameters(tmp_path, fake_bin):
    r = calibrate(tmp_path, path_dirs=(fake_bin,))
    assert r.returncode == 0, r.stderr
    assert len(calls(tmp_path)) == 6
    prof = load_profile(tmp_path / "profiles" / "H100-SXM--trtllm--fp8--v1.0.json")
    # the fake engine answers with the model's own times at eta_compute 0.58, eta_memory 0.7 and a
    # 0.6 ms step overhead. The six runs fit those times within 2 %, and pin the compute efficiency;
    # with one model size they cannot split the batch-1 step between memory efficiency and fixed
    # overhead, so the fit's prior holds that split toward the defaults (0.8, 0.35 ms)
    assert prof.residuals.p90_abs_pct < 2.5
    assert prof.parameters["eta_compute"] == pytest.approx(0.58, rel=0.05)
    assert 0.35 <= prof.parameters["step_overhead_ms"] <= 0.6 and 0.7 * 0.9 <= prof.parameters["eta_memory"] <= 0.8
    assert len(prof.made_by.inputs) == 6 and prof.made_by.command.startswith("python -m planner calibrate --run-trtllm")
    assert prof.engine_versions == ["1.0.0-fake"]
    assert (tmp_path / "run" / "logs" / "latency_isl128_osl128.log").exists()
    assert all(c.startswith("--model nvidia/Llama-3.1-8B-Instruct-FP8 ") and "--extra_llm_api_options" in c for c in calls(tmp_path))
    assert {p["model"] for p in prof.points} == {"meta-llama/Llama-3.1-8B"} and {p["kv_precision"] for p in prof.points} == {"fp8"}


def test_a_report_of_another_precision_is_refused_and_nothing_is_fitted(tmp_path, fake_bin):
    """A run whose reports say it loaded 16-bit weights cannot become an FP8 profile."""
    r = calibrate(tmp_path, env={"FAKE_TRTLLM_ENGINE": '{"quantization": null}'}, path_dirs=(fake_bin,))
    assert r.returncode == 2 and "the run measured something else than planned: precision bf16 (planned fp8)" in r.stderr
    assert not (tmp_path / "profiles").exists() and len(list((tmp_path / "run" / "reports").glob("*.json"))) == 6  # the measurements are kept


def test_resume_after_a_failed_step(tmp_path, fake_bin):
    r = calibrate(tmp_path, env={"FAKE_TRTLLM_FAIL_ON": "throughput_isl128_osl2048"}, path_dirs=(fake_bin,))
    assert r.returncode == 2 and "step throughput_isl128_osl2048 failed (exit 3)" in r.stderr and "--resume" in r.stderr
    reports = sorted(p.name for p in (tmp_path / "run" / "reports").glob("*.json"))
    assert reports == ["latency_isl1024_osl128.json", "latency_isl128_osl1024.json", "latency_isl128_osl128.json", "throughput_isl2048_osl128.json"]
    assert not (tmp_path / "profiles").exists()
    again = calibrate(tmp_path, path_dirs=(fake_bin,))
    assert again.returncode == 2 and "pass --resume" in again.stderr
    before = len(calls(tmp_path))
    done = calibrate(tmp_path, "--resume", path_dirs=(fake_bin,))
    assert done.returncode == 0, done.stderr
    assert len(calls(tmp_path)) - before == 2  # only the failed step and the one after it ran
    assert "done earlier, kept" in done.stderr
    assert (tmp_path / "profiles" / "H100-SXM--trtllm--fp8--v1.0.json").exists()
