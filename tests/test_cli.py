"""The command line as users script it: output shape, exit codes, one-line errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT


def run(*args, check=False):
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=ROOT, check=check)


JSON_KEYS = {
    "weights_gib_per_gpu", "kv_bytes_per_token", "kv_capacity_tokens", "max_concurrency", "fits", "ttft_ms", "itl_ms", "e2e_ms",
    "output_tok_s", "output_tok_s_per_gpu", "output_tok_s_per_user", "usd_per_hour", "usd_per_million_output_tokens", "source", "uncertainty_pct",
}  # fmt: skip


def test_estimate_json_has_design_keys():
    r = run(
        "estimate",
        "--model",
        "llama-3.1-70b",
        "--gpu",
        "H100 80GB HBM3",
        "--precision",
        "fp8",
        "--tp",
        "4",
        "--isl",
        "1024",
        "--osl",
        "256",
        "--format",
        "json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert JSON_KEYS <= set(out)
    assert out["fits"] and out["source"].startswith("calibrated:H100-SXM--trtllm--fp8") and out["gpu"] == "H100-SXM"
    analytic = json.loads(
        run("estimate", "--model", "llama-3.1-70b", "--gpu", "H100", "--precision", "fp8", "--tp", "4", "--profile", "none", "--format", "json").stdout
    )
    assert analytic["source"] == "analytic" and analytic["itl_ms"] != out["itl_ms"]
    assert out["output_tok_s_per_gpu"] == pytest.approx(out["output_tok_s"] / 4)
    assert out["usd_per_million_output_tokens"] == pytest.approx(out["usd_per_hour"] / (out["output_tok_s"] * 3600) * 1e6)


def test_ttft_under_load_states_its_own_uncertainty():
    """TTFT is not calibrated and errs far more than throughput or ITL under closed-loop clients
    (planner.defaults.TTFT_UNCERTAINTY_PCT_BY_ARRIVALS): each operating point says its own band."""
    base = ("estimate", "--model", "llama-3.1-8b", "--gpu", "H100", "--isl", "1024", "--osl", "256")
    closed, opened, offline = (run(*base, *extra) for extra in (("--concurrency", "16"), ("--request-rate", "2"), ()))
    assert "(TTFT ±170%, closed-loop clients" in closed.stdout
    assert "(TTFT ±30%, open-loop arrivals)" in opened.stdout
    assert "TTFT ±" not in offline.stdout
    out = json.loads(run(*base, "--concurrency", "16", "--format", "json").stdout)
    assert out["ttft_uncertainty_pct"] == 170.0 and out["uncertainty_pct"] < 170.0


def test_estimate_table_and_does_not_fit():
    r = run("estimate", "--model", "llama-3.1-405b", "--gpu", "H100", "--precision", "fp16")
    assert r.returncode == 0
    assert "NO: does not fit: weights 756.0 GiB" in r.stdout and "smallest deployment that fits: TP8 x PP2 (16 GPUs)" in r.stdout


def test_estimate_prints_its_advice():
    # vLLM preempting with every request queued: the table names the --max-num-seqs that preempts nothing
    r = run("estimate", "--model", "Qwen/Qwen3-32B", "--gpu", "B200", "--precision", "fp8", "--engine", "vllm", "--isl", "1024", "--osl", "1024")
    assert r.returncode == 0
    advice = [line for line in r.stdout.splitlines() if line.strip().startswith("ADVICE")]
    assert len(advice) == 1 and "--max-num-seqs 493 " in advice[0]


def test_estimate_engine_options_change_the_answer():
    base = json.loads(run("estimate", "--model", "llama-3.1-8b", "--gpu", "H100", "--format", "json").stdout)
    small = json.loads(
        run("estimate", "--model", "llama-3.1-8b", "--gpu", "H100", "--format", "json", "--free-gpu-memory-fraction", "0.5", "--max-batch-size", "8").stdout
    )
    assert small["kv_capacity_tokens"] < base["kv_capacity_tokens"] and small["max_concurrency"] == 8
    vllm = json.loads(run("estimate", "--model", "llama-3.1-8b", "--gpu", "H100", "--format", "json", "--engine", "vllm").stdout)
    assert vllm["engine"] == "vllm" and vllm["kv_capacity_tokens"] != base["kv_capacity_tokens"]
    # vLLM 0.6 (V0) on a 24 GiB card: --max-model-len sizes its profiling step, and one it cannot hold stops the start-up
    v0 = ("estimate", "--model", "llama-3.1-8b", "--gpu", "RTX 3090", "--engine", "vllm", "--engine-version", "0.6.4")
    fits, refused = (run(*v0, "--max-model-len", n) for n in ("20000", "29000"))
    assert "vllm 0.6.4 (max batch 256, max tokens/step 20,000, gpu_memory_utilization 0.9, max_model_len 20,000)" in fits.stdout
    assert "fits                   yes" in fits.stdout
    assert "NO: vLLM refuses to start: --max-model-len 29,000 needs" in refused.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "no-such-model", "--gpu", "H100"], "unknown model 'no-such-model'"),
        (["--model", "llama-3.1-8b", "--gpu", "H999"], "unknown gpu 'H999'"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--isl", "-5"], "isl -5: must be a whole number of tokens between 1 and 10,000,000"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--osl", "0"], "osl 0: must be a whole number of tokens between 1 and 10,000,000"),
        (["--model", "llama-3.1-70b", "--gpu", "H100", "--tp", "3"], "tp 3 does not divide the 64 attention heads"),
        (["--model", "llama-3.1-8b", "--gpu", "A100", "--precision", "fp8"], "precision 'fp8' is not supported on A100-SXM-80GB"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--precision", "nvfp4"], "precision 'nvfp4' is not supported on H100-SXM"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--precision", "fp12"], "precision 'fp12' is not one of"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--kv-precision", "nvfp4"], "kv precision 'nvfp4' is not supported on H100-SXM"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--tp", "two"], "argument --tp: invalid int value: 'two'"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--engine", "tgi"], "argument --engine: invalid choice: 'tgi'"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--free-gpu-memory-fraction", "1.5"], "free_gpu_memory_fraction 1.5"),
        (
            ["--model", "llama-3.1-8b", "--gpu", "H100", "--max-model-len", "200000"],
            "max_model_len 200,000: must be a whole number of tokens from 2,048 (the requests' ISL + OSL) to 131,072 (meta-llama/Llama-3.1-8B's context window)",
        ),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--max-model-len", "0"], "argument --max-model-len: '0' must be >= 1"),
        (["--model", "tests/configs/mamba-2.8b.json", "--gpu", "B200"], "state-space layers"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message):
    r = run("estimate", *args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr


def test_malformed_config_path(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"hidden_size": 4096,')
    r = run("estimate", "--model", str(bad), "--gpu", "H100")
    assert r.returncode == 2 and "malformed config.json at line 1" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_predict_keeps_rows_and_order(tmp_path):
    queries = pd.DataFrame(
        {
            "model": ["meta-llama/Llama-3.1-8B", "nope/model", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-8B"],
            "gpu": ["H100-SXM", "H100-SXM", "H200-SXM", "H100-SXM"],
            "engine": ["trtllm"] * 4,
            "precision": ["fp8", "fp8", "bf16", "bf16"],
            "tp": [1, 1, 4, 1],
            "isl": [128, 128, 467, 467],
            "osl": [128, 128, 256, 256],
            "concurrency": [None, None, None, 16],
            "request_rate": [None, None, 4.0, None],
            "num_requests": [30000, 30000, 500, 500],
            "my_note": ["a", "b", "c", "d"],
        }
    )
    src = tmp_path / "q.csv"
    queries.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    r = run("predict", str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(out)
    assert list(got.my_note) == ["a", "b", "c", "d"]
    assert {"pred_output_tok_s", "pred_ttft_ms", "pred_itl_ms", "pred_e2e_ms", "pred_source", "pred_uncertainty_pct"} <= set(got.columns)
    assert got.pred_source[1].startswith("error: unknown model") and pd.isna(got.pred_output_tok_s[1])
    assert got.pred_source[0].startswith("calibrated:H100-SXM--trtllm--fp8") and got.pred_output_tok_s[0] > 0
    # the rate row serves what arrives: 4 req/s x 256 tokens
    assert got.pred_output_tok_s[2] == pytest.approx(4 * 256, rel=0.01)
    stdout = run("predict", str(src))
    assert stdout.returncode == 0 and stdout.stdout.startswith("model,gpu")


def test_predict_missing_column(tmp_path):
    src = tmp_path / "q.csv"
    src.write_text("model,gpu\nllama-3.1-8b,H100\n")
    r = run("predict", str(src))
    assert r.returncode == 2 and "missing column(s) precision, isl, osl" in r.stderr


def test_gpus_and_models_lists():
    g = run("gpus", "--format", "json")
    listed = json.loads(g.stdout)
    assert g.returncode == 0 and len(listed) == len(list((ROOT / "gpu_specs").glob("*.yaml"))) == 27
    assert {r["id"]: r["nvlink_gpus"] for r in listed if "GH200" in r["id"]} == {"GH200": 1, "DGX-GH200": 256, "GH200-NVL32": 32}
    m = run("models")
    assert m.returncode == 0 and "meta-llama/Llama-3.1-8B" in m.stdout and "no:" not in m.stdout and "zhipuai/GLM-5" in m.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["import", "/"], "nothing imported from /"),
        (["predict", "/"], "/: cannot read"),
        (["calibrate", "--measurements", "/", "--out", "/tmp/x"], "nothing imported from /"),
    ],
)
def test_unreadable_paths_are_one_line(args, message):
    r = run(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def test_unwritable_output_is_one_line(tmp_path):
    src = tmp_path / "q.csv"
    src.write_text("model,gpu,precision,isl,osl\nllama-3.1-8b,H100,fp8,128,128\n")
    r = run("predict", str(src), "--out", "/proc/nope/out.csv")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "folder /proc/nope does not exist" in r.stderr


def test_a_deployment_without_room_for_a_kv_cache_states_no_batch():
    out = run("estimate", "--model", "meta-llama/Llama-3.1-70B", "--gpu", "L40S", "--engine", "sglang")
    assert out.returncode == 0 and "sglang (max batch none (no room for a KV cache)," in out.stdout and "max batch 1," not in out.stdout


def test_an_engine_version_that_is_not_one_is_refused_with_or_without_a_profile():
    for profile in ([], ["--profile", "none"]):
        out = run("estimate", "--model", "llama-3.1-8b", "--gpu", "H200", "--engine", "sglang", "--engine-version", "glm5-hopper", *profile)
        assert out.returncode != 0 and "engine_version 'glm5-hopper' is not a version number" in out.stderr
