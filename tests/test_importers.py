"""Importers: every sample and real benchmark output imports or is refused with a reason."""

import json
import subprocess
import sys

import pytest

from planner import PlannerError
from planner.importers import import_file, import_files
from tests.conftest import ROOT

FORMATS = ROOT.parent / "shared" / "data" / "formats"

#: file -> (format, fields it lacks, checks on the first row)
EXPECTED = {
    "trtllm_bench_report.json": ("trtllm-bench report JSON", set(), {"model": "meta-llama/Llama-3.1-8B", "gpu": "NVIDIA H100 80GB HBM3", "precision": "fp8", "isl": 2048, "output_tok_s": 5530.7382, "ttft_ms": 52667.0339, "itl_ms": 182.9639}),
    "genai_perf_profile_export_genai_perf.csv": ("GenAI-Perf CSV", {"model", "gpu", "engine", "precision", "concurrency", "tp", "pp", "attention_dp"}, {"ttft_ms": 1210.42, "isl": 5000, "output_tok_s": 1433.27, "num_requests": 1000.0}),
    "genai_perf_profile_export_genai_perf.json": ("GenAI-Perf JSON", {"gpu", "engine", "precision", "tp", "pp", "attention_dp"}, {"model": "meta-llama/Llama-3.1-70B-Instruct", "concurrency": 40.0, "itl_ms": 25.13}),
    "aiperf_profile_export_aiperf.json": ("AIPerf JSON", {"gpu", "engine", "precision", "tp", "pp", "attention_dp"}, {"concurrency": 40.0, "osl": 500}),
    "real/aiperf_examples-run1_profile_export_aiperf.json": ("AIPerf JSON", {"gpu", "engine", "precision", "tp", "pp", "attention_dp"}, {"model": "openai/gpt-oss-20b", "concurrency": 100.0, "isl": 550}),
    "real/aiperf_examples-run1_profile_export_aiperf.csv": ("AIPerf CSV", {"model", "gpu", "engine", "precision", "concurrency", "tp", "pp", "attention_dp"}, {"output_tok_s": 2320.72, "ttft_ms": 2343.22}),
    "real/aiperf_wellflat-k8s-dev_gpt-oss-20b_a100_profile_export_aiperf.json": ("AIPerf JSON", {"engine", "precision", "tp", "pp", "attention_dp"}, {"gpu": "NVIDIA A100-SXM4-80GB", "concurrency": 1.0}),
    "real/genai_perf_cloudai-doc_dynamo_isl3000_profile_export_genai_perf.csv": ("GenAI-Perf CSV", {"model", "gpu", "engine", "precision", "concurrency", "tp", "pp", "attention_dp"}, {"isl": 3000, "output_tok_s": 261.25}),
    "real/genai_perf_dgxc-benchmarking_llama3-70b-nim_profile_export_genai_perf.csv": ("GenAI-Perf CSV", {"model", "gpu", "engine", "precision", "concurrency", "tp", "pp", "attention_dp"}, {"osl": 512, "itl_ms": 11.54}),
    "real/genai_perf_perf-analyzer-issue393_isl4000-c144_profile_export_genai_perf.csv": ("GenAI-Perf CSV", {"model", "gpu", "engine", "precision", "concurrency", "tp", "pp", "attention_dp"}, {"ttft_ms": 32688.40, "num_requests": 353.0}),
    "real/genai_perf_wellflat-k8s-dev_gpt-oss-20b_2025-09_profile_export_genai_perf.json": ("GenAI-Perf JSON", {"gpu", "engine", "precision", "tp", "pp", "attention_dp"}, {"model": "openai/gpt-oss-20b", "concurrency": 1.0}),
    "real/genai_perf_wellflat-k8s-dev_gpt-oss-20b_2025-09-30_telemetry_profile_export_genai_perf.json": ("GenAI-Perf JSON", {"gpu", "engine", "precision", "tp", "pp", "attention_dp"}, {"model": "openai/gpt-oss-20b", "concurrency": 1.0}),
    "real/vllm_benchmaxxing_gpt-oss-120b_h100x8_tp8.json": ("vLLM benchmark JSON", {"model", "gpu", "precision", "tp", "pp", "attention_dp"}, {"engine": "vllm", "concurrency": 100.0, "isl": 1024, "osl": 128}),
    "real/vllm_benchmaxxing_qwen3-32b_b200_tp4dp2.json": ("vLLM benchmark JSON", {"model", "gpu", "precision", "tp", "pp", "attention_dp"}, {"isl": 8192, "concurrency": 100.0}),
    "real/vllm_surajssd-llm-k8s_llama33-70b_tp8_qps-inf.json": ("vLLM benchmark JSON", {"gpu", "precision", "tp", "pp", "attention_dp"}, {"model": "meta-llama/Llama-3.3-70B-Instruct", "concurrency": None, "request_rate": None}),
    "real/vllm_surajssd-llm-k8s_deepseek-v25_tp8pp2_qps-04.json": ("vLLM benchmark JSON", {"gpu", "precision", "tp", "pp", "attention_dp"}, {"request_rate": 4.0}),
    "real/sglang_benchmaq_llama31-70b_h100_tp8.jsonl": ("SGLang bench_serving JSONL", {"model", "gpu"}, {"tp": 8, "pp": 1, "attention_dp": 1, "precision": "bf16", "concurrency": 100.0}),
    "real/sglang_datacrunch-h200_llama33-70b_online.jsonl": ("SGLang bench_serving JSONL", {"model", "gpu", "precision", "tp", "pp", "attention_dp"}, {"request_rate": 1.0, "engine": "sglang"}),
    "real/sglang_datacrunch-h200_deepseek-dp-mla_offline.jsonl": ("SGLang bench_serving JSONL", {"model", "gpu", "precision", "tp", "pp", "attention_dp"}, {"osl": 512, "request_rate": None}),
    "real/trtllm_bench_nvidia-blog_llama31-8b-instruct_v0.21rc0_streaming_report.txt": ("trtllm-bench text report", {"gpu"}, {"precision": "bf16", "output_tok_s": 11076.77, "ttft_ms": 162.6706, "itl_ms": 7.3272}),
    "real/trtllm_bench_trtllm-docs_llama31-8b_v0.17_trt-engine_report.txt": ("trtllm-bench text report", {"gpu"}, {"model": "meta-llama/Llama-3.1-8B", "precision": "fp8", "kv_precision": "fp8", "output_tok_s": 28390.4265}),
    "real/trtllm_bench_trtllm-docs_llama31-8b_v0.17_pytorch_report.txt": ("trtllm-bench text report", {"gpu"}, {"output_tok_s": 20685.551, "num_requests": 3000.0, "tp": 1, "pp": 1, "attention_dp": 1}),
    "real/trtllm_bench_trtllm-docs_qwen2-vl-2b_multimodal_report.txt": ("trtllm-bench text report", {"model", "gpu", "precision"}, {"isl": 412, "osl": 129, "tp": 1, "pp": 1}),
}  # fmt: skip
REFUSED = {
    "real/aiperf_examples-run1_profile_export.jsonl": "AIPerf per-request records",
    "real/genai_perf_perf-analyzer-repo_gpt2_analyze_export_genai_perf.csv": "'genai-perf analyze' sweep export",
}


def test_every_sample_file_is_covered():
    files = {str(p.relative_to(FORMATS)) for p in FORMATS.rglob("*") if p.is_file() and p.suffix != ".md"}
    assert files == set(EXPECTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_imports(name):
    fmt, missing, checks = EXPECTED[name]
    imp = import_file(FORMATS / name)
    assert imp.format == fmt
    assert imp.missing == missing
    row = imp.rows[0]
    for key, value in checks.items():
        assert row[key] == (pytest.approx(value) if isinstance(value, float) else value), key


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_a_reason(name):
    with pytest.raises(PlannerError, match=REFUSED[name]):
        import_file(FORMATS / name)


def test_missing_fields_are_named_with_the_option():
    with pytest.raises(
        PlannerError,
        match=r"does not say attention_dp, concurrency, engine, gpu, model, pp, precision, tp; pass --attention-dp \(data-parallel ranks; 1 for a run without data parallelism\) \.\.\. --concurrency",
    ):
        import_files([FORMATS / "genai_perf_profile_export_genai_perf.csv"])
    frame = import_files(
        [FORMATS / "genai_perf_profile_export_genai_perf.csv"],
        model="llama-3.1-70b",
        gpu="H100",
        engine="vllm",
        precision="fp8",
        tp=4,
        pp=1,
        attention_dp=1,
        concurrency=40,
    )
    assert frame.iloc[0].tp == 4 and frame.iloc[0].concurrency == 40


def test_sglang_keeps_every_run():
    assert len(import_file(FORMATS / "real/sglang_datacrunch-h200_llama33-70b_online.jsonl").rows) == 7


def test_measurement_csv_round_trip(tmp_path):
    frame = import_files([FORMATS / "trtllm_bench_report.json"], gpu="H100")
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    again = import_files([path])
    assert again.output_tok_s[0] == pytest.approx(5530.7382) and again.gpu[0] == "NVIDIA H100 80GB HBM3"  # the file's own name, which --gpu H100 agrees with


def test_truncated_and_malformed_files(tmp_path):
    good = {
        "engine": {"model": "meta-llama/Llama-3.1-8B", "quantization": "FP8"},
        "world_info": {"tp_size": 1},
        "performance": {"system_output_throughput_tok_s": 100.0},
    }
    text = json.dumps(good, indent=1)
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(PlannerError, match=r"cut.json: malformed JSON at line \d+"):
        import_file(cut)
    no_perf = tmp_path / "noperf.json"
    no_perf.write_text(json.dumps({**good, "performance": {}}))
    with pytest.raises(PlannerError, match="noperf.json: trtllm-bench report JSON lacks 'performance.system_output_throughput_tok_s'"):
        import_file(no_perf)
    csv_cut = tmp_path / "cut.csv"
    csv_cut.write_text("Metric,avg,min,max\nTime To First Token (ms),12.0,1.0,20.0\nInter Token Latency (ms)\n")
    with pytest.raises(PlannerError, match=r"cut.csv: line 3: row 'Inter Token Latency \(ms\)' is truncated"):
        import_file(csv_cut)
    sg = tmp_path / "s.jsonl"
    sg.write_text('{"completed": 10, "output_throughput": 5.0}\n{"completed": 1')
    with pytest.raises(PlannerError, match=r"s.jsonl: line 2: not a JSON object"):
        import_file(sg)
    for name, content in (("empty.json", ""), ("odd.txt", "hello world\n")):
        (tmp_path / name).write_text(content)
        with pytest.raises(PlannerError, match=name):
            import_file(tmp_path / name)


def test_calibrate_from_a_bad_file_writes_no_profile(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "engine": {"model": "meta-llama/Llama-3.1-8B", "quantization": "FP8"},
                "machine": {"name": "H100"},
                "world_info": {"tp_size": 1, "pp_size": 1},
                "request_info": {"avg_input_length": 128, "avg_output_length": 128, "num_requests": 100},
                "performance": {"system_output_throughput_tok_s": 20000.0},
            }
        )
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"engine": {"model": ')
    out = tmp_path / "profiles"
    r = subprocess.run(
        [sys.executable, "-m", "planner", "calibrate", "--measurements", str(good), str(bad), "--out", str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 2 and "bad.json: malformed JSON" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or not list(out.iterdir())
    r = subprocess.run([sys.executable, "-m", "planner", "calibrate", "--measurements", str(good), "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == ["H100-SXM--trtllm--fp8.json"]


def test_quantization_labels_map_to_precisions():
    from planner.importers import _precision

    assert _precision("W4A8_MXFP4_FP8") == "mxfp4"  # MXFP4 weights, whatever the activations
    assert _precision("W4A16_MXFP4") == "mxfp4"
    assert _precision("NVFP4") == "nvfp4" and _precision("FP8_BLOCK_SCALES") == "fp8"
    assert _precision(None, "bfloat16") == "bf16"


#: What each real file records about its run's parallelism and precision (read by hand from the file).
RECORDED = {
    "real/sglang_benchmaq_llama31-70b_h100_tp8.jsonl": {"tp": 8, "pp": 1, "attention_dp": 1, "precision": "bf16"},
    "real/trtllm_bench_nvidia-blog_llama31-8b-instruct_v0.21rc0_streaming_report.txt": {"tp": 1, "pp": 1, "precision": "bf16"},
    "real/trtllm_bench_trtllm-docs_llama31-8b_v0.17_trt-engine_report.txt": {"tp": 1, "pp": 1, "precision": "fp8"},
    "real/trtllm_bench_trtllm-docs_llama31-8b_v0.17_pytorch_report.txt": {"tp": 1, "pp": 1, "precision": "fp8"},
    "real/trtllm_bench_trtllm-docs_qwen2-vl-2b_multimodal_report.txt": {"tp": 1, "pp": 1},
}


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("real/")))
def test_every_real_file_imports_what_it_records_or_names_the_flag(name):
    """Nothing is assumed: TP and precision come from the file, or the error asks for them."""
    try:
        frame = import_files([FORMATS / name])
    except PlannerError as exc:
        msg = str(exc)
        assert "\n" not in msg and name.split("/")[-1] in msg
        for field, flag in (("tp", "--tp"), ("pp", "--pp"), ("attention_dp", "--attention-dp"), ("precision", "--precision")):
            if field not in RECORDED.get(name, {}) and field in EXPECTED[name][1]:
                assert flag in msg, (field, msg)
        for field in RECORDED.get(name, {}):
            assert f"--{field.replace('_', '-')} " not in msg, (field, msg)
        frame = None
    imp = import_file(FORMATS / name)
    for field, value in RECORDED.get(name, {}).items():
        assert imp.rows[0][field] == value, (field, imp.rows[0][field])
    if frame is not None:
        assert set(RECORDED[name]) >= {"tp", "pp", "precision"}


def test_an_option_that_contradicts_the_file_is_refused():
    name = FORMATS / "real/sglang_benchmaq_llama31-70b_h100_tp8.jsonl"
    with pytest.raises(PlannerError, match=r"the file records tp 8, --tp says 4; drop --tp"):
        import_files([name], model="llama-3.1-70b", gpu="H100", tp=4)
    with pytest.raises(PlannerError, match=r"the file records precision 'bf16', --precision says 'fp8'"):
        import_files([name], model="llama-3.1-70b", gpu="H100", precision="fp8")
    frame = import_files([name], model="llama-3.1-70b", gpu="H100", tp=8)  # agreeing is fine
    assert frame.iloc[0].tp == 8


def test_the_vllm_tp4_dp2_run_is_not_recorded_as_tp1():
    name = FORMATS / "real/vllm_benchmaxxing_qwen3-32b_b200_tp4dp2.json"
    with pytest.raises(PlannerError, match=r"does not say attention_dp, pp, tp; pass --attention-dp .* --pp \.\.\. --tp \.\.\."):
        import_files([name], model="Qwen/Qwen3-32B", gpu="B200", precision="bf16")
    frame = import_files([name], model="Qwen/Qwen3-32B", gpu="B200", precision="bf16", tp=4, pp=1, attention_dp=2)
    assert (frame.iloc[0].tp, frame.iloc[0].attention_dp) == (4, 2)


def test_sglang_dp_attention_is_read_from_server_info(tmp_path):
    line = {
        "completed": 100,
        "output_throughput": 5000.0,
        "total_input_tokens": 102400,
        "total_output_tokens": 51200,
        "max_concurrency": 256,
        "request_rate": "inf",
        "server_info": {"tp_size": 8, "pp_size": 1, "dp_size": 8, "ep_size": 8, "enable_dp_attention": True, "dtype": "bfloat16"},
    }
    path = tmp_path / "dp.jsonl"
    path.write_text(json.dumps(line) + "\n")
    row = import_file(path).rows[0]
    assert (row["tp"], row["attention_dp"], row["ep"]) == (1, 8, 8)


def test_a_folder_imports_what_it_can_and_says_what_it_skipped(tmp_path):
    (tmp_path / "good.json").write_text((FORMATS / "trtllm_bench_report.json").read_text())
    (tmp_path / "bad.json").write_text('{"engine": ')
    (tmp_path / "notes.md").write_text("# notes\n")
    (tmp_path / "sub").mkdir()
    skipped = {}
    frame = import_files([tmp_path], skipped=skipped)
    assert len(frame) == 1
    reasons = {p.name: why for p, why in skipped.items()}
    assert set(reasons) == {"bad.json", "notes.md", "sub"} and "malformed JSON" in reasons["bad.json"]
    r = subprocess.run([sys.executable, "-m", "planner", "import", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "skipped" in r.stderr and "bad.json" in r.stderr and "imported 1 rows" in r.stderr
    (tmp_path / "good.json").unlink()
    out = tmp_path / "out.csv"
    r = subprocess.run([sys.executable, "-m", "planner", "import", str(tmp_path), "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: nothing imported from") and not out.exists()


def test_files_over_the_size_limit_are_refused_unread(tmp_path, monkeypatch):
    import planner.importers as importers

    monkeypatch.setattr(importers, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"x": "y" * 200}))
    with pytest.raises(PlannerError, match=r"big.json: .* larger than a benchmark result can be"):
        import_file(path)
