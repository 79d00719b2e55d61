"""Exact facts: parameter counts, KV bytes per token, weight memory."""

import json

import pytest

from planner import estimate, get_model
from planner.configs import model_from_config
from planner.errors import PlannerError
from planner.memory import kv_bytes_per_token_per_gpu, weight_bytes_per_gpu
from planner.specs import GIB
from tests.conftest import ROOT

KV_FP16 = {
    "meta-llama/Llama-3.1-8B": 131_072,
    "meta-llama/Llama-3.1-70B": 327_680,
    "meta-llama/Llama-2-7b-hf": 524_288,
    "meta-llama/Llama-3.1-405B": 516_096,
    "Qwen/Qwen3-235B-A22B": 192_512,
    "mistralai/Mixtral-8x7B-v0.1": 131_072,
    "deepseek-ai/DeepSeek-V3": 70_272,
    "Qwen/Qwen3.5-397B-A17B": 15 * 2 * (256 + 256) * 2,  # only the 15 full-attention layers of 60 keep KV
    # 25 sliding layers of 8 KV heads x 256, 5 global layers of 2 KV heads x 512 (V cached though it equals K)
    "google/gemma-4-26B-A4B": 25 * 8 * (256 + 256) * 2 + 5 * 2 * (512 + 512) * 2,
    "nvidia/Gemma-4-31B-IT-NVFP4": 50 * 16 * (256 + 256) * 2 + 10 * 4 * (512 + 512) * 2,
}


@pytest.mark.parametrize("model_id, expected", KV_FP16.items())
def test_kv_bytes_per_token(model_id, expected):
    m = get_model(model_id)
    assert m.kv_bytes_per_token(2.0) == expected
    assert m.kv_bytes_per_token(1.0) == expected / 2  # FP8 KV halves it
    e = estimate(model_id, "B200", "fp8", tp=8)
    assert e.kv_bytes_per_token == expected / 2


def test_exact_parameter_counts():
    assert get_model("meta-llama/Llama-3.1-8B").params_total == 8_030_261_248
    assert get_model("mistralai/Mixtral-8x7B-v0.1").params_total == 46_702_792_704


@pytest.mark.parametrize(
    "model_id, total_b, active_b",
    [
        ("deepseek-ai/DeepSeek-V3", 671.0, 37.0),  # without the MTP module
        ("Qwen/Qwen3-235B-A22B", 235.0, 22.0),
        ("openai/gpt-oss-120b", 116.8, 5.1 + 0.58),  # published active excludes the 0.58 B input embedding
        ("openai/gpt-oss-20b", 20.9, 3.6 + 0.58),
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", 400.0, 17.0),
        ("Qwen/Qwen3-30B-A3B", 30.5, 3.3),
        ("Qwen/Qwen3.5-397B-A17B", 397.0, 17.0),  # published total includes the ~0.4 B vision tower
        ("google/gemma-4-26B-A4B", 25.2, 3.8),
        ("nvidia/Gemma-4-31B-IT-NVFP4", 30.7, 30.7),  # dense (enable_moe_block false); published without the ~550 M vision tower
    ],
)
def test_published_totals(model_id, total_b, active_b):
    m = get_model(model_id)
    assert m.params_total / 1e9 == pytest.approx(total_b, rel=0.01)
    assert m.params_active / 1e9 == pytest.approx(active_b, rel=0.03)


def test_qwen3_next_counts():
    m = get_model("Qwen/Qwen3-Next-80B-A3B-Thinking")
    assert m.num_linear_layers == 36 and m.num_kv_layers == 12  # full attention every 4th layer
    assert m.params_total / 1e9 == pytest.approx(80.0, rel=0.01)
    assert 3.0 <= (m.params_active - m.params_embedding - m.params_lm_head) / 1e9 < 3.5  # "A3B", without embeddings


def test_gated_deltanet_state_by_hand():
    m = get_model("Qwen/Qwen3.5-397B-A17B")
    # per linear layer: 64 value heads x 128 x 128 in float32, conv 3 taps x (2 x 16 x 128 + 64 x 128) in 16 bits
    per_layer = 64 * 128 * 128 * 4 + 3 * (2 * 16 * 128 + 64 * 128) * 2
    assert m.linear_state_bytes_per_sequence(1) == 45 * per_layer == 192_061_440
    assert m.linear_state_bytes_per_sequence(8) == 45 * per_layer / 8  # split by value heads
    # a Gated DeltaNet layer: in_proj_qkvz, in_proj_ba, conv1d, A_log + dt_bias, norm, out_proj
    hidden, key_dim, value_dim = 4096, 16 * 128, 64 * 128
    params = hidden * (2 * key_dim + 2 * value_dim) + hidden * 2 * 64 + (2 * key_dim + value_dim) * 4 + 2 * 64 + 128 + value_dim * hidden
    assert m.params_linear_attention_per_layer == params
    # gated full attention: q_proj doubles (query and output gate), k / v of 2 heads, o_proj, q / k norms
    assert m.params_attention_per_layer == hidden * 32 * 256 * 2 + 2 * hidden * 2 * 256 + 32 * 256 * hidden + 2 * 256


def test_gemma4_counts_by_hand():
    # transformers' modeling_gemma4: sliding layers q / k / v / o of 16 x 256 and 8 x 256 with q and k
    # norms of 256; global layers of 16 x 512 and 2 x 512, keys as values (no v_proj); in every
    # layer a dense GeGLU MLP of 2112 beside 128 experts of 704 (top 8), a router (proj, input
    # scale, per-expert scale) and 7 norms of the hidden size; tied embeddings of 262,144 x 2816
    m = get_model("google/gemma-4-26B-A4B")
    h = 2816
    sliding = h * 16 * 256 + 2 * h * 8 * 256 + 16 * 256 * h + 2 * 256
    global_ = h * 16 * 512 + h * 2 * 512 + 16 * 512 * h + 2 * 512
    assert (m.params_attention_per_layer, m.params_global_attention_per_layer) == (sliding, global_)
    assert (m.num_window_layers, m.num_global_layers, m.sliding_window) == (25, 5, 1024)
    mlp, expert, router = 3 * h * 2112, 3 * h * 704, h * 128 + h + 128
    assert (m.params_shared_per_moe_layer, m.params_expert, m.params_router_per_moe_layer) == (mlp, expert, router)
    total = 262_144 * h + 25 * sliding + 5 * global_ + 30 * (mlp + 128 * expert + router) + 30 * 7 * h + h
    assert m.params_total == total == 25_233_141_760
    assert m.params_active == total - 30 * 120 * expert
    # per GPU at TP 4: 2 of the 8 sliding KV heads, and one of the 2 global ones (replicated)
    assert float(kv_bytes_per_token_per_gpu(m, 2.0, 4, 1)) == 25 * 2 * 512 * 2 + 5 * 1 * 1024 * 2
    with pytest.raises(Exception, match="tp 3 does not divide"):
        estimate(m, "H100", tp=3)


def test_gemma4_sliding_layers_hold_their_window_only():
    from planner import serving
    from planner.catalog import get_gpu
    from planner.defaults import default_efficiencies
    from planner.memory import kv_bytes_per_sequence
    from planner.specs import EngineSettings, KvPrecision, Precision

    m = get_model("google/gemma-4-26B-A4B")
    full, window = 5 * 2 * 1024 * 2, 25 * 8 * 512 * 2  # KV bytes per token of the global and the sliding layers
    # 10,000 tokens in 16-token blocks: the global layers hold them all, the sliding ones 1,024 + a block
    assert float(kv_bytes_per_sequence(m, 2.0, 1, 1, 10_000, 16)) == full * 10_000 + window * 1040
    # the step model reads the same: KV bytes and attention FLOPs of a 10,000-token context
    s = serving.prepare(m, [get_gpu("H100")], [Precision.bf16], [KvPrecision.bf16], [1], [1], EngineSettings(engine="vllm"), default_efficiencies("vllm"))
    steps = s.steps.scalar(0)
    assert steps.kv_bytes_per_token * steps._windowed(10_000) == pytest.approx(full * 10_000 + window * 1024)
    flops = steps.attn_flops_per_ctx * steps._windowed(10_000, steps.window_flop_fraction)
    assert flops == pytest.approx(5 * 2 * 16 * 1024 * 10_000 + 25 * 2 * 16 * 512 * 1024)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_how_each_engine_keeps_the_window_layers(engine):
    # gpt-oss-20b: 24 layers of 8 KV heads x 64, every other one windowed at 128 tokens: 12 x 2,048
    # bytes per token in each half. vLLM frees what leaves a window into its one pool: a 10,000-token
    # sequence holds 128 tokens + a block of 16 in the window layers. SGLang runs gpt-oss as hybrid SWA:
    # its window pool holds 0.8 tokens per token of the full pool, so a token costs 1 + 0.8 halves,
    # uncapped. Gemma-2-9B (42 layers of 8 x 256, every other one windowed at 4,096) is not a hybrid
    # SWA model to SGLang: every layer keeps the whole sequence; vLLM windows it as gpt-oss.
    from planner import serving
    from planner.catalog import get_gpu
    from planner.defaults import default_efficiencies
    from planner.specs import EngineSettings, KvPrecision, Precision

    def setup(model):
        return serving.prepare(
            get_model(model), [get_gpu("H100")], [Precision.bf16], [KvPrecision.bf16], [1], [1], EngineSettings(engine=engine), default_efficiencies(engine)
        )

    oss, gemma = setup("openai/gpt-oss-20b"), setup("google/gemma-2-9b")
    half, gemma_half = 12 * 8 * 128 * 2, 21 * 8 * 512 * 2
    assert float(oss.kv_per_token[0]) == 2 * half and float(gemma.kv_per_token[0]) == 2 * gemma_half  # attention reads every layer's
    if engine == "vllm":
        assert float(oss.kv_charged[0]) == 2 * half
        assert float(oss.seq_bytes(10_000)[0]) == half * 10_000 + half * 144
        assert float(gemma.seq_bytes(10_000)[0]) == gemma_half * 10_000 + gemma_half * 4112
    else:
        assert float(oss.kv_charged[0]) == pytest.approx(1.8 * half)
        assert float(oss.seq_bytes(10_000)[0]) == pytest.approx(1.8 * half * 10_000)
        assert float(gemma.kv_charged[0]) == 2 * gemma_half
        assert float(gemma.seq_bytes(10_000)[0]) == 2 * gemma_half * 10_000


def test_gemma4_small_models_are_refused_by_name():
    cfg = json.loads((ROOT / "model_configs" / "google--gemma-4-26B-A4B.json").read_text())
    cfg["text_config"]["hidden_size_per_layer_input"] = 256  # Gemma 4 E2B / E4B: per-layer input embeddings
    with pytest.raises(PlannerError, match="hidden_size_per_layer_input = 256"):
        model_from_config(cfg, "gemma-4-e2b-like")


def test_llama_8b_fp16_weights():
    m = get_model("meta-llama/Llama-3.1-8B")
    assert float(weight_bytes_per_gpu(m, 2.0, 1, 1)) / GIB == pytest.approx(14.96, abs=0.01)


def test_vision_encoder_weights_match_the_logged_load():
    """Mistral-Small-3.2 (Pixtral tower): vLLM logged "Model loading took: 44.76 GiB" (llm-d start-up in
    ../shared/data/engine_memory); the text decoder alone is 43.9 GiB."""
    m = get_model("mistralai/Mistral-Small-3.2-24B-Instruct-2506")
    # by hand: 24 layers x (4 x 1024^2 + 3 x 1024 x 4096 + 4 x 1024), the 14 x 14 x 3 patch embedding,
    # the final norm and the projector taken as 1024 x 2^2 x 5120 + 5120^2
    layer = 4 * 1024**2 + 3 * 1024 * 4096 + 4 * 1024
    assert m.params_vision_encoder == 24 * layer + 3 * 14 * 14 * 1024 + 2 * 1024 + 1024 * 4 * 5120 + 5120**2
    decoder_gib = (m.params_total - m.params_vision_encoder) * 2 / GIB
    assert decoder_gib == pytest.approx(43.9, abs=0.05)
    assert float(weight_bytes_per_gpu(m, 2.0, 1, 1)) / GIB == pytest.approx(44.76, rel=0.005)
    assert m.params_active == m.params_total - m.params_vision_encoder  # no part of a text token's work
    # FP8 weights leave the tower (and embeddings) at 16 bits; TP splits it, PP puts it on the first stage
    assert float(weight_bytes_per_gpu(m, 1.0, 1, 1)) / GIB > (m.params_total / 2) / GIB
    first = m.params_embedding + m.params_vision_encoder
    assert float(weight_bytes_per_gpu(m, 2.0, 2, 2)) == pytest.approx(
        float(weight_bytes_per_gpu(m.model_copy(update={"params_vision_encoder": 0}), 2.0, 2, 2)) + (first - max(m.params_embedding, m.params_lm_head)) * 2 / 2
    )
    e = estimate(m.id, "H100-SXM", "bf16", engine="vllm")
    assert e.params_vision_encoder == m.params_vision_encoder


def test_vision_config_without_a_width_is_refused_by_name():
    cfg = json.loads((ROOT / "model_configs" / "mistralai--Mistral-Small-3.2-24B-Instruct-2506.json").read_text())
    cfg["vision_config"] = {k: v for k, v in cfg["vision_config"].items() if k != "hidden_size"}
    with pytest.raises(PlannerError, match=r"vision_config.*hidden_size / embed_dim.*remove vision_config"):
        model_from_config(cfg, "mistral-small-like")
    cfg["vision_config"] = {**cfg["vision_config"], "hidden_size": -4}
    with pytest.raises(PlannerError, match=r"vision_config.*hidden_size"):
        model_from_config(cfg, "mistral-small-like")
    # Qwen2-VL's layout: embed_dim is the tower's width, hidden_size the decoder's, mlp_ratio the MLP
    qwen2_vl = {
        "embed_dim": 1280,
        "hidden_size": 3584,
        "depth": 32,
        "mlp_ratio": 4,
        "hidden_act": "quick_gelu",
        "patch_size": 14,
        "temporal_patch_size": 2,
        "spatial_merge_size": 2,
    }
    cfg["vision_config"] = qwen2_vl
    m = model_from_config(cfg, "qwen2-vl-like-tower")
    per_layer = 4 * 1280**2 + 2 * 1280 * 5120 + 4 * 1280
    assert m.params_vision_encoder == 32 * per_layer + 3 * 14 * 14 * 2 * 1280 + 2 * 1280 + 1280 * 4 * 5120 + 5120**2


def test_qwen_vl_checkpoints_read_as_their_text_decoder_with_the_tower():
    # a Qwen2.5-VL-7B-shaped config: Qwen2 decoder fields at the top level, a SwiGLU tower of 32 x 1280
    decoder = {"hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4}
    decoder |= {"vocab_size": 152064, "tie_word_embeddings": False}
    tower = {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420, "in_chans": 3, "out_hidden_size": 3584}
    tower |= {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    vl = model_from_config({"model_type": "qwen2_5_vl", **decoder, "vision_config": tower}, "qwen2.5-vl-like")
    text = model_from_config({"model_type": "qwen2", **decoder}, "qwen2-like")
    assert vl.params_total - vl.params_vision_encoder == text.params_total and vl.kv_bytes_per_token(2.0) == text.kv_bytes_per_token(2.0)
    layer = 4 * 1280**2 + 3 * 1280 * 3420 + 4 * 1280
    assert vl.params_vision_encoder == 32 * layer + 3 * 14 * 14 * 2 * 1280 + 2 * 1280 + 1280 * 4 * 3584 + 3584**2
    # newer exports nest the decoder in text_config, with its own model_type
    nested = model_from_config({"model_type": "qwen2_5_vl", "text_config": {"model_type": "qwen2_5_vl_text", **decoder}, "vision_config": tower}, "nested")
    assert nested.params_total == vl.params_total


def test_kv_heads_replicate_beyond_tp():
    m = get_model("meta-llama/Llama-3.1-70B")  # 8 KV heads
    tp8 = float(kv_bytes_per_token_per_gpu(m, 2.0, 8, 1))
    tp16 = float(kv_bytes_per_token_per_gpu(m, 2.0, 16, 1))
    assert tp8 == 327_680 / 8 and tp16 == tp8  # one head per GPU, replicated past TP 8
    assert float(kv_bytes_per_token_per_gpu(m, 2.0, 1, 2)) == 327_680 / 2  # PP splits layers
    mla = get_model("deepseek-ai/DeepSeek-V3")
    assert float(kv_bytes_per_token_per_gpu(mla, 2.0, 8, 1)) == 70_272  # MLA latent is not split by TP


def test_sliding_window_caps_sequence_memory():
    from planner.memory import kv_bytes_per_sequence

    m = get_model("mistralai/Mistral-7B-v0.1")  # window 4096 on every layer
    short = float(kv_bytes_per_sequence(m, 2.0, 1, 1, 4096, 16))
    long = float(kv_bytes_per_sequence(m, 2.0, 1, 1, 32768, 16))
    assert long <= short * 1.01
    vllm = estimate("mistralai/Mistral-7B-v0.1", "H100", "bf16", isl=30000, osl=2000, engine="vllm")
    trt = estimate("mistralai/Mistral-7B-v0.1", "H100", "bf16", isl=30000, osl=2000, engine="trtllm")
    assert vllm.max_concurrency > 4 * trt.max_concurrency  # trtllm-bench keeps the full window


def test_weight_precisions():
    m = get_model("meta-llama/Llama-3.1-70B")
    fp16, fp8, int4, fp4 = (float(weight_bytes_per_gpu(m, b, 1, 1)) for b in (2.0, 1.0, 0.5 + 2 / 128, 9 / 16))
    assert fp16 > fp8 > fp4 > int4
    # embeddings and LM head stay at 16 bits: FP8 is a little more than half of FP16
    assert 0.5 < fp8 / fp16 < 0.52


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_which_engines_compute_preempted_contexts_again(engine):
    # With its cache full and requests waiting, vLLM gives every block a completion frees (ISL + OSL
    # tokens) to new prompts at once, so the OSL tokens each request grows by come from preempting the
    # newest requests, computed again later: OSL tokens per request. TensorRT-LLM reserves every
    # output before it admits; SGLang a share of them (and retracts otherwise, not modelled here).
    # Nothing is recomputed while no request waits, nor where max_num_seqs, not the cache, bounds the batch.
    from planner import serving
    from planner.catalog import get_gpu
    from planner.defaults import default_efficiencies
    from planner.specs import EngineSettings, KvPrecision, Precision

    def setup(**limits):
        settings = EngineSettings(engine=engine, **limits)
        return serving.prepare(
            get_model("Qwen/Qwen3-32B"), [get_gpu("B200")], [Precision.fp8], [KvPrecision.fp8], [1], [1], settings, default_efficiencies(engine)
        )

    s = setup()
    plan = s.plan(1024, 1024)
    cap = plan.running_batch
    assert float(cap[0]) < float(plan.step_batch[0])  # ~650 sequences of 1,024 + 512 tokens on average, under the batch limit
    expected = 1024.0 if engine == "vllm" else 0.0
    assert float(serving.recomputed_tokens(s, plan, 1024, cap, True)[0]) == expected
    assert float(serving.recomputed_tokens(s, plan, 1024, cap, False)[0]) == 0.0
    assert float(serving.recomputed_tokens(s, plan, 1024, cap - 1, True)[0]) == 0.0  # a batch below the cache's
    small = setup(max_batch_size=64)
    small_plan = small.plan(1024, 1024)
    assert float(serving.recomputed_tokens(small, small_plan, 1024, small_plan.running_batch, True)[0]) == 0.0
