"""Sizing reports: every format for a dense model, a MoE model and a workload-driven fleet; the
figures equal the API's; JSON round-trips; user strings are escaped; the engine YAML holds only
documented keys; the PDF (where Chromium is installed) holds the recommendation in its text."""

import json
import subprocess
import sys

import pytest
import yaml

import planner
from planner.deploy import check_llm_options, documented_keys
from planner.errors import PlannerError
from planner.profiling.torch_probe import REFERENCE_PROBE
from planner.report import FORMATS, build_report, chromium, read_report, render, write_report
from tests.conftest import ROOT

DENSE = dict(model="llama-3.1-70b", gpu="H100", precision="fp8", tp=4, isl=1024, osl=256, concurrency=32)
MOE = dict(model="Qwen/Qwen3-30B-A3B", gpu="H200", precision="fp8", tp=2, ep=2, isl=2048, osl=512, request_rate=2.0)
FLEET = dict(
    model="llama-3.1-8b", workload="isl=lognormal:median=800,sigma=0.8;osl=256", rate=4.0, ttft_ms=1500.0, itl_ms=40.0, gpus=["H100", "L40S", "A100-SXM-80GB"]
)


@pytest.fixture(scope="module")
def reports():
    return {"dense": build_report(DENSE), "moe": build_report(MOE), "fleet": build_report(FLEET)}


@pytest.mark.parametrize("kind", ["dense", "moe", "fleet"])
@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pdf"])
def test_every_format_renders(reports, tmp_path, kind, fmt):
    path = write_report(reports[kind], fmt, tmp_path / f"r.{fmt}")
    text = path.read_text()
    assert len(text) > 500
    if fmt in ("md", "html"):
        assert "trtllm-serve" in text and "vllm serve" in text and "sglang.launch_server" in text and "trtllm-bench" in text
        assert "Reproduce" in text and "planner 0.1.0" in text
    if fmt == "html":
        assert "<script" in text and "<script src" not in text and "<link" not in text  # plotly.js inline, nothing fetched
    if fmt == "csv":
        assert text.splitlines()[0].startswith(("gpu,", "model,"))
    if fmt == "md" and kind != "fleet":  # the TTFT carries its own band: closed-loop users (dense), open-loop arrivals (moe)
        assert ("(±170 %)" if kind == "dense" else "(±30 %)") in text


def test_the_figures_are_the_apis(reports):
    e = planner.estimate(**{k: v if k != "model" else "meta-llama/Llama-3.1-70B" for k, v in DENSE.items()})
    assert reports["dense"]["estimate"] == json.loads(e.model_dump_json())
    moe = planner.estimate(**MOE)
    assert reports["moe"]["estimate"]["itl_p50_ms"] == moe.itl_p50_ms and reports["moe"]["estimate"]["ep"] == 2
    r = planner.recommend("llama-3.1-8b", 4.0, planner.parse_workload(FLEET["workload"]), planner.Sla(ttft_ms=1500, itl_ms=40), gpus=FLEET["gpus"])
    assert reports["fleet"]["recommendation"] == json.loads(json.dumps(r.to_json()))
    best = r.recommendations[0]
    assert reports["fleet"]["replicas"] == best["replicas"] and reports["fleet"]["estimate"]["gpu"] == best["gpu"]
    assert "patterns" in reports["fleet"]["workload"] and reports["fleet"]["kind"] == "recommend"


def test_json_round_trip_is_identical(reports, tmp_path):
    first = write_report(reports["fleet"], "json", tmp_path / "a.json")
    r = subprocess.run([sys.executable, "-m", "planner", "report", "--from", str(first), "--format", "json", "--out", str(tmp_path / "b.json")], cwd=ROOT)
    assert r.returncode == 0 and (tmp_path / "b.json").read_bytes() == first.read_bytes()
    again = read_report(first)
    for fmt in ("md", "html", "csv"):
        assert render(again, fmt) == render(reports["fleet"], fmt)


def test_user_strings_are_escaped(tmp_path):
    cfg = json.loads((ROOT / "model_configs" / "meta-llama--Llama-3.1-8B.json").read_text())
    cfg["_name_or_path"] = "<script>alert(1)</script>"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    report = build_report(dict(DENSE, model=str(tmp_path / "config.json"), tp=1))
    assert report["estimate"]["model"] == "<script>alert(1)</script>"
    page, md = render(report, "html"), render(report, "md")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    body = md.split("~~~~~~~~")  # outside code fences Markdown is escaped; inside them text is inert
    assert all("<script>" not in part for part in body[::2]) and "&lt;script&gt;" in md


def test_the_engine_yaml_holds_only_documented_keys(reports):
    for r in reports.values():
        options = yaml.safe_load(r["deploy"]["trtllm"]["llm_options_yaml"])
        check_llm_options(options, r["deploy"]["trtllm"]["version"])
        assert options["kv_cache_config"]["dtype"] in ("fp8", "auto")
    assert documented_keys()["1.0"]["source"]
    with pytest.raises(PlannerError, match="not documented for TensorRT-LLM 1.0: speculative_config.max_draft_len"):
        check_llm_options({"speculative_config": {"max_draft_len": 3}})


def test_the_commands_match_the_deployment(reports):
    d, e = reports["moe"]["deploy"], reports["moe"]["estimate"]
    assert "--tp_size 2" in d["trtllm"]["command"] and "--ep_size 2" in d["trtllm"]["command"]
    assert f"--max_batch_size {e['max_batch_size']}" in d["trtllm"]["command"] and "--enable-expert-parallel" in d["vllm"]["command"]
    assert d["checkpoint"] == "Qwen/Qwen3-30B-A3B" and "no known fp8 checkpoint" in d["checkpoint_note"]
    assert reports["fleet"]["deploy"]["checkpoint"].startswith("nvidia/Llama-3.1-8B-Instruct-FP8") or reports["fleet"]["estimate"]["precision"] != "fp8"


def test_the_sglang_command_loads_what_the_plan_assumed():
    # an SGLang plan with attention DP: SGLang's --chunked-prefill-size and --max-running-requests are
    # totals it divides by the DP ranks, and its default memory fraction is the plan's
    from planner.deploy import deployment_settings

    e = planner.estimate("Qwen/Qwen3-30B-A3B", "B200", "fp8", tp=1, attention_dp=4, ep=4, engine="sglang", isl=1024, osl=256, profile="none")
    cmd = deployment_settings(e)["sglang"]["command"]
    assert e.max_num_tokens == 16384 // 4 and f"--chunked-prefill-size {16384}" in cmd
    assert f"--max-running-requests {e.max_batch_size * 4}" in cmd and f"--mem-fraction-static {e.memory_fraction:g}" in cmd
    assert "--dp-size 4 --enable-dp-attention" in cmd and "--tp-size 4" in cmd


def test_the_vllm_command_sets_a_max_model_len_it_can_start_with():
    # Llama-3.1-8B on an RTX 3090: vLLM's default max_model_len, the 131,072-token context window,
    # does not fit the KV cache and vLLM would refuse to start; the command passes the longest that fits
    from planner.deploy import deployment_settings

    e = planner.estimate("meta-llama/Llama-3.1-8B-Instruct", "RTX-3090", engine="vllm", profile="none")
    assert 0 < e.longest_sequence_tokens < 131_072 and e.longest_sequence_tokens == e.kv_capacity_tokens  # no sliding window
    d = deployment_settings(e)
    assert f"--max-model-len {e.longest_sequence_tokens} " in d["vllm"]["command"]
    assert "--max_seq_len" not in d["trtllm"]["command"] and "--context-length" not in d["sglang"]["command"]
    # on an H100 the context window fits: vLLM's default stands
    assert "--max-model-len" not in deployment_settings(planner.estimate("meta-llama/Llama-3.1-8B-Instruct", "H100", engine="vllm"))["vllm"]["command"]
    # a max_model_len the user set goes to every engine
    given = deployment_settings(planner.estimate("meta-llama/Llama-3.1-8B-Instruct", "H100", engine="vllm", max_model_len=16_384))
    assert "--max-model-len 16384" in given["vllm"]["command"] and "--max_seq_len 16384" in given["trtllm"]["command"]
    assert "--context-length 16384" in given["sglang"]["command"]


@pytest.mark.skipif(chromium() is None, reason="PDF needs Chromium (CI installs it)")
def test_the_pdf_holds_the_recommendation(reports, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    path = write_report(reports["fleet"], "pdf", tmp_path / "r.pdf")
    pdf = pypdf.PdfReader(str(path))
    text = " ".join(p.extract_text() for p in pdf.pages)
    best = reports["fleet"]["recommendation"]["recommendations"][0]
    assert 2 <= len(pdf.pages) <= 20
    assert "Recommendation" in text and best["gpu"] in text and "trtllm-serve" in text


def test_bad_report_inputs_are_one_line_and_write_nothing(tmp_path):
    out = tmp_path / "r.html"
    for argv, says in (
        (["--model", "llama-3.1-8b"], "report needs --model and either --gpu"),
        (["--model", "llama-3.1-8b", "--rate", "2"], "at least one latency target"),
        (["--from", str(tmp_path / "none.json")], "no such report"),
        (["--model", "llama-3.1-8b", "--rate", "2", "--ttft-ms", "900", "--hardware", str(REFERENCE_PROBE)], "a hardware profile describes one GPU"),
        (["--model", "llama-3.1-8b", "--gpu", "H100", "--hardware", str(REFERENCE_PROBE)], "measured on H200-SXM, not H100-SXM"),
    ):
        r = subprocess.run([sys.executable, "-m", "planner", "report", *argv, "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1 and not out.exists()
    (tmp_path / "x.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(PlannerError, match="not a planner report of schema version 1"):
        read_report(tmp_path / "x.json")


def _validate(docs):
    kv = pytest.importorskip("kubernetes_validate")
    from planner.k8s import pod_templates

    for d in docs:
        if d["kind"] in ("ConfigMap", "Deployment", "Service"):
            kv.validate(d, "1.30.0", strict=True)  # the schema ships with the package: offline
    for t in pod_templates(docs):
        kv.validate(t, "1.30.0", strict=True)


def test_the_fleet_manifests_validate_against_the_kubernetes_schema(reports):
    docs = list(yaml.safe_load_all(reports["fleet"]["kubernetes"]["yaml"]))
    _validate(docs)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    e = reports["fleet"]["estimate"]
    assert deployment["spec"]["replicas"] == reports["fleet"]["replicas"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == e["gpus"] and container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["image"].startswith("nvcr.io/nvidia/tensorrt-llm/release:") and "/config/llm_options.yaml" in container["args"]


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_replica_over_two_nodes_is_a_leaderworkerset(engine):
    from planner.k8s import manifests

    r = build_report(dict(model="llama-3.1-405b", gpu="H100", precision="fp16", tp=8, pp=2, isl=1024, osl=256, concurrency=8, engine=engine))
    docs = manifests(r["estimate"], r["deploy"], replicas=2)
    _validate(docs)
    lws = next(d for d in docs if d["kind"] == "LeaderWorkerSet")
    assert lws["spec"]["replicas"] == 2 and lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    leader = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == 8


def test_multi_node_tensorrt_llm_says_what_it_does_not_set_up():
    r = build_report(dict(model="llama-3.1-405b", gpu="H100", precision="fp16", tp=8, pp=2, isl=1024, osl=256, concurrency=8))
    assert "kubernetes" in r and "multi-node TensorRT-LLM runs under MPI" in r["kubernetes"]["note"]


def test_a_replica_over_the_hosts_of_a_rack_scale_system_says_what_it_does_not_set_up():
    """A GB200 NVL72 compute tray holds four GPUs: a TP8 replica spans two hosts joined by NVLink,
    which pods reach only through a ComputeDomain these manifests do not create; TP4 is one pod
    of four GPUs (it was one unschedulable pod of eight)."""
    base = dict(precision="fp8", isl=1024, osl=256, concurrency=8, engine="vllm")
    eight = build_report(dict(model="llama-3.1-405b", gpu="GB200", tp=8, **base))
    assert "yaml" not in eight["kubernetes"] and eight["kubernetes"]["note"].startswith("a replica of 8 GB200 spans 2 hosts of 4 GPUs")
    assert "ComputeDomain" in eight["kubernetes"]["note"]
    four = build_report(dict(model="llama-3.1-70b", gpu="GB200", tp=4, **base))
    docs = list(yaml.safe_load_all(four["kubernetes"]["yaml"]))
    _validate(docs)
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_prices_and_headroom_reach_the_fleet():
    base = dict(model="llama-3.1-8b", workload="isl=1024;osl=256", rate=4.0, ttft_ms=1500.0, itl_ms=40.0, gpus=["H100"])
    cheap = build_report({**base, "price": ["H100=1.00"], "headroom": 0.5})
    best = cheap["recommendation"]["recommendations"][0]
    assert best["usd_per_gpu_hour"] == 1.0 and cheap["recommendation"]["question"]["headroom"] == 0.5
    r = planner.recommend("llama-3.1-8b", 4.0, planner.parse_workload("isl=1024;osl=256"), planner.Sla(ttft_ms=1500, itl_ms=40), gpus=["H100"], headroom=0.5)
    assert best["replicas"] == r.recommendations[0]["replicas"]
    assert "--price H100=1.00 where they name the GPU" in cheap["assumptions"]["price"]


def test_owned_hardware_prices_the_fleet_and_prices_are_refused_for_one_deployment(tmp_path):
    base = dict(model="llama-3.1-8b", workload="isl=1024;osl=256", rate=4.0, ttft_ms=1500.0, itl_ms=40.0, gpus=["H100"])
    own = dict(server_usd_per_gpu=30000.0, years=4.0, usd_per_kwh=0.1, pue=1.3, utilisation=0.7, hosting_usd_per_gpu_month=0.0)
    owned = build_report({**base, "owned": own})
    best = owned["recommendation"]["recommendations"][0]
    # $30,000 over 4 years plus 700 W x 0.7 x 1.3 at $0.10/kWh, per GPU-hour
    assert best["usd_per_gpu_hour"] == pytest.approx(30000 / (4 * 8760) + 0.7 * 0.7 * 1.3 * 0.1, rel=1e-3)
    assert owned["recommendation"]["price_markets"] == ["owned hardware"] and owned["assumptions"]["price"].startswith("owned: $30,000/GPU over 4 years")
    with pytest.raises(PlannerError, match="--own-pue 0.5: input should be greater than or equal to 1"):
        build_report({**base, "owned": {**own, "pue": 0.5}})
    out = tmp_path / "r.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "planner",
            "report",
            "--model",
            "llama-3.1-8b",
            "--gpu",
            "H100",
            "--own-server-usd-per-gpu",
            "30000",
            "--format",
            "json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2 and "apply to a fleet report" in r.stderr and not out.exists()


def test_a_hardware_profile_reaches_the_deployment_report(tmp_path):
    # a probe 20 % slower than the reference in every rate: the report's figures are the estimate's
    # with that profile, and its assumptions say so
    ref = planner.profiling.torch_probe.load_hardware_profile(REFERENCE_PROBE)
    slow = ref.model_copy(update={"tflops": {k: 0.8 * v for k, v in ref.tflops.items()}, "memory_bandwidth_tb_s": 0.8 * ref.memory_bandwidth_tb_s})
    path = planner.profiling.torch_probe.save_hardware_profile(slow, tmp_path / "slow.json")
    kw = dict(model="llama-3.1-8b", gpu="H200", precision="fp8", profile="none")
    report = build_report({**kw, "hardware": str(path)})
    assert report["estimate"]["output_tok_s"] == pytest.approx(planner.estimate(hardware=path, **kw).output_tok_s)
    assert report["estimate"]["output_tok_s"] < planner.estimate(**kw).output_tok_s
    assert "slow.json" in report["assumptions"]["hardware"]


def test_a_replayed_log_reaches_the_deployment_report():
    # the log's own arrival times: the report's latency is estimate(replay=True)'s, and its question says so
    log = ROOT.parent / "shared" / "data" / "traces" / "azure_llm_2023_conv.csv"
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="fp8", workload=str(log), replay=True)
    report = build_report(kw)
    e = planner.estimate(**kw)
    assert report["estimate"]["ttft_p90_ms"] == pytest.approx(e.ttft_p90_ms) and "trace" in report["estimate"]["latency_method"]
    assert "the log's own arrival times" in report["question"]
    with pytest.raises(PlannerError, match="replay runs one deployment"):
        build_report({**kw, "rate": 3.0, "ttft_ms": 900.0})


def test_log_axis_ticks_are_written_in_full():
    # plotly labels minor log ticks with a bare leading digit ("2" for 20); the charts use 1-2-5
    # steps over the data (within a factor 2 either side), written out
    from planner.report import log_axis_ticks

    ticks = log_axis_ticks([3.6, 7.0, 40.0, 70.0])
    assert ticks["tickvals"] == [2.0, 5.0, 10.0, 20.0, 50.0, 100.0] and ticks["ticktext"] == ["2", "5", "10", "20", "50", "100"]
    assert log_axis_ticks([900.0, 2500.0])["ticktext"] == ["500", "1,000", "2,000", "5,000"]
    assert log_axis_ticks([float("nan"), 0.0]) == {}


def test_memory_bar_shows_a_hybrid_models_states():
    from planner.report import memory_parts

    e = planner.estimate("Qwen/Qwen3.5-397B-A17B", "B200", "fp8", tp=8, engine="sglang", isl=1024, osl=1024, profile="none").model_dump()
    parts = memory_parts(e)
    assert parts["linear-attention states"] == e["state_gib_per_gpu"] > 0
    assert parts["KV cache"] + parts["linear-attention states"] == pytest.approx(e["kv_cache_gib_per_gpu"])
    assert "linear-attention states" not in memory_parts(planner.estimate("llama-3.1-8b", "H100", profile="none").model_dump())
    # the bar adds up to the GPU: what SGLang's fraction holds back (1 - 0.852 of it here) shows as free
    assert sum(parts.values()) == pytest.approx(e["memory_gib_per_gpu"])
    assert parts["free"] >= (1 - e["memory_fraction"]) * e["memory_gib_per_gpu"] - parts["activations"] - 1e-9


def test_the_estimates_warnings_reach_the_report():
    """A report on a model the profile was not fitted on says so, as the estimate and the Plan page do."""
    kw = dict(model="Qwen/Qwen2.5-72B", gpu="H100", precision="fp8", tp=2, concurrency=16)
    report = build_report(kw)
    assert report["estimate"]["source"].startswith("extrapolated:")
    text = render(report, "md")
    assert "not on Qwen/Qwen2.5-72B or a model of the same architecture" in text and "uncalibrated band of the model class (±40 %)" in text
    assert "warnings" not in build_report(DENSE)["assumptions"]


def test_the_out_files_extension_picks_the_format(reports, tmp_path):
    from planner.cli import main

    source = write_report(reports["dense"], "json", tmp_path / "plan.json")
    for name, starts in (
        ("r.md", "# LLM inference sizing report"),
        ("r.markdown", "# LLM"),
        ("r.json", "{"),
        ("r.csv", "model,"),
        ("r.htm", "<!DOCTYPE html>"),
        ("r.txt", "<!DOCTYPE html>"),
    ):
        assert main(["report", "--from", str(source), "--out", str(tmp_path / name)]) == 0
        assert (tmp_path / name).read_text().startswith(starts), name
    assert main(["report", "--from", str(source), "--format", "html", "--out", str(tmp_path / "asked.md")]) == 0  # --format wins
    assert (tmp_path / "asked.md").read_text().startswith("<!DOCTYPE html>")


def test_a_fleet_report_plans_for_the_engine_asked():
    # a fleet report once took --engine and then planned TensorRT-LLM regardless
    inputs = dict(FLEET, engine="vllm", engine_version="0.11", max_batch_size=128)
    rep = build_report(inputs)
    sla = planner.Sla(ttft_ms=1500, itl_ms=40)
    engine = planner.EngineSettings(engine="vllm", version="0.11", max_batch_size=128)
    r = planner.recommend("llama-3.1-8b", 4.0, planner.parse_workload(FLEET["workload"]), sla, gpus=FLEET["gpus"], engine=engine)
    assert rep["recommendation"] == json.loads(json.dumps(r.to_json()))
    assert rep["recommendation"]["question"]["engine"] == "vllm" and rep["recommendation"]["question"]["engine_version"] == "0.11"
    assert all(x["engine"] == "vllm" for x in rep["recommendation"]["recommendations"])
    e = rep["estimate"]
    assert (e["engine"], e["engine_version"], e["max_batch_size"]) == ("vllm", "0.11", 128)
    assert r.recommendations != planner.recommend("llama-3.1-8b", 4.0, planner.parse_workload(FLEET["workload"]), sla, gpus=FLEET["gpus"]).recommendations
    with pytest.raises(PlannerError, match="engine setting free_gpu_memory_fraction"):
        build_report(dict(FLEET, free_gpu_memory_fraction=2.0))


def test_a_report_states_the_tensorrt_llm_runtime():
    base = dict(model="llama-3.1-8b", gpu="RTX-5090", precision="fp8", engine_version="0.19", isl=1024, osl=1024)
    cpp, torch = build_report(base), build_report(dict(base, trtllm_backend="pytorch"))
    assert cpp["estimate"]["trtllm_backend"] == "cpp" and cpp["estimate"]["decoder_gib_per_gpu"] > 0
    assert torch["estimate"]["trtllm_backend"] == "pytorch" and torch["estimate"]["decoder_gib_per_gpu"] == 0
    text = render(cpp, "md")
    assert "trtllm 0.19 (C++ runtime)" in text and f"its decoder takes {cpp['estimate']['decoder_gib_per_gpu']:.2f} GiB per GPU" in text
    assert "trtllm 0.19 (PyTorch backend)" in render(torch, "md")


def test_a_fleet_reports_replica_serves_the_requests_asked():
    # the recommended replica was once estimated at ISL / OSL 1024 / 1024 whatever --isl / --osl said
    rep = build_report(dict(model="llama-3.1-8b", isl=2048, osl=512, rate=4.0, ttft_ms=1500.0, itl_ms=40.0, gpus=["H100"]))
    e, best = rep["estimate"], rep["recommendation"]["recommendations"][0]
    assert (e["isl"], e["osl"]) == (2048, 512) and e["request_rate"] == pytest.approx(best["operating_rate_rps"])
    assert e["itl_p90_ms"] == pytest.approx(best["itl_p90_ms"], rel=0.35), "the replica's simulated ITL is near the search's approximation"


def test_the_planned_engines_launch_command_comes_first():
    text = render(build_report({**DENSE, "engine": "vllm", "tp": 2}), "md")
    heads = [line for line in text.splitlines() if line.startswith("## ") and ("serve" in line or "llm_options" in line)]
    assert heads[0] == "## vLLM: serve" and heads[1].startswith("## TensorRT-LLM") and heads[-1] == "## SGLang: serve"
    text = render(build_report(DENSE), "md")  # TensorRT-LLM's options and command lead its own plan
    assert [line for line in text.splitlines() if line.startswith("## ") and "serve" in line][0] == "## TensorRT-LLM: serve"


def test_a_report_with_no_room_for_a_kv_cache_states_no_batch_anywhere():
    text = render(build_report({**DENSE, "model": "meta-llama/Llama-3.1-70B", "gpu": "L40S", "engine": "sglang", "tp": 1, "precision": "fp16"}), "md")
    assert text.count("max batch none (no room for a KV cache)") == 2 and "max batch 1" not in text
