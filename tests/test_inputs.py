"""Trustworthy inputs: every value that enters the model is validated with bounds, and a bad
one is a one-line error that names it (configs, profiles, fits)."""

import json
import math

import pandas as pd
import pytest

from planner.calibration import MAX_FIT_MEDIAN_PCT, calibrate
from planner.errors import PlannerError
from planner.profiles import BOUNDS, PROFILE_DIR, Profile, load_profile, profiles
from tests.conftest import SHARED_DATA

SHIPPED = PROFILE_DIR / "L40S--trtllm--fp8--v0.13.json"


def test_shared_data_is_present():
    """The accuracy, engine-memory, importer and trace tests read ../shared/data: CI fails without it."""
    for part in ("measured", "engine_memory", "formats/real", "traces"):
        assert (SHARED_DATA / part).is_dir(), f"{SHARED_DATA / part} is missing: the tests need the shared data"


def _profile_with(tmp_path, **parameters):
    data = json.loads(SHIPPED.read_text())
    data["parameters"].update(parameters)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"eta_memory": -0.5}, "eta_memory = -0.5 is outside its physical range [0.05, 1.0]"),
        ({"eta_compute": 1.7}, "eta_compute = 1.7 is outside its physical range [0.02, 1.0]"),
        ({"step_overhead_ms": 1e9}, "step_overhead_ms"),
        ({"overlap_exponent": 0}, "unknown parameter 'overlap_exponent'"),
        ({"eta_comm": math.nan}, "parameters.eta_comm: Input should be a finite number"),
    ],
)
def test_a_profile_outside_physical_bounds_is_refused_naming_the_field(tmp_path, parameters, says):
    path = _profile_with(tmp_path, **parameters)
    with pytest.raises(PlannerError) as exc:
        load_profile(path)
    assert str(path) in str(exc.value) and says in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_profile_with_unknown_keys_is_refused(tmp_path):
    data = json.loads(SHIPPED.read_text())
    data["secret_sauce"] = 1
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlannerError, match="secret_sauce: Extra inputs are not permitted"):
        load_profile(path)


def test_every_shipped_profile_is_inside_the_bounds():
    shipped = profiles()
    assert len(shipped) > 10
    for p in shipped:
        for name, value in p.parameters.items():
            lo, hi = BOUNDS[name]
            assert lo <= value <= hi, (p.name, name, value)
        assert p.efficiencies().eta_memory == p.parameters["eta_memory"]


def test_efficiencies_built_from_a_profile_are_validated():
    data = json.loads(SHIPPED.read_text())
    profile = Profile.model_validate(data)
    # bypassing the profile's validation still cannot produce negative efficiencies
    bad = profile.model_copy(update={"parameters": {**profile.parameters, "eta_memory": -0.5}})
    with pytest.raises(ValueError, match="eta_memory"):
        bad.efficiencies()


def _v013(gpu, precision, model, tp):
    frame = pd.read_csv(SHARED_DATA / "measured" / "trtllm_v0.13_offline.csv")
    return frame[(frame.gpu == gpu) & (frame.precision == precision) & frame.model.str.contains(model, regex=False) & (frame.tp == tp)].copy()


def test_a_fit_of_mislabelled_rows_is_refused_with_the_rows_that_disagree():
    """Measured Llama-3.1-70B TP8 rows recorded as TP1 (what a guessing importer did): the fit
    cannot match them within physical bounds, and it is refused, not saved."""
    rows = _v013("H100-SXM", "fp8", "Llama-3.1-70B", 8)
    assert len(rows) >= 5
    rows["tp"] = 1
    with pytest.raises(PlannerError) as exc:
        calibrate(rows, "H100-SXM", "trtllm", "fp8")
    msg = str(exc.value)
    assert f"> {MAX_FIT_MEDIAN_PCT:.0f}%" in msg and "rows that disagree most" in msg and "Llama-3.1-70B tp 1" in msg


def test_the_same_rows_with_their_real_tp_fit_well():
    profile = calibrate(_v013("H100-SXM", "fp8", "Llama-3.1-70B", 8), "H100-SXM", "trtllm", "fp8")
    assert profile.residuals.median_abs_pct < 15
