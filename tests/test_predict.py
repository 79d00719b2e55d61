"""`predict`: the vectorised offline path gives exactly what one `estimate` per row gives."""

import pandas as pd
import pytest

from planner.measurements import read_measurements, row_kwargs
from planner.predict import _one, predict
from tests.conftest import SHARED_DATA


@pytest.mark.parametrize("name", ["trtllm_v0.13_offline.csv", "trtllm_v1.0_offline.csv"])
@pytest.mark.parametrize("overrides", [{}, {"profile": False}])
def test_vectorised_offline_rows_equal_one_estimate_each(name, overrides):
    frame = read_measurements(SHARED_DATA / "measured" / name)
    sample = frame.sample(25, random_state=1)
    out = predict(sample, **overrides)
    for (_, row), (_, pred) in zip(sample.iterrows(), out.iterrows(), strict=True):
        tok_s, _, _, _, source, unc = _one({**row_kwargs(row.to_dict()), **overrides})
        assert pred.pred_output_tok_s == pytest.approx(tok_s, rel=1e-12)
        assert pred.pred_source == source and pred.pred_uncertainty_pct == pytest.approx(unc, rel=1e-12)
        assert pd.isna(pred.pred_ttft_ms)  # no measured latency: none simulated


def test_latency_is_simulated_where_measured_or_asked():
    frame = read_measurements(SHARED_DATA / "measured" / "trtllm_v0.13_offline.csv").head(3).copy()
    frame.loc[frame.index[0], "ttft_ms"] = 1000.0
    out = predict(frame)
    assert out.pred_ttft_ms.notna().tolist() == [True, False, False]
    assert predict(frame, latency="all").pred_ttft_ms.notna().all()


def test_bad_rows_keep_their_reason_and_the_rest_is_predicted():
    frame = read_measurements(SHARED_DATA / "measured" / "trtllm_v0.13_offline.csv").head(4).copy()
    frame.loc[frame.index[1], "gpu"] = "Z80"
    frame.loc[frame.index[2], "tp"] = 3
    out = predict(frame)
    assert out.pred_source.iloc[1].startswith("error: unknown gpu 'Z80'")
    assert out.pred_source.iloc[2].startswith("error: tp 3 does not divide") and pd.isna(out.pred_output_tok_s.iloc[2])
    assert out.pred_output_tok_s.iloc[[0, 3]].notna().all()
