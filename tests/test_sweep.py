"""The vectorised sweep computes exactly what one configuration at a time computes."""

import numpy as np
import pytest

from planner import estimate, serving, sweep
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
