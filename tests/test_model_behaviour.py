"""Behaviour of the step-time and serving model: topology, MoE, pipeline, engine limits."""

import numpy as np
import pytest

from planner import PlannerError, estimate, get_gpu, get_model
from planner.engine_limits import trtllm_bench_limits
from planner.roofline import touched_experts


def test_tp_over_pcie_is_slower_than_over_nvlink():
    h100 = get_gpu("H100-SXM")
    pcie_only = h100.model_copy(update={"nvlink_domain_gpus": 1, "intra_node_bandwidth_gb_s": h100.pcie_bandwidth_gb_s})
    kw = dict(model="llama-3.1-70b", precision="fp8", tp=4, isl=1024, osl=256)
    nvlink, pcie = estimate(gpu=h100, **kw), estimate(gpu=pcie_only, **kw)
    assert pcie.itl_ms > nvlink.itl_ms and pcie.output_tok_s < nvlink.output_tok_s


def test_tp_across_nodes_uses_the_network():
    h100 = get_gpu("H100-SXM")  # 8 GPUs per NVLink domain and node
    one_domain = h100.model_copy(update={"nvlink_domain_gpus": 16, "gpus_per_node": 16})
    kw = dict(model="llama-3.1-405b", precision="fp8", tp=16, isl=1024, osl=256)
    two_nodes, nvl16 = estimate(gpu=h100, **kw), estimate(gpu=one_domain, **kw)
    assert two_nodes.itl_ms > 1.5 * nvl16.itl_ms


def test_gb200_rack_keeps_tp16_on_nvlink():
    kw = dict(model="deepseek-ai/DeepSeek-V3", precision="fp8", tp=16, isl=1024, osl=256, concurrency=64, profile="none")
    gb200, b200 = estimate(gpu="GB200", **kw), estimate(gpu="B200", **kw)
    assert gb200.itl_ms < b200.itl_ms  # B200 TP16 crosses two HGX nodes


def test_fp8_is_faster_than_fp16_where_supported():
    kw = dict(model="llama-3.1-8b", gpu="H100", isl=1024, osl=1024)
    assert estimate(precision="fp8", **kw).output_tok_s > estimate(precision="fp16", **kw).output_tok_s
    b200 = dict(model="llama-3.1-70b", gpu="B200", isl=1024, osl=1024)
    assert estimate(precision="nvfp4", **b200).output_tok_s > estimate(precision="fp8", **b200).output_tok_s


def test_moe_touches_only_routed_experts():
    m = get_model("mistralai/Mixtral-8x7B-v0.1")
    assert float(touched_experts(m, 1)) == pytest.approx(2.0)
    assert float(touched_experts(m, 10_000)) == pytest.approx(8.0)
    dense = get_model("llama-3.1-8b")
    assert float(touched_experts(dense, 100)) == 0.0
    # decode at batch 1 reads ~ the active experts: faster than a dense model of Mixtral's total size
    moe = estimate("mistralai/Mixtral-8x7B-v0.1", "H100", "fp16", tp=2, isl=128, osl=128)
    big_dense = estimate("meta-llama/Llama-2-70b-hf", "H100", "fp16", tp=2, isl=128, osl=128)
    assert moe.itl_alone_ms < 0.5 * big_dense.itl_alone_ms


def test_pipeline_parallel_adds_capacity_not_single_stream_speed():
    kw = dict(model="llama-3.1-70b", gpu="H100", precision="fp8", isl=2048, osl=512)
    pp1, pp2 = estimate(tp=2, pp=1, **kw), estimate(tp=2, pp=2, **kw)
    assert pp2.weights_gib_per_gpu < pp1.weights_gib_per_gpu
    assert pp2.max_concurrency > pp1.max_concurrency
    assert pp2.itl_ms >= 0.95 * pp1.itl_ms  # one request still passes every layer in turn


def test_concurrency_beyond_capacity_queues():
    kw = dict(model="llama-3.1-70b", gpu="H100", precision="fp8", tp=2, isl=4096, osl=1024)
    cap = estimate(**kw).max_concurrency
    at, over = estimate(concurrency=cap, **kw), estimate(concurrency=4 * cap, **kw)
    assert over.ttft_ms > 2 * at.ttft_ms
    assert over.output_tok_s == pytest.approx(at.output_tok_s, rel=0.05)


def test_request_rate_saturates_at_offline_scale():
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="fp8", isl=512, osl=256, num_requests=2000)
    light, heavy = estimate(request_rate=1.0, **kw), estimate(request_rate=10_000.0, **kw)
    assert light.output_tok_s == pytest.approx(256.0, rel=0.01) and not light.saturated
    # past the sustainable rate: saturated, no finite latency, served at the sustainable rate
    assert heavy.saturated and heavy.ttft_ms is None and heavy.ttft_p90_ms is None and heavy.itl_ms is None
    assert heavy.achieved_rps == pytest.approx(heavy.sustainable_rps)
    offline = estimate(**kw)
    assert heavy.sustainable_rps == pytest.approx(offline.requests_per_s, rel=0.2)
    # what a finite benchmark run of 2,000 requests would measure: the backlog grows through the run
    run = estimate(request_rate=10_000.0, finite_run=True, **kw)
    assert run.ttft_ms > 100 * light.ttft_ms


def test_concurrency_and_rate_are_exclusive():
    with pytest.raises(PlannerError, match="either concurrency or request_rate"):
        estimate("llama-3.1-8b", "H100", concurrency=4, request_rate=2.0)


def test_ep_is_checked():
    with pytest.raises(PlannerError, match="needs a mixture-of-experts model"):
        estimate("llama-3.1-8b", "H100", tp=2, ep=2)
    e = estimate("mistralai/Mixtral-8x7B-v0.1", "H100", "fp8", tp=4, ep=4)
    assert e.fits and e.ep == 4


@pytest.mark.parametrize(
    "requests, isl, osl, pp, expected",
    [
        (343.0, 128, 4096, 1, (384, 2048)),  # round up to 128; tokens floor at 2048
        (100.0, 1000, 1000, 1, (128, 2048)),
        (3000.0, 2048, 128, 1, (3072, 32768)),  # tokens capped at 32768
        (9000.0, 128, 128, 2, (2048, 4096)),  # batch capped at 4096, split over stages
        (10.0, 128, 128, 1, (64, 2048)),  # at least 64 sequences
    ],
)
def test_trtllm_bench_engine_sizing(requests, isl, osl, pp, expected):
    bs, tok = trtllm_bench_limits(np.array(requests), isl, osl, pp)
    assert (int(bs), int(tok)) == expected


def test_uncalibrated_estimates_say_so():
    e = estimate("llama-3.1-8b", "L4", "fp8", isl=512, osl=128, profile="none")
    assert e.source == "analytic" and e.uncertainty_pct > 0
    no_profile = estimate("llama-3.1-8b", "L4", "fp8", isl=512, osl=128)  # no L4 profile: not another GPU's either
    assert no_profile.source == "analytic" and no_profile.uncertainty_pct == e.uncertainty_pct
    assert no_profile.output_tok_s == e.output_tok_s


def test_the_load_curve_agrees_with_the_simulation_and_saturates_where_estimate_says():
    """The chart's closed-form curve: latency grows with the rate, throughput follows the rate up to
    the sustainable rate, no latency past it; at half load it is within 25 % of the simulation."""
    from planner import load_curve

    kw = dict(model="llama-3.1-70b", gpu="H100", precision="fp8", tp=4, isl=1024, osl=256)
    curve, mu, limit = load_curve(**kw)
    assert limit in ("kv memory", "max batch", "step budget") and mu > 0
    ok = curve[~curve.saturated]
    assert ok.itl_p50_ms.is_monotonic_increasing and ok.ttft_p90_ms.is_monotonic_increasing
    assert (ok.output_tok_s == ok.request_rate * 256).all() and curve[curve.saturated].ttft_p50_ms.isna().all()
    half, _, _ = load_curve(rates=[0.5 * mu], **kw)
    sim = estimate(**kw, request_rate=0.5 * mu)
    assert half.itl_p50_ms[0] == pytest.approx(sim.itl_p50_ms, rel=0.25)
    assert sim.sustainable_rps == pytest.approx(mu, rel=0.15)


def test_the_step_breakdown_puts_prefill_right_of_the_ridge_and_batch_1_decode_left():
    from planner import step_breakdown

    one = step_breakdown(model="llama-3.1-8b", gpu="H100", precision="fp8", isl=2048, osl=128, batch=1)
    prefill, decode = one.set_index("step").loc["prefill"], one.set_index("step").loc["decode"]
    assert prefill.bound == "compute" and decode.bound == "memory"
    assert decode.total_ms >= decode.memory_ms > decode.compute_ms
