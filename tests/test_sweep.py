"""The vectorised sweep computes exactly what one estimate at a time computes."""

import numpy as np
import pytest

from planner import estimate, sweep


def test_sweep_matches_single_estimates():
    frame = sweep(
        "meta-llama/Llama-3.1-70B",
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
    for i in rng.choice(len(frame), size=12, replace=False):
        row = frame.iloc[i]
        e = estimate("meta-llama/Llama-3.1-70B", row.gpu, row.precision, tp=int(row.tp), pp=int(row.pp), isl=1024, osl=256, concurrency=int(row.concurrency))
        assert bool(row.fits) == e.fits
        assert row.weights_gib_per_gpu == pytest.approx(e.weights_gib_per_gpu)
        if e.fits:
            assert row.itl_ms == pytest.approx(e.itl_ms) and row.output_tok_s == pytest.approx(e.output_tok_s)
        else:
            assert np.isnan(row.itl_ms)
