"""Exact facts: parameter counts, KV bytes per token, weight memory."""

import pytest

from planner import estimate, get_model
from planner.memory import kv_bytes_per_token_per_gpu, weight_bytes_per_gpu
from planner.specs import GIB

KV_FP16 = {
    "meta-llama/Llama-3.1-8B": 131_072,
    "meta-llama/Llama-3.1-70B": 327_680,
    "meta-llama/Llama-2-7b-hf": 524_288,
    "meta-llama/Llama-3.1-405B": 516_096,
    "Qwen/Qwen3-235B-A22B": 192_512,
    "mistralai/Mixtral-8x7B-v0.1": 131_072,
    "deepseek-ai/DeepSeek-V3": 70_272,
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
    ],
)
def test_published_totals(model_id, total_b, active_b):
    m = get_model(model_id)
    assert m.params_total / 1e9 == pytest.approx(total_b, rel=0.01)
    assert m.params_active / 1e9 == pytest.approx(active_b, rel=0.03)


def test_llama_8b_fp16_weights():
    m = get_model("meta-llama/Llama-3.1-8B")
    assert float(weight_bytes_per_gpu(m, 2.0, 1, 1)) / GIB == pytest.approx(14.96, abs=0.01)


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
