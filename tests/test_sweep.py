"""The vectorised sweep computes exactly what one configuration at a time computes."""

import numpy as np
import pytest

from planner import PlannerError, estimate, serving, sweep
from planner.catalog import get_gpu, get_model
from planner.defaults import DEFAULT_EFFICIENCIES
from planner.specs import DEFAULT_KV, EngineSettings, Precision


def test_sweep_matches_single_estimates():
    frame = sweep(
        "meta-llama/Llama-3.1-70B",
        efficiencies=DEFAULT_EFFICIENCIES,
        gpus=["H100", "L40S", "B200"],
        precisions=["fp16", "fp8", "nvfp4"],
        tps=[2, 4, 8],
        pps=[1, 2],
        batches=[1, 64],
        lengths=[(1024, 256)],
    )
    assert set(frame.gpu) == {"H100-SXM", "L40S", "B200"}
    assert not ((frame.gpu == "H100-SXM") & (frame.precision == "nvfp4")).any(), "unsupported precisions are dropped"
    rng = np.random.default_rng(0)
    model = get_model("meta-llama/Llama-3.1-70B")
    for i in rng.choice(len(frame), size=12, replace=False):
        row = frame.iloc[i]
        e = estimate(model, row.gpu, row.precision, tp=int(row.tp), pp=int(row.pp), isl=1024, osl=256, profile="none")
        assert bool(row.fits) == e.fits
        assert row.weights_gib_per_gpu == pytest.approx(e.weights_gib_per_gpu)
        # the sweep's latency is the closed-loop approximation (`serving.concurrency`), evaluated for one configuration alone
        prec = Precision(row.precision)
        one = serving.prepare(model, [get_gpu(row.gpu)], [prec], [DEFAULT_KV[prec]], [row.tp], [row.pp], EngineSettings(), DEFAULT_EFFICIENCIES)
        point = serving.concurrency(one, 1024, 256, row.concurrency)
        if e.fits:
            assert row.itl_ms == pytest.approx(float(point.itl_s[0]) * 1e3, rel=1e-9)
            assert row.output_tok_s == pytest.approx(float(point.output_tok_s[0]), rel=1e-9)
        else:
            assert np.isnan(row.itl_ms)


def test_sweep_max_model_len_is_a_length_every_row_must_hold():
    # Llama-3.1-8B's KV cache: 32 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes = 128 KiB per token,
    # so one 131,072-token request needs 16 GiB of KV per replica, 16 / TP GiB per GPU
    engine = EngineSettings(engine="vllm", max_model_len=131072)
    frame = sweep(
        "llama-3.1-8b",
        efficiencies=DEFAULT_EFFICIENCIES,
        gpus=["RTX-3090", "L40S"],
        precisions=["fp16"],
        tps=[1, 2],
        pps=[1],
        batches=[1, 64],
        lengths=[(1024, 256)],
        engine=engine,
    )
    need_gib = 16.0 / frame.tp
    assert (frame.holds_max_model_len == (frame.kv_cache_gib_per_gpu >= need_gib)).all()
    held = frame.set_index(["gpu", "tp"]).holds_max_model_len.groupby(level=[0, 1]).first()
    assert not held["RTX-3090", 1] and held["L40S", 1], "a 24 GiB GPU holding 15 GiB of weights has no room for 16 GiB of KV"
    short = frame[~frame.holds_max_model_len]
    assert not short.fits.any() and short.itl_ms.isna().all() and short.output_tok_s.isna().all()
    assert frame[frame.holds_max_model_len].fits.all()
    for _, row in frame.drop_duplicates(["gpu", "tp"]).iterrows():  # vLLM refuses to start exactly where the row does not hold it
        e = estimate("llama-3.1-8b", row.gpu, "fp16", tp=int(row.tp), isl=1024, osl=256, profile="none", engine="vllm", max_model_len=131072)
        assert e.fits == bool(row.fits), (row.gpu, row.tp, e.fit_reason)
    without = sweep(
        "llama-3.1-8b", efficiencies=DEFAULT_EFFICIENCIES, gpus=["RTX-3090"], precisions=["fp16"], tps=[1], pps=[1], batches=[1], lengths=[(1024, 256)]
    )
    assert "holds_max_model_len" not in without and without.fits.all()


def test_sweep_refuses_a_max_model_len_shorter_than_its_requests():
    with pytest.raises(PlannerError, match=r"max_model_len 1,000: must be a whole number of tokens from 1,280 \(the requests' ISL \+ OSL\)"):
        sweep(
            "llama-3.1-8b", gpus=["L40S"], precisions=["fp16"], tps=[1], pps=[1], batches=[1], lengths=[(1024, 256)], engine=EngineSettings(max_model_len=1000)
        )


def test_sweep_and_search_answer_for_the_engine_release_asked():
    # vLLM 0.6.4 (the V0 engine) profiles a forward pass of max_model_len tokens: less KV cache than V1
    v0 = EngineSettings(engine="vllm", version="0.6.4", max_model_len=20_000)
    kw = dict(gpus=["RTX-3090"], precisions=["fp16"], tps=[1], pps=[1], batches=[8], lengths=[(1024, 256)], efficiencies=DEFAULT_EFFICIENCIES)
    old = sweep("llama-3.1-8b", engine=v0, **kw)
    new = sweep("llama-3.1-8b", engine=EngineSettings(engine="vllm", max_model_len=20_000), **kw)
    e = estimate(
        "llama-3.1-8b", "RTX-3090", "fp16", isl=1024, osl=256, concurrency=8, engine="vllm", engine_version="0.6.4", max_model_len=20_000, profile="none"
    )
    assert old.kv_cache_gib_per_gpu[0] == pytest.approx(e.kv_cache_gib_per_gpu, rel=1e-9)
    assert old.kv_cache_gib_per_gpu[0] < new.kv_cache_gib_per_gpu[0]
    # the release picks the calibration profile, as estimate picks it
    from planner.search import candidates
    from planner.workload import parse_workload

    mix = parse_workload("isl=1024;osl=256")
    for version in ("0.13", "1.0"):
        c = candidates("llama-3.1-70b", mix, ["H100"], ["fp8"], [4], [1], EngineSettings(version=version), dep=False)
        est = estimate("llama-3.1-70b", "H100", "fp8", tp=4, isl=1024, osl=256, engine_version=version)
        prof, _ = c.profiles[(0, 0)]
        assert est.source.endswith(f":{prof.name}") and prof.name.endswith(f"--v{version}")
    with pytest.raises(PlannerError, match="engine_version 'banana' is not a version number"):
        sweep("llama-3.1-8b", engine=EngineSettings(version="banana"), **kw)


def test_a_quantized_checkpoint_is_swept_at_its_own_precision_unless_told():
    # as recommend does: FP16 rows for an FP8 checkpoint would plan a checkpoint nobody gave
    own = sweep("Qwen/Qwen3-235B-A22B-FP8", gpus=["H200"], tps=[4], pps=[1], batches=[8], lengths=[(1024, 256)])
    assert set(own.precision) == {"fp8"} and set(own.kv_precision) == {"fp8"}
    asked = sweep("Qwen/Qwen3-235B-A22B-FP8", gpus=["H200"], precisions=["bf16"], tps=[8], pps=[1], batches=[8], lengths=[(1024, 256)])
    assert set(asked.precision) == {"bf16"}
    sixteen = sweep("llama-3.1-8b", gpus=["H100"], tps=[1], pps=[1], batches=[8], lengths=[(1024, 256)])
    assert {"fp16", "fp8", "int4"} <= set(sixteen.precision)


def test_each_sweep_row_states_the_source_and_uncertainty_estimate_states():
    """A sweep row says whether it is calibrated or extrapolated and how uncertain, as `estimate`
    does for that configuration: at one client the batch lies below what the profiles were fitted
    on (extrapolated, wider), at 64 inside it; DGX-GH200 TP2 states the poor fit of its TP2 points."""
    frame = sweep("llama-3.1-70b", gpus=["H100", "DGX-GH200", "H20"], precisions=["fp8"], tps=[2, 4], pps=[1], batches=[1, 64], lengths=[(1024, 1024)])
    for _, row in frame.iterrows():
        e = estimate("llama-3.1-70b", row.gpu, precision="fp8", tp=int(row.tp), isl=1024, osl=1024, concurrency=int(row.concurrency))
        assert (row.source, row.uncertainty_pct) == (e.source, pytest.approx(e.uncertainty_pct, rel=1e-9)), (row.gpu, row.tp, row.concurrency)
    profiled = frame[frame.gpu != "H20"].set_index(["gpu", "tp", "concurrency"])
    one, many = profiled.xs(1, level="concurrency"), profiled.xs(64, level="concurrency")
    assert one.source.astype(str).str.startswith("extrapolated:").all() and many.source.astype(str).str.startswith("calibrated:").all()
    assert (one.uncertainty_pct > many.uncertainty_pct).all()
    assert frame[(frame.gpu == "DGX-GH200") & (frame.tp == 2)].uncertainty_pct.min() > 100
    assert (frame[frame.gpu == "H20"].source == "analytic").all()


def test_row_sources_labels_only_the_rows_of_each_profiles_pair():
    """A profile for a GPU x precision pair that has no rows (a precision no GPU of the grid runs)
    labels nothing: rows of GPU 1 at precision 0 are not GPU 0's at precision 1."""
    from planner.profiles import find_profile
    from planner.sweep import row_sources

    model = get_model("llama-3.1-8b")
    found = {(1, 0): find_profile("H200-SXM", "trtllm", "fp8", model=model), (0, 1): find_profile("H100-SXM", "trtllm", "fp8", model=model)}
    assert all(prof is not None for prof, _ in found.values())
    gpu_idx, prec_idx = np.array([0, 0, 1, 1, 2]), np.zeros(5, dtype=int)
    source, pct = row_sources(model, gpu_idx, prec_idx, 1, 1024, 1024, 64, found)
    h200 = found[(1, 0)][0].name
    assert list(source[:2]) == ["analytic", "analytic"] and all(str(s).endswith(h200) for s in source[2:4]) and source[4] == "analytic"
    assert pct[0] == pct[4] == 40.0 and (pct[2:4] < 40.0).all()
    # the same rows in another order get the same labels
    order = np.array([4, 2, 0, 3, 1])
    again, _ = row_sources(model, gpu_idx[order], prec_idx[order], 1, 1024, 1024, 64, found)
    assert list(again) == list(np.asarray(source)[order])
