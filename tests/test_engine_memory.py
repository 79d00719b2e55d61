"""Engine memory: each engine's KV budget from its own accounting, against hand-computed facts
and the logged start-ups of `../shared/data/engine_memory/`."""

import importlib.util
import sys

import pytest

from planner import estimate
from planner.catalog import get_model
from planner.specs import GIB
from tests.conftest import ROOT

LOGS = ROOT.parent / "shared" / "data" / "engine_memory" / "engine_memory_logs.csv"


def test_vllm_reserves_its_sampler_profile_and_uses_total_memory():
    # vLLM V1 on an H100 (>= 70 GiB, not an A100): max_num_seqs 1024 -> the sampler's profile run
    # holds 1024 x vocabulary x 38.5 B, larger than the 8192-token forward pass of an 8B model
    m = get_model("meta-llama/Llama-3.1-8B-Instruct")
    e = estimate(m, "H100", "bf16", kv_precision="bf16", engine="vllm", isl=1024, osl=1024, profile="none")
    sampler = 1024 * m.vocab_size * 38.5 / GIB
    assert e.activations_gib_per_gpu == pytest.approx(sampler, rel=1e-9)
    expected = 0.9 * e.memory_gib_per_gpu - e.weights_gib_per_gpu - sampler - 0.13
    assert e.kv_cache_gib_per_gpu == pytest.approx(expected, rel=1e-9)
    # an A100 gets the small defaults (256 sequences, 2048 tokens): a quarter of the sampler
    a100 = estimate(m, "A100-SXM-80GB", "bf16", kv_precision="bf16", engine="vllm", isl=1024, osl=1024, profile="none")
    assert a100.max_batch_size == 256 and a100.max_num_tokens == 2048
    assert a100.activations_gib_per_gpu == pytest.approx(sampler / 4, rel=1e-9)


def test_sglang_static_fraction_holds_weights_and_kv_only():
    m = get_model("Qwen/Qwen3-32B")
    e = estimate(m, "H100", "bf16", kv_precision="bf16", engine="sglang", tp=2, free_gpu_memory_fraction=0.88, isl=1024, osl=1024, profile="none")
    assert e.kv_cache_gib_per_gpu == pytest.approx(0.88 * e.memory_gib_per_gpu - e.weights_gib_per_gpu - e.overhead_gib_per_gpu, rel=1e-9)


def test_a_replica_over_gpus_keeps_communication_buffers_whatever_splits_it():
    # TP, PP and attention DP alike: a DEP8 replica dispatches and combines its MoE layers over 8 GPUs
    one = estimate("deepseek-ai/DeepSeek-V3", "H200", "fp8", tp=8, profile="none")
    dep = estimate("deepseek-ai/DeepSeek-V3", "H200", "fp8", tp=1, attention_dp=8, ep=8, profile="none")
    assert one.overhead_gib_per_gpu == dep.overhead_gib_per_gpu == pytest.approx(1.5)
    solo = estimate("meta-llama/Llama-3.1-8B", "H200", "fp8", profile="none")
    assert solo.overhead_gib_per_gpu == pytest.approx(1.0)


def test_logged_start_ups_are_matched():
    spec = importlib.util.spec_from_file_location("engine_memory_bench", ROOT / "bench" / "engine_memory.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    cases = [c for c in bench.read_cases(LOGS) if c.kwargs is not None]
    results = {c.case_id: bench.predict_case(c) for c in cases}
    assert len(results) >= 20
    within = [k for k, r in results.items() if r["ok"]]
    # the misses: vLLM main of December 2023 (Llama-2-70B TP4, +50%, not explained by the code
    # read), gpt-oss-120b on H100 (-9%: 64.4 GiB of weights logged against 60.7 modelled) and
    # DeepSeek-V3.2-Exp before sglang PR 11309 (below)
    assert len(within) >= 17, {k: round(r["error_pct"], 1) for k, r in results.items() if not r["ok"]}
    # TensorRT-LLM 0.19's C++ runtime on an RTX 5090: 2,048 sequence slots of decoder buffers (was
    # +19 % without them); the 0.20 start-up on the PyTorch backend has none
    rtx = results["trtllm-i4275-llama31-8b-fp8-rtx5090"]
    assert rtx["ok"] and rtx["pred_tokens"] == pytest.approx(263_008, rel=0.05)
    assert results["trtllm-i6294-llama31-8b-fp8-h100"]["ok"]
    assert results["vllm-llmd-llama33-70b-fp8-h100-tp1-FAILED"]["fits"] is False
    # vLLM V0 (0.6.4) profiles a step of max_model_len tokens (up to 32K): Llama-3.1-8B on an RTX
    # 3090 logged 31,232 tokens at max_model_len 20,000 and 23,648 at 29,000, and refused to start
    # at 29,000 (its KV cache holds fewer tokens than one sequence); V1's profile would give both 40,608
    for case, logged, started in (("mml20k", 31_232, True), ("mml29k", 23_648, False)):
        r = results[f"vllm-i10517-llama31-8b-rtx3090-{case}"]
        assert r["version"] == "0.6.4" and r["fits"] is started
        assert r["pred_tokens"] == pytest.approx(logged, rel=0.05)
    # vLLM 0.7 refused DeepSeek-R1-Distill-Qwen-14B's 131,072-token max_model_len on 2 x RTX 4090;
    # its 81,536 tokens are the driver worker's, the one that also profiles the sampler
    r1 = results["vllm-i13061-r1-distill-qwen14b-rtx4090-tp2"]
    assert r1["fits"] is False and r1["ok"]
    # the sixth: DeepSeek-V3.2-Exp on 8 x B200, SGLang DP attention 8 (sglang PR 11309, before its
    # fix). SGLang sized the pool at 54.52 GiB but counted 656 B per token and layer, leaving out the
    # indexer's 132 B, so it logged 1,462,784 tokens and allocated 65.49 GiB. The planner's budget
    # is within 5 % of SGLang's 54.52 GiB; with the indexer counted, its tokens are 18 % fewer.
    dsv32 = results["sglang-pr11309-dsv32-exp-b200-tp8dp8-main"]
    assert dsv32["pred_gib"] == pytest.approx(54.52, rel=0.05)
    assert dsv32["pred_tokens"] == pytest.approx(1_462_784 * 656 / (656 + 132), rel=0.05)
    # after the fix SGLang sets the fraction itself (sglang_server_defaults: 0.751 on a B200 with
    # DP attention 8) and counts the indexer: 975,424 tokens logged
    fixed = results["sglang-pr11309-dsv32-exp-b200-tp8dp8-fixed"]
    assert fixed["ok"] and fixed["pred_tokens"] == pytest.approx(975_424, rel=0.05)


def test_sglang_dp_attention_replicates_only_attention():
    # SGLang's DP attention is "DP for attention, TP for FFN": each rank holds all attention weights,
    # while dense MLPs, shared experts, embeddings and LM head split over every GPU; TensorRT-LLM
    # and vLLM replicate those per rank too
    from planner.memory import weight_bytes_per_gpu

    m = get_model("deepseek-ai/DeepSeek-V3")
    sg, trt = (float(weight_bytes_per_gpu(m, 1.0, 1, 1, 8, ffn)) for ffn in (True, False))
    ffn = m.num_dense_layers * m.params_dense_mlp_per_layer + m.num_moe_layers * m.params_shared_per_moe_layer  # at 1 byte
    vocab = (m.params_embedding + m.params_lm_head) * 2.0
    assert trt - sg == pytest.approx((ffn + vocab) * (1 - 1 / 8), rel=1e-9)


@pytest.mark.parametrize(
    "gpu_gib,tp,adp,chunk,graph,fraction",
    [
        # H100 at TP 8: 512 + 8192 x 1.5 + 512 x 2 + 8 / 8 x 1024 = 14,848 MiB held back
        (79.1, 8, 1, 8192, 512, round(1 - 14848 / (79.1 * 1024), 3)),
        # H100 at TP 1: 512 + 12,288 + 512 + 128 = 13,440 MiB
        (79.1, 1, 1, 8192, 256, round(1 - 13440 / (79.1 * 1024), 3)),
        # B200, --tp 8 --dp 8 --enable-dp-attention: + 512 x 8 x (3 + 1.5) = 45,568 MiB; chunk 16384 / 8 per rank
        (179.0, 1, 8, 2048, 512, round(1 - 45568 / (179.0 * 1024), 3)),
        # L40S (under 60 GiB): chunk 4096, graph 32 at TP < 4: 512 + 6144 + 64 + 128 = 6,848 MiB (no 10 GiB floor)
        (44.7, 1, 1, 4096, 32, round(1 - 6848 / (44.7 * 1024), 3)),
        # an RTX 4090 pair: chunk 2048, graph 24: 512 + 3072 + 48 + 256 = 3,888 MiB
        (23.6, 2, 1, 2048, 24, round(1 - 3888 / (23.6 * 1024), 3)),
    ],
)
def test_sglang_sets_its_own_memory_fraction_from_the_gpu(gpu_gib, tp, adp, chunk, graph, fraction):
    # SGLang (server_args._handle_gpu_memory_settings, 0.5.3 on) picks the prefill chunk and CUDA-graph
    # batch from the GPU's memory, then holds back their activations, graphs and a parallelism term
    from planner.engine_limits import sglang_server_defaults

    got = [float(x) for x in sglang_server_defaults(gpu_gib, tp, 1, adp)]
    assert got == [chunk, graph, pytest.approx(fraction, abs=1e-9)]


def test_sglang_default_fraction_is_the_estimates_and_says_so_when_weights_do_not_fit():
    m = get_model("meta-llama/Llama-3.1-8B")
    e = estimate(m, "H100", "bf16", kv_precision="bf16", engine="sglang", isl=1024, osl=1024, profile="none")
    assert e.memory_fraction == round(1 - 13440 / (79.1 * 1024), 3)
    assert e.kv_cache_gib_per_gpu == pytest.approx(e.memory_fraction * e.memory_gib_per_gpu - e.weights_gib_per_gpu - e.overhead_gib_per_gpu, rel=1e-9)
    # SGLang's request pool: clip(KV tokens / context x 512, 2048, 4096), at most half the tokens
    assert e.max_batch_size == min(max(int(e.kv_capacity_tokens / m.max_position_embeddings * 512), 2048), 4096)
    # DeepSeek-V3 FP8 on 4 x B200: 157 GiB of weights per GPU exceed SGLang's 0.855 x 179 GiB
    d = estimate("deepseek-ai/DeepSeek-V3", "B200", tp=4, engine="sglang", isl=1024, osl=1024, profile="none")
    assert not d.fits and "mem_fraction_static 0.855" in d.fit_reason and "--mem-fraction-static" in d.fit_reason
    assert estimate("deepseek-ai/DeepSeek-V3", "B200", tp=4, engine="sglang", free_gpu_memory_fraction=0.93, isl=1024, osl=1024, profile="none").fits


def test_sglang_memory_defaults_follow_the_release():
    # SGLang 0.4.8-0.5.2 held back a fixed 12 GiB + 0.5 GiB per GPU on a 141 GB GPU (PR 7054); 0.5.3
    # on, the activation / graph / parallelism estimate (PR 10975); a development build is the current
    # release; before 0.4.8 the rule is not modelled and the answer says so
    from planner.errors import PlannerError

    def fraction(version):
        kw = dict(tp=8, engine="sglang", isl=1024, osl=1024, profile="none")
        return estimate("meta-llama/Llama-3.1-70B", "H200", "fp8", engine_version=version, **kw).memory_fraction

    assert fraction("0.5.1.post1") == round(1 - (12 + 8 / 2) / 139.8, 3)
    assert fraction("0.5.9") == fraction(None) == fraction("nightly-dev") == round(1 - (512 + 8192 * 1.5 + 512 * 2 + 1024) / (139.8 * 1024), 3)
    with pytest.raises(PlannerError, match="SGLang 0.4.6 .* models 0.4.8 on"):
        fraction("0.4.6")


def test_vllm_v0_defaults_follow_its_scheduler_config():
    # vLLM 0.6.4-0.7.3 (`EngineArgs`, `SchedulerConfig`): 256 sequences; a step holds a whole prompt,
    # max(max_model_len, 2048) tokens, unless max_model_len is over 32K (chunked prefill by default:
    # 512-token steps before 0.6.5, 2048 from it) or the model has a sliding window
    from planner.engine_limits import vllm_v0_limits
    from planner.specs import EngineSettings

    for mml, version, window, tokens in (
        (20_000, "0.6.4", False, 20_000),
        (1_000, "0.6.4", False, 2_048),
        (32_768, "0.6.4", False, 32_768),
        (40_000, "0.6.4", False, 512),
        (40_000, "0.7.3", False, 2_048),
        (40_000, "0.7.3", True, 40_000),
    ):
        seqs, step = vllm_v0_limits(mml, version, window)
        assert (float(seqs), float(step)) == (256.0, tokens), (mml, version, window)
    assert EngineSettings(engine="vllm", version="0.7.3").vllm_v0
    assert not EngineSettings(engine="vllm", version="0.8.0").vllm_v0  # V1 by default from 0.8
    assert not EngineSettings(engine="vllm").vllm_v0 and not EngineSettings(engine="trtllm", version="0.6").vllm_v0


def test_vllm_v0_profiles_a_step_of_max_model_len_tokens():
    # Llama-3.1-8B on an RTX 3090, vLLM 0.6.4 at max_model_len 20,000: the profile's forward pass
    # runs 20,000 tokens, (8 x 4096 + 2 x 14336) x 2 bytes each, larger than the sampler's 256 rows
    m = get_model("meta-llama/Llama-3.1-8B-Instruct")
    kw = dict(engine="vllm", free_gpu_memory_fraction=0.9, profile="none")
    v0 = estimate(m, "RTX-3090", engine_version="0.6.4", max_model_len=20_000, **kw)
    assert (v0.max_batch_size, v0.max_num_tokens) == (256, 20_000)
    assert v0.activations_gib_per_gpu == pytest.approx(20_000 * (8 * 4096 + 2 * 14336) * 2 / GIB, rel=1e-9)
    v1 = estimate(m, "RTX-3090", max_model_len=20_000, **kw)  # V1 profiles its 2048-token step, whatever max_model_len
    assert v1.max_num_tokens == 2048 and v1.kv_capacity_tokens > 1.25 * v0.kv_capacity_tokens


def test_vllm_refuses_a_max_model_len_its_cache_cannot_hold():
    m = get_model("meta-llama/Llama-3.1-8B-Instruct")
    kw = dict(engine="vllm", profile="none")
    e = estimate(m, "RTX-3090", **kw)
    # the default max_model_len is the context window (131,072 tokens, 16 GiB of KV): vLLM would
    # refuse; the plan says so and assumes --max-model-len is set to what fits
    assert e.fits and e.max_model_len is None
    assert any("would refuse to start" in w and f"--max-model-len {e.kv_capacity_tokens:,}" in w for w in e.warnings)
    # a full-attention model holds exactly its KV capacity in one sequence
    assert estimate(m, "RTX-3090", max_model_len=e.kv_capacity_tokens, **kw).fits
    over = estimate(m, "RTX-3090", max_model_len=e.kv_capacity_tokens + 1, **kw)
    assert not over.fits and over.ttft_ms is None and over.output_tok_s is None
    assert over.fit_reason.startswith("vLLM refuses to start") and f"--max-model-len {e.kv_capacity_tokens:,}" in over.fit_reason
    # TensorRT-LLM and SGLang start (they shorten the attention window or cap requests instead), and say so
    for engine, what in (("sglang", "SGLang caps the request length"), ("trtllm", "TensorRT-LLM reduces max_seq_len")):
        capped = estimate(m, "RTX-3090", max_model_len=131_072, engine=engine, profile="none")
        said = [w for w in capped.warnings if w.startswith(what)]
        assert capped.fits and said == [
            f"{what} from 131,072 (max_model_len) to {capped.longest_sequence_tokens:,} tokens, the longest sequence its KV cache holds: "
            "longer requests are refused"
        ]
        assert capped.longest_sequence_tokens == capped.kv_capacity_tokens < 131_072
        held = estimate(m, "RTX-3090", max_model_len=capped.kv_capacity_tokens, engine=engine, profile="none")
        assert not any(w.startswith(what) for w in held.warnings)


def test_vllm_longest_sequence_counts_sliding_window_layers_once():
    # gpt-oss-20b: half its layers keep a 128-token window, so one sequence may be longer than the
    # cache's token count (which charges every layer per token)
    from planner.estimate import longest_sequence, resolve_deployment

    m = get_model("openai/gpt-oss-20b")
    kw = dict(engine="vllm", free_gpu_memory_fraction=0.35, profile="none")
    d = resolve_deployment(m, "L40S", **kw)
    longest = longest_sequence(d.setup, d.plan)
    warned = estimate(m, "L40S", **kw)
    assert any(f"--max-model-len {longest:,}" in w for w in warned.warnings)
    assert longest > 1.5 * warned.kv_capacity_tokens and longest % 16 == 0
    assert estimate(m, "L40S", max_model_len=longest, **kw).fits
    assert not estimate(m, "L40S", max_model_len=longest + 16, **kw).fits


def test_max_model_len_is_checked_against_the_model_and_the_requests():
    from planner import PlannerError

    with pytest.raises(PlannerError, match=r"max_model_len 131,073: must be a whole number of tokens from 2,048 \(the requests' ISL \+ OSL\) to 131,072"):
        estimate("meta-llama/Llama-3.1-8B-Instruct", "H100", engine="vllm", max_model_len=131_073)
    with pytest.raises(PlannerError, match=r"max_model_len 1,000: must be a whole number of tokens from 2,048"):
        estimate("meta-llama/Llama-3.1-8B-Instruct", "H100", engine="vllm", max_model_len=1000)
    with pytest.raises(PlannerError, match="max_model_len"):
        estimate("meta-llama/Llama-3.1-8B-Instruct", "H100", engine="vllm", max_model_len=0)


def test_trtllm_cpp_runtime_decoder_by_hand():
    # Llama-3.1-8B (vocabulary 128,256), 2,048 sequence slots, max_seq_len 2,048: per slot 12 bytes
    # per vocabulary entry (FP32 runtime logits, top-K log-probs and embedding bias), 16 per token of
    # max_seq_len (ids, parent ids, log-probs, tiled log-probs) and 64 KiB of top-K candidates
    per_slot = 12 * 128_256 + 16 * 2_048 + 8 * 1024 * 8
    kw = dict(isl=1024, osl=1024, max_batch_size=2048, max_num_tokens=1024, max_model_len=2048, profile="none")
    cpp = estimate("llama-3.1-8b", "RTX-5090", "fp8", engine_version="0.19", **kw)
    assert cpp.trtllm_backend == "cpp" and cpp.decoder_gib_per_gpu == pytest.approx(2048 * per_slot / GIB, rel=1e-9)
    torch = estimate("llama-3.1-8b", "RTX-5090", "fp8", engine_version="0.19", trtllm_backend="pytorch", **kw)
    assert torch.decoder_gib_per_gpu == 0 and torch.activations_gib_per_gpu == pytest.approx(cpp.activations_gib_per_gpu - cpp.decoder_gib_per_gpu)
    # TensorRT-LLM's free_gpu_memory_fraction takes 0.9 of what is free after it
    assert torch.kv_cache_gib_per_gpu - cpp.kv_cache_gib_per_gpu == pytest.approx(0.9 * cpp.decoder_gib_per_gpu, rel=1e-6)
    assert estimate("llama-3.1-8b", "RTX-5090", "fp8", **kw).trtllm_backend == "pytorch"  # the current release: PyTorch backend
    assert estimate("llama-3.1-8b", "RTX-5090", "fp8", engine="vllm", isl=1024, osl=1024, profile="none").trtllm_backend is None
    # the one log that prints the decoder's allocation, Qwen2.5-Coder-0.5B on an A4000 (not in the
    # catalog; Qwen3-0.6B has its 151,936-entry vocabulary): 5.76 GiB logged, 4.6 GiB from these
    # terms at trtllm-build's default 2,048 sequences and the model's 32,768-token max_seq_len
    from planner.memory import trtllm_cpp_decoder_bytes

    qwen = get_model("Qwen/Qwen3-0.6B")
    assert qwen.vocab_size == 151_936
    assert trtllm_cpp_decoder_bytes(qwen, 2048, 32_768) / GIB == pytest.approx(4.60, abs=0.005)
