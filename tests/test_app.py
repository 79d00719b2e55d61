"""The dashboard's pages (Streamlit's AppTest, no browser): each renders, its figures equal the
planner API's for the same inputs, and bad input is a message that leaves the session usable."""

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import planner
from planner.profiles import profiles
from tests.conftest import ROOT

PAGES = ["ui/plan.py", "ui/compare.py", "ui/fleet.py", "ui/calibration.py"]
PLAN_DEFAULTS = dict(model="meta-llama/Llama-3.1-8B", gpu="H100-SXM", precision="fp8", isl=1024, osl=256, concurrency=32)


def app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = str(v)
    return at.run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def number(text: str) -> float:
    return float(text.replace(",", "").split()[0])


def widget(at: AppTest, kind: str, label: str):
    return next(w for w in getattr(at.sidebar, kind) if w.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(page):
    at = app()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title and not at.error


def test_plan_defaults_equal_the_api():
    at = app()
    e = planner.estimate(**PLAN_DEFAULTS)
    assert number(metric(at, "Tokens/s per GPU")) == pytest.approx(e.output_tok_s_per_gpu, abs=0.5)
    assert metric(at, "TTFT p50 / p90 (ms)") == f"{e.ttft_p50_ms:,.1f} / {e.ttft_p90_ms:,.1f}"
    assert any("Operating point: 32 concurrent users" in c.value and e.source in c.value for c in at.caption)
    # 32 closed-loop users: the TTFT says its own, wider band
    assert any(f"the TTFT's band is ±{e.ttft_uncertainty_pct:.0f} %" in c.value for c in at.caption) and e.ttft_uncertainty_pct == 170
    assert f"Uncertainty ±{e.ttft_uncertainty_pct:.0f} %" in next(m.help for m in at.metric if m.label.startswith("TTFT"))
    assert any(f"{e.kv_capacity_tokens:,} tokens" in m.value for m in at.markdown)


def test_plan_follows_every_input_like_the_api():
    at = app()
    widget(at, "selectbox", "GPU").set_value("H200-SXM")
    widget(at, "selectbox", "TP").set_value(2)
    widget(at, "number_input", "Input tokens (ISL)").set_value(2048)
    widget(at, "radio", "Load").set_value("request rate").run()
    widget(at, "number_input", "Requests per second").set_value(3.0).run()
    assert not at.exception
    e = planner.estimate(**{**PLAN_DEFAULTS, "gpu": "H200-SXM", "tp": 2, "isl": 2048, "concurrency": None, "request_rate": 3.0})
    assert metric(at, "ITL p50 / p90 (ms)") == f"{e.itl_p50_ms:,.2f} / {e.itl_p90_ms:,.2f}"
    assert metric(at, "GPUs per replica") == "2"
    assert at.query_params["gpu"] == "H200-SXM" and at.query_params["tp"] == "2"  # the URL holds the state


def test_plan_says_when_vllm_would_refuse_its_max_model_len():
    # Llama-3.1-8B on an RTX 3090 under vLLM: the default (the context window) gets a warning naming
    # the longest that fits; a max_model_len set above it is a refusal, as vLLM's start-up is
    at = app(gpu="RTX-3090", engine="vllm", precision="fp16")
    e = planner.estimate(**{**PLAN_DEFAULTS, "gpu": "RTX-3090", "engine": "vllm", "precision": "fp16"})
    assert not at.exception and any(f"--max-model-len {e.longest_sequence_tokens:,}" in w.value for w in at.warning)
    widget(at, "number_input", "max_model_len (0 = the model's context window)").set_value(e.longest_sequence_tokens + 16).run()
    assert not at.exception
    assert any("vLLM refuses to start: --max-model-len" in x.value for x in at.error)


def test_plan_shows_the_estimates_advice():
    # 1,024 clients on a cache that holds 493 sequences of 1,024 + 1,024 tokens: vLLM preempts, and a
    # lower max_num_seqs serves more; the page says so as the API does
    query = dict(model="Qwen/Qwen3-32B", gpu="B200", engine="vllm", precision="fp8", isl=1024, osl=1024)
    at = app(**query, users=1024)
    e = planner.estimate(**query, concurrency=1024)
    assert not at.exception and len(e.advice) == 1
    assert [x.value for x in at.info if "--max-num-seqs" in x.value] == e.advice


def test_plan_takes_the_tensorrt_llm_runtime():
    # TensorRT-LLM 0.19 runs TensorRT engines on its C++ runtime by default; the PyTorch backend has no decoder buffers
    at = app()
    widget(at, "text_input", "Engine version (blank: the current release)").set_value("0.19").run()
    for label, backend in (("by engine version", None), ("PyTorch backend", "pytorch")):
        at = widget(at, "selectbox", "TensorRT-LLM runtime").set_value(label).run()
        assert not at.exception
        e = planner.estimate(**{**PLAN_DEFAULTS, "engine_version": "0.19", "trtllm_backend": backend})
        assert (e.trtllm_backend, e.decoder_gib_per_gpu > 0) == (backend or "cpp", backend is None)
        assert any(f"{e.kv_capacity_tokens:,} tokens" in m.value for m in at.markdown)


def test_plan_state_comes_from_the_url():
    at = app(model="meta-llama/Llama-3.1-70B", gpu="H100-SXM", tp=4, isl=512, load="offline max throughput")
    e = planner.estimate(**{**PLAN_DEFAULTS, "model": "meta-llama/Llama-3.1-70B", "tp": 4, "isl": 512, "concurrency": None})
    assert metric(at, "GPUs per replica") == "4"
    assert number(metric(at, "Tokens/s per GPU")) == pytest.approx(e.output_tok_s_per_gpu, abs=0.5)


def test_plan_shows_a_hybrid_models_state_memory():
    at = app(model="Qwen/Qwen3.5-397B-A17B", gpu="B200", precision="fp8", tp=8, engine="sglang")
    assert not at.exception, at.exception
    e = planner.estimate(**{**PLAN_DEFAULTS, "model": "Qwen/Qwen3.5-397B-A17B", "gpu": "B200", "tp": 8, "engine": "sglang"})
    note = next(m.value for m in at.markdown if "Hybrid linear attention" in m.value)
    assert "45 of 60 layers keep no KV" in note and f"{e.state_gib_per_gpu:.1f} GiB" in note and "192.1 MB" in note
    assert any(f"{e.kv_capacity_tokens:,} tokens" in m.value for m in at.markdown)


def test_plan_says_a_vision_encoder_is_counted():
    at = app(model="mistralai/Mistral-Small-3.2-24B-Instruct-2506", gpu="H100-SXM", engine="vllm")
    assert not at.exception, at.exception
    e = planner.estimate(**{**PLAN_DEFAULTS, "model": "mistralai/Mistral-Small-3.2-24B-Instruct-2506", "engine": "vllm"})
    assert e.params_vision_encoder > 0
    assert any("24.0 B parameters, 0.5 B of them a vision encoder: weights memory only" in c.value for c in at.caption)
    assert any(f"{e.kv_capacity_tokens:,} tokens" in m.value for m in at.markdown)


def test_plan_memory_fraction_is_the_engines_unless_set():
    # SGLang works its own fraction out (0.834 for one H100); unticking the default sets it by hand
    at = app(engine="sglang")
    e = planner.estimate(**{**PLAN_DEFAULTS, "engine": "sglang"})
    assert e.memory_fraction == 0.834 and any(f"{e.kv_capacity_tokens:,} tokens" in m.value for m in at.markdown)
    assert any("mem_fraction_static 0.834" in m.value for m in at.markdown)
    widget(at, "text_input", "Engine version (blank: the current release)").set_value("0.5.1").run()
    older = planner.estimate(**{**PLAN_DEFAULTS, "engine": "sglang", "engine_version": "0.5.1"})
    assert older.memory_fraction != e.memory_fraction and any(f"mem_fraction_static {older.memory_fraction:g}" in m.value for m in at.markdown)
    widget(at, "text_input", "Engine version (blank: the current release)").set_value("").run()
    widget(at, "checkbox", "Engine's default memory fraction").uncheck().run()
    widget(at, "slider", "KV-cache memory fraction").set_value(0.8).run()
    assert not at.exception
    e = planner.estimate(**{**PLAN_DEFAULTS, "engine": "sglang", "free_gpu_memory_fraction": 0.8})
    assert any(f"{e.kv_capacity_tokens:,} tokens" in m.value for m in at.markdown)


def test_plan_shows_why_a_deployment_does_not_fit():
    at = app(model="meta-llama/Llama-3.1-405B", precision="fp16")
    assert not at.exception
    error = next(x.value for x in at.error)
    assert error.startswith("Does not fit:") and "Smallest deployment that fits: TP8 x PP2" in error
    assert any("max batch none (no room for a KV cache)" in m.value for m in at.markdown)  # not a batch of 1


def test_plan_preselects_a_quantized_checkpoints_own_precision():
    at = app()
    widget(at, "selectbox", "Model").set_value("openai/gpt-oss-120b").run()
    assert not at.exception
    assert widget(at, "selectbox", "Weight precision").value == "checkpoint's own"
    assert any("mxfp4" in s.value for s in at.success)


def test_a_malformed_config_upload_is_a_message_and_the_session_goes_on():
    at = app()
    at.sidebar.file_uploader[0].upload("config.json", json.dumps({"model_type": "llama", "hidden_size": "big"}).encode(), "application/json").run()
    assert not at.exception
    assert any("hidden_size" in e.value for e in [*at.sidebar.error, *at.error])
    at.sidebar.file_uploader[0].clear().run()
    assert not at.exception and metric(at, "GPUs per replica") == "1"


def test_an_uploaded_config_takes_the_quantization_file_uploaded_beside_it():
    cfg = json.loads((ROOT / "model_configs" / "meta-llama--Llama-3.1-8B.json").read_text())
    side = {"quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}
    at = app()
    at.sidebar.file_uploader[0].set_value(
        [("config.json", json.dumps(cfg).encode(), "application/json"), ("hf_quant_config.json", json.dumps(side).encode(), "application/json")]
    ).run()
    assert not at.exception, at.exception
    assert any("fp8 weights, fp8 KV cache" in x.value for x in at.success)
    assert any("the checkpoint's own (ModelOpt FP8)" in c.value for c in at.caption)
    at.sidebar.file_uploader[0].set_value([("a.json", b"{}", "application/json"), ("b.json", b"{}", "application/json")]).run()
    assert not at.exception and any("upload one config.json" in e.value for e in [*at.sidebar.error, *at.error])


def test_compare_rows_equal_the_api():
    at = app(model="meta-llama/Llama-3.1-70B")  # the model travels between pages in the URL
    at.switch_page("ui/compare.py").run()
    table = at.dataframe[1].value
    for engine in ("trtllm", "vllm"):  # each row runs its own engine
        e = planner.estimate("meta-llama/Llama-3.1-70B", "H200-SXM", "fp8", tp=1, isl=1024, osl=256, concurrency=32, engine=engine)
        row = table[table.deployment == f"H200-SXM fp8 TP1 {engine}"].iloc[0]
        assert row["tokens/s per GPU"] == pytest.approx(e.output_tok_s_per_gpu) and row["ITL p50 (ms)"] == pytest.approx(e.itl_p50_ms)
    assert len(set(table.loc[table.deployment.str.startswith("H200-SXM fp8 TP1"), "ITL p50 (ms)"])) == 2, "the engines' answers differ"


def test_fleet_recommends_what_the_api_recommends():
    at = app()
    at.switch_page("ui/fleet.py").run()
    widget(at, "radio", "Requests from").set_value("a length distribution").run()
    assert not at.exception
    spec = widget(at, "text_input", "Workload").value
    rate = next(n for n in at.number_input if n.label == "Target requests/s").set_value(4.0).run()
    assert not rate.exception
    r = planner.recommend(
        "meta-llama/Llama-3.1-70B", 4.0, planner.parse_workload(spec), planner.Sla(ttft_ms=2000, ttft_pct=90, itl_ms=50, itl_pct=90)
    ).to_json()
    best = r["recommendations"][0]
    assert any(f"{best['replicas']} × {best['gpu']} {best['precision']} TP{best['tp']}" in s.value for s in at.success)
    # a context requirement: the page recommends what the API does with it
    longest = next(n for n in at.number_input if n.label.startswith("Longest request to accept")).set_value(131_072).run()
    assert not longest.exception
    r = planner.recommend(
        "meta-llama/Llama-3.1-70B", 4.0, planner.parse_workload(spec), planner.Sla(ttft_ms=2000, ttft_pct=90, itl_ms=50, itl_pct=90), max_model_len=131_072
    ).to_json()
    best = r["recommendations"][0]
    assert any(f"{best['replicas']} × {best['gpu']} {best['precision']} TP{best['tp']}" in s.value for s in longest.success)
    assert any("131,072-token request" in x["reason"] for x in r["rejected"])


def test_fleet_sizes_for_the_engine_chosen():
    at = app()
    at.switch_page("ui/fleet.py").run()
    widget(at, "radio", "Requests from").set_value("a length distribution").run()
    spec = widget(at, "text_input", "Workload").value
    at = widget(at, "selectbox", "Serving engine").set_value("vllm").run()
    assert not at.exception
    rate = next(n for n in at.number_input if n.label == "Target requests/s").value
    sla = planner.Sla(ttft_ms=2000, ttft_pct=90, itl_ms=50, itl_pct=90)
    r = planner.recommend("meta-llama/Llama-3.1-70B", rate, planner.parse_workload(spec), sla, engine="vllm").to_json()
    best = r["recommendations"][0]
    assert r != planner.recommend("meta-llama/Llama-3.1-70B", rate, planner.parse_workload(spec), sla).to_json()
    assert any(f"{best['replicas']} × {best['gpu']} {best['precision']} {best['parallelism']} on vllm" in s.value for s in at.success)


def test_fleet_bad_distribution_is_a_message():
    at = app()
    at.switch_page("ui/fleet.py").run()
    widget(at, "radio", "Requests from").set_value("a length distribution").run()
    widget(at, "text_input", "Workload").set_value("isl=banana").run()
    assert not at.exception and any("isl" in e.value for e in at.sidebar.error)


def test_calibration_lists_every_profile_and_refuses_a_bad_upload():
    at = app()
    at.switch_page("ui/calibration.py").run()
    table = at.dataframe[0].value
    assert len(table) == len(profiles())
    # a profile fitted on a physical bound says so, in the table and when looked at
    row = table[table.profile == "H200-SXM--trtllm--fp8--v1.0"].iloc[0]
    assert row["at a physical bound"] == "eta_memory"
    # the in-sample p90 at each TP degree, which an answer at that degree states
    gh200 = next(p for p in profiles() if p.name == "DGX-GH200--trtllm--fp8--v0.13")
    assert table[table.profile == gh200.name].iloc[0]["p90 by TP"] == gh200.p90_by_parallelism_text
    assert gh200.p90_by_parallelism_text == "TP2 495 %, TP4 20 %"
    look = next(w for w in at.selectbox if w.label == "Look at one profile")
    look.set_value("H200-SXM--trtllm--fp8--v1.0").run()
    assert any(w.value.startswith("Fitted on a physical bound: eta_memory = 1.") for w in at.warning)
    next(w for w in at.selectbox if w.label == "Look at one profile").set_value("L40S--trtllm--fp8--v0.13").run()
    assert not any(w.value.startswith("Fitted on a physical bound") for w in at.warning)
    at.file_uploader[0].upload("report.json", b'{"performance": ', "application/json").run()
    assert not at.exception and any(e.value.startswith("report.json: malformed JSON") for e in at.error)


def test_calibration_fits_an_uploaded_csv_and_says_when_a_parameter_is_on_its_bound():
    rows = pd.read_csv(ROOT.parent / "shared" / "data" / "measured" / "trtllm_v1.0_offline.csv")
    rows = rows[(rows.gpu == "H200-SXM") & (rows.model == "meta-llama/Llama-3.1-8B") & (rows.tp == 1)]
    at = app()
    at.switch_page("ui/calibration.py").run()
    at.file_uploader[0].upload("h200.csv", rows.to_csv(index=False).encode(), "text/csv").run()
    assert not at.exception and not at.error
    assert any(m.value.startswith("H200-SXM--trtllm--fp8--v1.0: 10 points") for m in at.success)
    assert any("H200-SXM--trtllm--fp8--v1.0: fitted on a physical bound (eta_memory = 1)" in w.value for w in at.warning)


def test_fleet_malformed_log_upload_is_a_message_and_the_session_goes_on():
    at = app()
    at.switch_page("ui/fleet.py").run()
    widget(at, "radio", "Requests from").set_value("upload a request log").run()
    at.sidebar.file_uploader[0].upload("log.csv", b"timestamp,foo\n1,2\n", "text/csv").run()
    assert not at.exception and any("log.csv" in e.value for e in at.sidebar.error)
    widget(at, "radio", "Requests from").set_value("a length distribution").run()
    assert not at.exception and any(s.value.startswith("Recommended") for s in at.success)


@pytest.mark.parametrize("page", ["ui/plan.py", "ui/fleet.py"])
def test_the_report_built_on_a_page_is_the_cli_report(page):
    at = app()
    if page != "ui/plan.py":
        at.switch_page(page).run()
    next(b for b in at.button if b.label == "Build the sizing report").click().run()
    assert not at.exception
    key = "report-plan" if page == "ui/plan.py" else "report-fleet"
    inputs, report = json.loads(at.session_state[key][0]), at.session_state[key][1]
    from planner.report import build_report

    assert report["estimate"] == build_report(inputs)["estimate"]
