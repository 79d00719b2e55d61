"""recommend and cost: hand-worked cost figures, the properties a search must keep
(monotonic in traffic, SLA and price), and the answer's contract."""

import math

import numpy as np
import pytest

from planner import PlannerError
from planner.catalog import gpus
from planner.cost import OwnedHardware, PriceBook, fleet_cost, parse_price_overrides, read_prices
from planner.search import frontier_sample, parallelism_label, recommend
from planner.sla import Sla
from planner.workload import parse_workload

MIX = parse_workload("isl=1024;osl=256")
SMALL = dict(gpus=["H100", "L40S", "A100-SXM-80GB"], tps=(1, 2), pps=(1,), verify=False)


def cheapest(rec):
    return rec.recommendations[0] if rec.recommendations else None


def test_fleet_cost_by_hand():
    c = fleet_cost(8, 2.0, rate_rps=10.0, mean_isl=1000.0, mean_osl=200.0, fleet_capacity_rps=20.0, prefill_share=0.25, tdp_w=700.0)
    assert c.usd_per_hour == 16.0 and c.usd_per_month == 16.0 * 730
    assert c.usd_per_million_output_tokens == pytest.approx(16.0 / (10 * 200 * 3600) * 1e6)  # 7.2 M output tokens an hour
    assert c.usd_per_million_tokens == pytest.approx(16.0 / (10 * 1200 * 3600) * 1e6)
    assert c.usd_per_million_input_tokens_split == pytest.approx(16.0 * 0.25 / (10 * 1000 * 3600) * 1e6)
    assert c.usd_per_request == pytest.approx(16.0 / 36000)
    assert c.utilisation == 0.5 and c.joules_per_output_token == pytest.approx(8 * 700 * 0.5 / 2000)


def test_owned_hardware_by_hand():
    o = OwnedHardware(server_usd_per_gpu=35040, years=4, usd_per_kwh=0.1, pue=1.5, utilisation=0.5, hosting_usd_per_gpu_month=73)
    # 35,040 / (4 x 8,760) = 1.00 + 0.7 kW x 0.5 x 1.5 x 0.1 = 0.0525 + 73 / 730 = 0.10
    assert o.usd_per_gpu_hour(700) == pytest.approx(1.0 + 0.0525 + 0.1)
    book = PriceBook(owned=o)
    assert book.get("H100").market == "owned hardware" and book.get("MI300X") is not None  # owning prices every GPU


def test_prices_name_their_market_and_overrides_win(tmp_path):
    for g in gpus().values():
        assert g.price_market, g.id
        if g.price_usd_per_hour is not None:
            assert g.price_source and g.price_date and g.price_market in ("neocloud on-demand", "hyperscaler on-demand (AWS us-east-1)")
    book = PriceBook({"H100": 1.5})
    assert book.get("H100-SXM").usd_per_hour == 1.5 and book.get("L40S").market == "neocloud on-demand"
    f = tmp_path / "p.yaml"
    f.write_text("prices:\n- {gpu: MI300X, usd_per_hour: 2.1, market: neocloud on-demand, source: test, date: 2026-01}\n")
    assert read_prices(f)[0].gpu == "MI300X" and PriceBook(prices_file=f).get("MI300X").usd_per_hour == 2.1
    bad = tmp_path / "bad.csv"
    bad.write_text("gpu,usd_per_hour\nH100,2\nB200,-1\n")
    with pytest.raises(PlannerError, match="entry 3: usd_per_hour"):
        read_prices(bad)
    with pytest.raises(PlannerError, match="expected GPU=USD_PER_HOUR"):
        parse_price_overrides(["H100:2"])
    with pytest.raises(PlannerError, match="unknown gpu"):
        PriceBook({"H1000": 2.0})


def test_more_traffic_never_needs_fewer_gpus():
    sla = Sla(ttft_ms=500, itl_ms=40)
    prev_cost, prev_gpus = 0.0, {}
    for rate in (2, 8, 20, 50, 120):
        recs = recommend("llama-3.1-8b", rate, MIX, sla, top=100, **SMALL).recommendations
        assert recs[0]["usd_per_hour"] >= prev_cost  # the cheapest fleet never gets cheaper
        prev_cost = recs[0]["usd_per_hour"]
        for r in recs:  # and no deployment needs fewer GPUs for more traffic
            key = (r["gpu"], r["precision"], r["tp"], r["pp"])
            assert r["num_gpus"] >= prev_gpus.get(key, 0), key
            prev_gpus[key] = r["num_gpus"]


def test_looser_sla_never_costs_more():
    costs = []
    for sla in (Sla(ttft_ms=200, itl_ms=20), Sla(ttft_ms=500, itl_ms=30), Sla(ttft_ms=2000, itl_ms=60), Sla(itl_ms=100)):
        costs.append(cheapest(recommend("llama-3.1-8b", 30, MIX, sla, **SMALL))["usd_per_hour"])
    assert costs == sorted(costs, reverse=True)


def test_a_higher_price_never_ranks_a_gpu_higher():
    sla = Sla(ttft_ms=500, itl_ms=40)

    def rank(price):
        recs = recommend("llama-3.1-8b", 20, MIX, sla, prices=PriceBook({"L40S": price}), top=100, **SMALL).recommendations
        return next(i for i, r in enumerate(recs) if r["gpu"] == "L40S")

    ranks = [rank(p) for p in (0.3, 0.86, 2.0, 6.0)]
    assert ranks == sorted(ranks)


def test_the_answer_keeps_its_contract():
    rec = recommend(
        "llama-3.1-70b", 10, MIX, Sla(ttft_ms=800, itl_ms=40), gpus=["H100", "H200", "B200", "MI300X"], budget_usd_per_month=60_000, disaggregated=True
    )
    keys = {"gpu", "precision", "kv_precision", "tp", "pp", "ep", "attention_dp", "replicas", "num_gpus", "max_rate_rps", "ttft_p90_ms", "itl_p90_ms"}
    keys |= {"usd_per_hour", "usd_per_month", "usd_per_million_output_tokens", "source", "uncertainty_pct", "bottleneck"}
    assert rec.recommendations and all(keys <= set(r) for r in rec.recommendations)
    costs = [r["usd_per_hour"] for r in rec.recommendations]
    assert costs[1:] == sorted(costs[1:]) and costs[0] <= min(costs[1:]) + 1e-9 or rec.notes  # cheapest first (unless the check added replicas, which is said)
    best = rec.recommendations[0]
    assert best["verified_by"] == "simulation" and rec.verification["runs"][-1]["meets_sla"]
    assert best["ttft_p90_ms"] <= 800 and best["itl_p90_ms"] <= 40
    assert best["replicas"] * best["max_rate_rps"] >= 10 * 1.2 - 1e-6  # headroom
    reasons = {r["reason"].split(":")[0].split(" (")[0] for r in rec.rejected}
    assert "no price for MI300X" in reasons and any(r.startswith("does not fit") for r in reasons)
    assert all(r["usd_per_month"] <= 60_000 for r in rec.recommendations)
    assert rec.pareto and all(p["output_tok_s_per_gpu"] > 0 for p in rec.pareto)
    per_gpu = [p["output_tok_s_per_gpu"] for p in rec.pareto]
    per_user = [p["output_tok_s_per_user"] for p in rec.pareto]
    assert per_gpu == sorted(per_gpu, reverse=True) and per_user == sorted(per_user)  # a frontier: each point trades one for the other
    assert rec.disaggregated["available"] and "wins" in rec.disaggregated
    assert rec.disaggregated["num_gpus"] == rec.disaggregated["prefill"]["num_gpus"] + rec.disaggregated["decode"]["num_gpus"]
    # the table's short listing spans the frontier: both ends, in order, not the six densest points
    shown = frontier_sample(rec.pareto, 6)
    assert len(rec.pareto) > 6 and len(shown) == 6 and shown[0] is rec.pareto[0] and shown[-1] is rec.pareto[-1]
    assert [rec.pareto.index(p) for p in shown] == sorted(rec.pareto.index(p) for p in shown)
    assert frontier_sample(rec.pareto[:4], 6) == rec.pareto[:4]
    assert frontier_sample(rec.pareto, 2) == [rec.pareto[0], rec.pareto[-1]] and frontier_sample(rec.pareto, 1) == rec.pareto[:1]
    assert frontier_sample(rec.pareto, 0) == []


def test_over_budget_and_impossible_targets_are_rejected_with_reasons():
    rec = recommend("llama-3.1-70b", 50, MIX, Sla(ttft_ms=500, itl_ms=40), gpus=["H100"], budget_usd_per_month=1000, verify=False)
    assert not rec.recommendations and any(r["reason"].startswith("over budget") for r in rec.rejected)
    rec = recommend("llama-3.1-8b", 5, MIX, Sla(itl_ms=0.5), gpus=["L40S"], verify=False)
    assert not rec.recommendations and all("even at low load" in r["reason"] for r in rec.rejected if r["reason"] and "fit" not in r["reason"])
    for bad in (dict(rate_rps=0), dict(rate_rps=math.inf), dict(headroom=-1), dict(budget_usd_per_month=0)):
        kw = dict(model="llama-3.1-8b", rate_rps=5, mix=MIX, sla=Sla(itl_ms=50), gpus=["L40S"]) | bad
        with pytest.raises(PlannerError):
            recommend(**kw)


def test_a_context_requirement_rejects_replicas_that_cannot_hold_one_request():
    # Llama-3.1-70B FP8 (fp8 KV: 80 layers x 8 KV heads x 128 x 2 x 1 B = 160 KiB per token, split
    # by TP): a 131,072-token request needs 10 GiB of KV on each of 2 L40S, 5 GiB on each of 4.
    # Replicas with less KV cache than that are rejected by name; the others keep their ranking
    kw = dict(gpus=["L40S"], precisions=["fp8"], tps=(2, 4), pps=(1,), verify=False, top=100)
    free = recommend("llama-3.1-70b", 2, MIX, Sla(itl_ms=80), **kw)
    held = recommend("llama-3.1-70b", 2, MIX, Sla(itl_ms=80), max_model_len=131_072, engine="vllm", **kw)
    assert held.question["max_model_len"] == 131_072
    short = [r for r in held.rejected if "131,072-token request" in r["reason"]]
    assert short and all(r["reason"].startswith("cannot serve a 131,072-token request (max_model_len): vLLM refuses to start") for r in short)
    for r in short:
        need = float(r["reason"].split("one needs ")[1].split(" GiB")[0])
        assert need == pytest.approx(131_072 * 160 * 1024 / r["tp"] / 2**30, rel=1e-3)
    kept = {(r["gpu"], r["tp"]) for r in held.recommendations}
    assert kept and kept < {(r["gpu"], r["tp"]) for r in recommend("llama-3.1-70b", 2, MIX, Sla(itl_ms=80), engine="vllm", **kw).recommendations}
    assert all(r["kv_capacity_tokens"] >= 131_072 for r in held.recommendations)
    # the frontier leaves out what cannot hold the request, and had it without the requirement
    assert held.pareto and not {(p["gpu"], p["tp"]) for p in held.pareto} & {(r["gpu"], r["tp"]) for r in short}
    assert {(p["gpu"], p["tp"]) for p in free.pareto} & {(r["gpu"], r["tp"]) for r in short}
    assert free.question["max_model_len"] is None
    # disaggregated pools too: without the requirement both take TP 2, with it TP 4
    for mml, tp in ((None, 2), (131_072, 4)):
        d = recommend("llama-3.1-70b", 2, MIX, Sla(itl_ms=80, ttft_ms=3000), max_model_len=mml, engine="vllm", disaggregated=True, **kw).disaggregated
        assert d["available"] and d["prefill"]["tp"] == d["decode"]["tp"] == tp
    with pytest.raises(PlannerError, match=r"max_model_len 200,000: must be a whole number of tokens from 1,280 .* to 131,072"):
        recommend("llama-3.1-70b", 2, MIX, Sla(itl_ms=80), max_model_len=200_000, **kw)
    with pytest.raises(PlannerError, match="max_model_len 1,000: must be a whole number of tokens from 1,280"):
        recommend("llama-3.1-70b", 2, MIX, Sla(itl_ms=80), max_model_len=1000, **kw)


def test_sglang_rejections_name_its_own_memory_fraction():
    # SGLang holds weights and KV cache within mem_fraction_static of all memory (0.855 for TP 4 on
    # a B200): DeepSeek-V3's FP8 weights on 4 x B200 exceed it though they are less than the GPU
    rec = recommend("deepseek-ai/DeepSeek-V3", 2, MIX, Sla(itl_ms=60), gpus=["B200"], precisions=["fp8"], tps=[4], pps=[1], engine="sglang", verify=False)
    tp4 = [r for r in rec.rejected if r["tp"] == 4 and r["attention_dp"] == 1]
    assert tp4 and all("in mem_fraction_static 0.855 x 179.0 GiB" in r["reason"] for r in tp4), [r["reason"] for r in tp4]


def test_moe_models_are_also_searched_as_dep():
    """DEP-N (attention data parallel + expert parallel over N GPUs, TP 1) is a candidate for a MoE
    model, priced for its N GPUs, and never for a dense one."""
    import numpy as np

    import planner
    from planner.search import candidates

    mix = planner.parse_workload("isl=2048;osl=512")
    c = candidates("deepseek-ai/DeepSeek-V3", mix, ["H200-SXM"], ["fp8"], (1, 2, 4, 8), (1,))
    dep = c.adp > 1
    assert dep.any() and (c.tp[dep] == 1).all() and (c.ep[dep] == c.adp[dep]).all()
    assert (c.gpus_per == c.tp * c.pp * c.adp).all() and c.label(int(np.flatnonzero(dep)[0])).endswith("DEP2")
    dense = candidates("llama-3.1-70b", mix, ["H200-SXM"], ["fp8"], (1, 2, 4, 8), (1,))
    assert (dense.adp == 1).all()
    r = planner.recommend("deepseek-ai/DeepSeek-V3", 20, mix, planner.Sla(ttft_ms=3000, itl_ms=60), gpus=["B200"])
    deps = [x for x in r.recommendations if x["attention_dp"] > 1]
    assert deps and all(x["num_gpus"] == x["replicas"] * x["attention_dp"] * x["pp"] for x in deps)
    e = planner.estimate(
        "deepseek-ai/DeepSeek-V3", "B200", deps[0]["precision"], tp=1, attention_dp=deps[0]["attention_dp"], ep=deps[0]["ep"], isl=2048, osl=512
    )
    assert e.fits and e.gpus == deps[0]["attention_dp"] * deps[0]["pp"]
    # every option and rejection names its split as deployments are named: a DEP-8 replica is not "TP1"
    for x in [*r.recommendations, *r.rejected]:
        assert x["parallelism"] == parallelism_label(x["tp"], x["pp"], x["attention_dp"], x["ep"])
    assert all(x["parallelism"].startswith(f"DEP{x['attention_dp']}") for x in deps)


@pytest.mark.parametrize(
    "split, label",
    [
        ((4, 1, 1, 1), "TP4"),
        ((4, 2, 1, 1), "TP4 PP2"),
        ((1, 1, 8, 8), "DEP8"),
        ((1, 2, 4, 4), "DEP4 PP2"),
        ((2, 1, 1, 2), "TP2 EP2"),
        ((2, 1, 4, 8), "TP2 DP4 EP8"),
    ],
)
def test_parallelism_labels(split, label):
    assert parallelism_label(*split) == label


def test_disaggregated_transfer_moves_a_hybrid_models_state():
    """A prefill replica hands the decode replica the prompt's KV and, for Qwen3.5, its 192 MB
    Gated DeltaNet state: by hand, (ISL x KV bytes per token + state) / (link x GPUs x eta)."""
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.disagg import _kv_transfer_s
    from planner.search import candidates

    c = candidates("Qwen/Qwen3.5-397B-A17B", MIX, gpus=["B200"], precisions=["fp8"], tps=[4], pps=[1], engine="vllm")
    i = np.array([0])
    m = c.setup.model
    g = c.gpus[c.gpu_idx[0]]
    assert 2 * c.gpus_per[0] <= g.nvlink_domain_gpus  # both replicas in one NVLink domain
    bw = g.intra_node_bandwidth_gb_s * 1e9 * c.gpus_per[0] * DEFAULT_EFFICIENCIES.eta_comm
    # each of the 4 GPUs sends its shard: 15 full-attention layers x 1 of the 2 KV heads (replicated past TP 2) x 512 x 1 B
    by_hand = (2000 * 15 * 1 * 512 * 1.0 * 4 + m.linear_state_bytes_per_sequence(1)) / bw
    assert _kv_transfer_s(c, i, 2000)[0] == pytest.approx(by_hand, rel=1e-9)
