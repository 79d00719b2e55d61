"""The same deployments measured by TensorRT-LLM v0.13 and v1.0 (`bench/engine_versions.py`)."""

import importlib.util
import sys

import pandas as pd
import pytest

from planner.predict import read_measurements
from tests.conftest import ROOT

DATA = ROOT.parent / "shared" / "data" / "measured"


def _bench():
    spec = importlib.util.spec_from_file_location("engine_versions_bench", ROOT / "bench" / "engine_versions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_engine_alone_moves_decode_heavy_throughput():
    # 27 deployments (Llama-3.1-8B TP1 on H100/H200, 405B TP8 on H200, FP8) are in both files;
    # prefill-heavy ones measure alike, decode-heavy ones up to 1.76x faster in v1.0: no single
    # set of engine-agnostic efficiencies can be right for both releases
    bench = _bench()
    m = bench.pairs(read_measurements(DATA / "trtllm_v0.13_offline.csv"), read_measurements(DATA / "trtllm_v1.0_offline.csv"))
    assert len(m) == 27
    ratio = m["output_tok_s_new"] / m["output_tok_s_old"]
    prefill_heavy = m["isl"] > 10 * m["osl"]
    assert ratio[prefill_heavy].between(0.95, 1.05).all()
    assert ratio.max() > 1.7 and ratio.median() > 1.05


def test_data_checks_find_measurements_filed_under_two_deployments():
    # bench/data_checks.py: the AIConfigurator file files some runs twice (the DeepSeek-R1 H200
    # attention-DP run both as DEP8 at 8 clients and as "DEP64" at 1); the TensorRT-LLM tables do not
    spec = importlib.util.spec_from_file_location("data_checks_bench", ROOT / "bench" / "data_checks.py")
    checks = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = checks
    spec.loader.exec_module(checks)
    aic = checks.conflicting_labels(read_measurements(DATA / "aiconfigurator_silicon_agg.csv"))
    assert len(aic) >= 1
    dep = [labels for shared, labels in aic if shared["model"] == "deepseek-ai/DeepSeek-R1" and shared["itl_ms"] == 39.7547]
    assert dep and sorted(dep[0]["attention_dp"].tolist()) == ["64.0", "8.0"] and sorted(dep[0]["concurrency"].tolist()) == ["1", "8"]
    for name in ("trtllm_v0.13_offline.csv", "trtllm_v0.14_online.csv", "trtllm_v1.0_offline.csv"):
        assert checks.conflicting_labels(read_measurements(DATA / name)) == []
        assert checks.unrunnable_precisions(read_measurements(DATA / name)).empty
    # the attention-DP rows file one rank's batch as the concurrency; the reader takes the clients
    # their sources name for all but one of the 169; the 29 other rows whose sources name other
    # clients (several workers, not explained by attention DP) stay as filed
    taken, left = checks.clients_from_source(read_measurements(DATA / "aiconfigurator_silicon_agg.csv"))
    assert taken == 168 and len(left) == 29 and (pd.to_numeric(left["attention_dp"], errors="coerce").fillna(1) <= 1).all()
    # gpt-oss-120b on H200 in TensorRT-LLM filed as NVFP4, which it has no Hopper kernel for; the
    # checkpoint's MXFP4 it runs (W4A16)
    bad = checks.unrunnable_precisions(read_measurements(DATA / "aiconfigurator_silicon_agg.csv"))
    assert bad[["model", "gpu", "engine", "precision", "checkpoint_precision"]].values.tolist() == [
        ["openai/gpt-oss-120b", "H200-SXM", "trtllm", "nvfp4", "mxfp4"]
    ]


def test_compare_commits_counts_changed_new_and_lost_rows():
    import pandas as pd

    spec = importlib.util.spec_from_file_location("compare_commits_bench", ROOT / "bench" / "compare_commits.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    nan = float("nan")
    old = pd.DataFrame({"file": ["a.csv"] * 4, "pred_output_tok_s": [100.0, 200.0, nan, 50.0], "pred_ttft_ms": nan, "pred_itl_ms": nan})
    new = pd.DataFrame({"file": ["a.csv"] * 4, "pred_output_tok_s": [100.0, 210.0, 7.0, nan], "pred_ttft_ms": nan, "pred_itl_ms": nan})
    row = bench.compare(old, new).set_index("quantity").loc["output_tok_s"]
    assert (row.both, row.changed, row.new, row.lost) == (2, 1, 1, 1)
    assert row.max_rel_change == pytest.approx(0.05)
