"""The scheduler simulation against rules and closed forms, with a step model known by hand.

A step costs `C0 + CP x prompt tokens + CD x decoding sequences` seconds, so every expected
figure below is worked out on paper (BLIS's way of testing a simulator: invariants tied to a
written rule, then small scenarios whose answer is known).
"""

import numpy as np
import pytest

from planner.simulator import POLICIES, EngineConfig, simulate

C0, CP, CD = 1e-3, 1e-5, 2e-5


def step(p_tok, p_seqs, p_ctx, d_seqs, d_ctx):
    return C0 + CP * p_tok + CD * d_seqs


def cfg(policy="trtllm", batch=256, tokens=8192, kv=10**7, block=16, chunked=True):
    return EngineConfig(policy, batch, tokens, kv, block, chunked)


def poisson(n, rate, seed=0):
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))


@pytest.mark.parametrize("policy", POLICIES)
def test_one_request_alone_is_the_closed_form(policy):
    r = simulate(step, cfg(policy), np.array([1000]), np.array([101]), arrivals=np.array([0.5]))
    assert r.ttft[0] == pytest.approx(C0 + CP * 1000)  # one prefill step, which samples the first token
    assert r.itl[0] == pytest.approx(C0 + CD * 1)  # then 100 decode steps of one sequence
    assert r.e2e[0] == pytest.approx(r.ttft[0] + 100 * r.itl[0])


@pytest.mark.parametrize("policy", POLICIES)
def test_a_long_prompt_is_chunked_by_the_token_budget(policy):
    r = simulate(step, cfg(policy, tokens=2048), np.array([5000]), np.array([2]), arrivals=np.array([0.0]))
    assert r.ttft[0] == pytest.approx(3 * C0 + CP * 5000)  # 2048 + 2048 + 904 tokens
    off = simulate(step, cfg(policy, tokens=2048, chunked=False), np.array([5000, 100]), np.array([2, 2]), arrivals=np.array([0.0, 0.0]))
    assert off.rejected.tolist() == [True, False]  # without chunking a prompt longer than the budget cannot run


@pytest.mark.parametrize(("drain_s", "first_s"), [(0.25 * C0, 2 * C0 + CP * 300), (3.0 * C0, C0 + CP * 200 + 3.0 * C0)])
def test_a_prompt_s_first_token_waits_for_its_pieces_to_leave_the_pipeline(drain_s, first_s):
    # A pipeline that spreads a prompt's chunks over its micro-batches lets the next step start
    # while a step's last piece is still on its way out: `drain` says how long after the step it
    # is sampled (here for more than 100 of the prompt's tokens in the step). 300 tokens in steps
    # of 200: the second step's 100 tokens come out at its end, unless the first step's last
    # piece is still in the pipeline, which they cannot overtake. The decodes follow by as much.
    def drain(take, *shape):
        return drain_s if take > 100 else 0.0

    r = simulate(step, cfg("vllm", tokens=200), np.array([300]), np.array([3]), arrivals=np.array([0.0]), drain=drain)
    assert r.ttft[0] == pytest.approx(first_s)
    assert r.itl[0] == pytest.approx(C0 + CD)  # two decode steps of one sequence, shifted as the first token
    assert r.e2e[0] == pytest.approx(r.ttft[0] + 2 * r.itl[0])
    alone = simulate(step, cfg("vllm", tokens=400), np.array([300]), np.array([1]), arrivals=np.array([0.0]), drain=drain)
    assert alone.e2e[0] == pytest.approx(C0 + CP * 300 + drain_s)  # one step, drained; one output token: done then


def test_saturated_offline_batch_runs_in_lock_step():
    # 4 x 64 equal requests queued at once, 64 slots, KV reserved whole (TensorRT-LLM): four
    # identical cycles of one prefill step (64 x 100 = 6,400 tokens) and 49 decode steps of 64
    n, b, isl, osl = 256, 64, 100, 50
    r = simulate(step, cfg("trtllm", batch=b), np.full(n, isl), np.full(n, osl), arrivals=np.zeros(n))
    cycle = (C0 + CP * b * isl) + (osl - 1) * (C0 + CD * b)
    assert r.duration_s == pytest.approx(4 * cycle)
    assert r.output_tokens / r.duration_s == pytest.approx(n * osl / (4 * cycle))
    assert r.steps == 4 * osl


def test_low_load_waiting_is_md1():
    # one slot and one output token: each request is a deterministic service of one prefill
    # step, so the queue is M/D/1: mean wait = rho x S / (2 (1 - rho))
    service = C0 + CP * 1000
    for rho in (0.2, 0.5):
        rate = rho / service
        r = simulate(step, cfg(batch=1), np.full(40_000, 1000), np.ones(40_000, int), arrivals=poisson(40_000, rate, seed=1))
        wait = r.ttft - service
        assert wait.mean() == pytest.approx(rho * service / (2 * (1 - rho)), rel=0.06)
        assert wait.min() >= -1e-12


@pytest.mark.parametrize("policy", POLICIES)
def test_littles_law_and_conservation_below_saturation(policy):
    n, rate = 6000, 40.0
    isl = np.random.default_rng(2).integers(100, 2000, n)
    osl = np.random.default_rng(3).integers(10, 300, n)
    r = simulate(step, cfg(policy), isl, osl, arrivals=poisson(n, rate))
    assert not r.rejected.any() and r.output_tokens == int(osl.sum())  # every token asked for comes out
    assert r.kv_tokens_at_end == 0  # every KV block handed back
    in_system = (r.batch_time_s + r.queue_time_s) / r.duration_s
    assert in_system == pytest.approx(n / r.duration_s * r.e2e.mean(), rel=0.03)  # L = lambda W
    assert n / (r.arrival[-1] - r.arrival[0]) == pytest.approx(rate, rel=0.05)
    assert np.all(r.first_token >= r.arrival) and np.all(r.finish >= r.first_token)


def test_closed_loop_keeps_its_clients_busy():
    clients, n = 32, 3200
    r = simulate(step, cfg("vllm"), np.full(n, 500), np.full(n, 100), clients=clients)
    assert (r.batch_time_s + r.queue_time_s) / r.duration_s == pytest.approx(clients, rel=0.02)
    assert n / r.duration_s == pytest.approx(clients / r.e2e.mean(), rel=0.02)  # Little's law for a closed loop
    assert r.batch_time_s / r.duration_s <= clients + 1e-9


def test_kv_pressure_preempts_in_vllm_and_never_in_trtllm():
    n = 400
    isl, osl = np.full(n, 400), np.full(n, 400)
    tight = dict(batch=256, kv=20_000, block=16)
    vllm = simulate(step, cfg("vllm", **tight), isl, osl, arrivals=poisson(n, 200.0))
    trt = simulate(step, cfg("trtllm", **tight), isl, osl, arrivals=poisson(n, 200.0))
    assert vllm.preemptions.sum() > 0 and trt.preemptions.sum() == 0
    for r in (vllm, trt):  # both finish everything, and hand every block back
        assert r.output_tokens == n * 400 and r.kv_tokens_at_end == 0
    # TensorRT-LLM reserves prompt + output: at most 20,000 / 800 = 25 requests at once
    assert trt.batch_time_s / trt.duration_s <= 25


def test_sglang_runs_prefill_and_decode_in_separate_steps():
    # two requests: the second arrives while the first decodes; SGLang pauses decoding for its
    # prefill, TensorRT-LLM and vLLM fold the prompt into a decode step
    isl, osl, arrive = np.array([1000, 1000]), np.array([50, 50]), np.array([0.0, 0.02])
    sg = simulate(step, cfg("sglang"), isl, osl, arrivals=arrive)
    trt = simulate(step, cfg("trtllm"), isl, osl, arrivals=arrive)
    # the first request loses exactly one of its decode steps to the second one's prefill step
    assert sg.finish[0] - trt.finish[0] == pytest.approx(C0 + CD * 1)
    assert sg.first_token[1] == pytest.approx(trt.first_token[1] - CD, abs=1e-9)  # its prefill step has no decode in it


def test_only_sglangs_running_batch_may_outgrow_the_token_budget():
    # 64 short requests queued at once, a batch cap of 64 and a 32-token step budget: a mixed step
    # carries every decode within the budget, so TensorRT-LLM and vLLM run at most 32 at once;
    # SGLang budgets only its prefill steps, so its running batch grows to all 64
    isl, osl, arrive = np.full(64, 8), np.full(64, 40), np.zeros(64)
    peak = {}
    for policy in POLICIES:
        r = simulate(step, cfg(policy, batch=64, tokens=32), isl, osl, arrivals=arrive)
        peak[policy] = r.batch_time_s / r.duration_s
    assert peak["sglang"] > 40 and peak["trtllm"] <= 32 and peak["vllm"] <= 32


def test_requests_that_never_fit_are_rejected_and_counted():
    r = simulate(step, cfg("trtllm", kv=4096), np.array([100, 5000, 100]), np.array([10, 10, 10]), arrivals=np.array([0.0, 0.0, 0.0]))
    assert r.rejected.tolist() == [False, True, False]
    assert len(r.ttft) == 2 and r.output_tokens == 20


def test_same_inputs_same_answer():
    args = (step, cfg("vllm"), np.full(500, 800), np.full(500, 64))
    a = simulate(*args, arrivals=poisson(500, 30.0, seed=7))
    b = simulate(*args, arrivals=poisson(500, 30.0, seed=7))
    c = simulate(*args, arrivals=poisson(500, 30.0, seed=8))
    assert np.array_equal(a.finish, b.finish) and not np.array_equal(a.finish, c.finish)


def test_prefix_cache_removes_prefill_work():
    isl = np.full(200, 2000)
    cached = np.full(200, 1500)
    cold = simulate(step, cfg(), isl, np.full(200, 20), arrivals=poisson(200, 5.0))
    warm = simulate(step, cfg(), isl, np.full(200, 20), cached=cached, arrivals=poisson(200, 5.0))
    assert warm.ttft.mean() == pytest.approx(C0 + CP * 500, rel=0.1)
    assert warm.ttft.mean() < 0.5 * cold.ttft.mean()


def test_either_arrivals_or_clients():
    with pytest.raises(ValueError):
        simulate(step, cfg(), np.array([1]), np.array([1]))
    one_token = simulate(step, cfg(), np.array([10]), np.array([1]), arrivals=np.array([0.0]))
    assert len(one_token.itl) == 0 and one_token.e2e[0] == pytest.approx(one_token.ttft[0])  # no inter-token gap to report


def test_window_layers_hold_only_their_window():
    # Half of each token's KV in sliding-window layers that keep 512 tokens: a 2,048-token
    # sequence (2,000 + 48, which TensorRT-LLM reserves whole) takes 2,048 - 0.5 x 1,536 = 1,280
    # tokens' worth, so 7 fit in 10,000 where 4 fit without windows. The first request finishes
    # before anyone queued behind those is admitted.
    isl, osl, arrive = np.full(16, 2000), np.full(16, 48), np.zeros(16)
    admitted = {}
    for share in (0.0, 0.5):
        c = EngineConfig("trtllm", 256, 8192, 10_000, 16, True, window_tokens=512, window_share=share)
        r = simulate(step, c, isl, osl, arrivals=arrive)
        admitted[share] = int((r.first_token < r.finish.min()).sum())
        assert r.output_tokens == 16 * 48 and r.kv_tokens_at_end == 0
    assert admitted == {0.0: 4, 0.5: 7}


@pytest.mark.parametrize("policy", ["vllm", "sglang"])
def test_decodes_past_the_window_grow_the_cache_by_the_full_layers_only(policy):
    # Engines that allocate as tokens are computed: the same tight cache as above, half of it
    # windowed at 256 tokens. Requests past their window grow by half a token per step, so the
    # cache runs more of them and preempts (or retracts) less; every block still comes back,
    # through preemptions and window crossings alike.
    n = 400
    isl, osl, arrive = np.full(n, 400), np.full(n, 400), poisson(n, 200.0)
    runs = {}
    for share in (0.0, 0.5):
        c = EngineConfig(policy, 256, 8192, 20_000, 16, True, window_tokens=256, window_share=share)
        r = runs[share] = simulate(step, c, isl, osl, arrivals=arrive)
        assert r.output_tokens == n * 400 and r.kv_tokens_at_end == 0
    assert runs[0.5].preemptions.sum() < runs[0.0].preemptions.sum()
    assert runs[0.5].batch_time_s / runs[0.5].duration_s > 1.2 * runs[0.0].batch_time_s / runs[0.0].duration_s
    # no more at once than the cache holds at their smallest (a prompt: 400 - 0.5 x 144 = 328 tokens' worth)
    assert runs[0.5].batch_time_s / runs[0.5].duration_s <= 20_000 / 328


def test_sglang_reservation_ratio_after_a_retraction_is_what_the_survivors_show():
    # SGLang's estimate_new_token_ratio_after_retract: (the survivors' decoded tokens + 20 each) /
    # (their max_new_tokens + 1), at most 1; it reset to the initial 0.7 before, which kept its
    # admission more cautious than SGLang's after every retraction
    from planner.simulator import _Replica

    cfg = EngineConfig(policy="sglang", max_batch_size=8, max_num_tokens=4096, kv_capacity_tokens=100_000)
    r = _Replica(lambda *a: 0.01, cfg, np.array([100, 100, 100]), np.array([1000, 1000, 500]), None, np.zeros(3), None)
    for i in range(3):  # three prompts done (their first tokens out), decoding
        r.running[i] = None
        r.target[i] = r.computed[i] = 100
        r.generated[i] = 1
        r._start_decode(i)
    r.G += 100  # 100 decode steps later each has 101 tokens out
    r._preempt(2)  # the newest is retracted
    assert r.ratio == pytest.approx((2 * 101 + 20 * 2) / (1000 + 1000 + 1))
