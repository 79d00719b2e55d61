"""Workloads: distribution specs, request logs (the Azure traces and the other public formats),
their summaries, and one-line errors for every kind of bad input."""

import json
import math

import numpy as np
import pytest

from planner import PlannerError
from planner import requestlog as rl
from planner.catalog import get_model
from planner.search import candidates
from planner.sizing import engine_sizing
from planner.specs import KvPrecision
from planner.workload import parse_length, parse_workload
from tests.conftest import ROOT

TRACES = ROOT.parent / "shared" / "data" / "traces"


def test_distribution_specs():
    rng = np.random.default_rng(0)
    assert parse_length(1024).mean == 1024 and parse_length("fixed:512").sample(3, rng).tolist() == [512, 512, 512]
    n = parse_length("normal:mean=2000,std=400")
    x = n.sample(50_000, rng)
    assert abs(x.mean() - 2000) < 10 and abs(x.std() - 400) < 10
    assert n.quantile(0.5) == pytest.approx(2000) and n.quantile(0.9) == pytest.approx(2000 + 1.2816 * 400, rel=1e-3)
    ln = parse_length("lognormal:median=800,sigma=0.9")
    assert np.median(ln.sample(50_000, rng)) == pytest.approx(800, rel=0.03)
    assert ln.mean == pytest.approx(800 * np.exp(0.9**2 / 2))
    u = parse_length("uniform:low=100,high=300")
    assert u.quantile(0.25) == pytest.approx(150) and u.sample(1000, rng).min() >= 100
    e = parse_length("empirical:10,20,30,40")
    assert e.mean == 25 and set(e.sample(100, rng)) <= {10, 20, 30, 40}
    assert parse_length("normal:mean=5,std=100").sample(1000, rng).min() >= 1  # clipped to one token


@pytest.mark.parametrize(
    "spec, message",
    [
        ("-5", "between 1 and"),
        ("1.5", "whole number"),
        ("fixed:0", "between 1 and"),
        ("gamma:k=2", "is not a length or a distribution"),
        ("normal:mean=abc,std=1", "mean must be a number"),
        ("normal:mean=100", "needs std"),
        ("normal:mean=100,sd=5", "normal takes mean=, std="),
        ("uniform:low=10,high=5", "low <= high"),
        ("lognormal:median=100,sigma=9", "sigma 0..4"),
        ("normal:mean=1e30,std=1", "mean must be"),
        ("normal:mean=nan,std=1", "finite"),
        ("empirical:", "empirical values"),
        ("empirical:5,x", "numbers separated by commas"),
    ],
)
def test_bad_length_specs_name_the_value(spec, message):
    with pytest.raises(PlannerError) as exc:
        parse_length(spec, "isl")
    text = str(exc.value)
    assert message in text and "\n" not in text and text.startswith("isl ")


def test_workload_specs_and_prefix_caching():
    w = parse_workload("isl=normal:mean=2000,std=400;osl=fixed:256;prefix=512")
    assert w.mean_osl == 256 and w.prefix_tokens == 512
    assert w.cached_tokens(np.array([100, 2000])).tolist() == [99, 512]  # never the whole prompt
    h = parse_workload("isl=1000 osl=100 cache_hit=0.3")
    assert h.cached_tokens(np.array([1000])).tolist() == [300]
    assert parse_workload(None, 300, "uniform:low=10,high=20").isl.mean == 300
    for bad, msg in [
        ("isl=100;speed=3", "expected a request-log file"),
        ("isl=100", "lacks osl"),
        ("isl=100;osl=10;cache_hit=1.5", "cache_hit must be a fraction"),
        ("isl=100;osl=10;prefix=-1", "prefix must be"),
    ]:
        with pytest.raises(PlannerError, match=msg):
            parse_workload(bad)


def test_azure_conversation_trace():
    log = rl.read_log(TRACES / "azure_llm_2023_conv.csv")
    assert len(log) == 19_366 and not log.estimated
    assert log.isl.min() >= 1 and log.osl.max() == 1000
    assert 3400 < log.duration_s < 3600  # one hour
    per_min = log.per_minute()
    assert per_min.sum() == 19_366
    start, peak = log.peak_window()
    assert peak >= per_min.mean() / 60 and peak * 60 <= per_min.max() * 2
    shares = rl.pattern_shares(log.isl, log.osl)
    assert shares.requests.sum() == 19_366 and shares.share_requests.sum() == pytest.approx(1.0)
    counts, ie, oe = rl.histogram2d(log.isl, log.osl)
    assert counts.sum() == 19_366 and ie[0] == 1 and ie[-1] >= log.isl.max()
    mix = log.mix()
    assert mix.pairs.shape == (19_366, 2) and mix.mean_isl == pytest.approx(log.isl.mean())


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_other_trace_formats(tmp_path):
    burst = write(
        tmp_path,
        "burst.csv",
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n0,gpt,100,20,120,Conversation log\n2.5,gpt,300,40,340,Conversation log\n",
    )
    b = rl.read_log(burst)
    assert b.isl.tolist() == [100, 300] and b.arrivals_s.tolist() == [0.0, 2.5]
    moon = write(
        tmp_path,
        "mooncake.jsonl",
        '{"timestamp": 0, "input_length": 6955, "output_length": 52, "hash_ids": [1]}\n{"timestamp": 3000, "input_length": 100, "output_length": 9, "hash_ids": [2]}\n',
    )
    m = rl.read_log(moon)
    assert m.arrivals_s.tolist() == [0.0, 3.0] and "ms" in m.time_note  # Mooncake's timestamps are milliseconds
    vidur = write(tmp_path, "vidur.csv", "num_prefill_tokens,num_decode_tokens\n512,128\n")
    assert rl.read_log(vidur).osl.tolist() == [128] and rl.read_log(vidur).arrivals_s is None
    custom = write(tmp_path, "custom.csv", "p,c,t\n10,5,1\n20,6,0\n")
    c = rl.read_log(custom, input_column="p", output_column="c", time_column="t")
    assert c.isl.tolist() == [20, 10] and "sorted" in c.time_note  # rows put in time order, lengths with them
    text = write(tmp_path, "chat.jsonl", json.dumps({"prompt": "x" * 400, "response": "y" * 40}) + "\n")
    t = rl.read_log(text)
    assert t.estimated and t.isl.tolist() == [100] and t.osl.tolist() == [10]
    assert "estimated from text" in t.mix().describe()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("empty.csv", "", "empty"),
        ("nocols.csv", "a,b\n1,2\n", "no column for input tokens and output tokens (columns: a, b)"),
        ("neg.csv", "input_tokens,output_tokens\n10,5\n-3,4\n", "line 3: input tokens -3"),
        ("huge.csv", "input_tokens,output_tokens\n10,1e30\n", "line 2: output tokens"),
        ("text.csv", "input_tokens,output_tokens\n10,abc\n", "line 2: output tokens 'abc'"),
        ("bad.jsonl", '{"input_tokens": 1, "output_tokens": 2}\n{oops\n', "line 2: not a JSON object"),
        ("badtime.csv", "input_tokens,output_tokens,timestamp\n1,2,yesterday-ish\n", "line 2: time 'yesterday-ish'"),
        ("header.csv", "input_tokens,output_tokens\n", "no requests"),
    ],
)
def test_bad_logs_name_the_file_and_line(tmp_path, name, text, message):
    p = write(tmp_path, name, text)
    with pytest.raises(PlannerError) as exc:
        rl.read_log(p)
    assert str(p) in str(exc.value) and message in str(exc.value) and "\n" not in str(exc.value)


def test_size_limit_is_stated(tmp_path, monkeypatch):
    p = write(tmp_path, "big.csv", "input_tokens,output_tokens\n" + "100,10\n" * 1000)
    monkeypatch.setattr(rl, "MAX_LOG_BYTES", 1000)
    with pytest.raises(PlannerError, match="larger than the 0 MiB a request log may be"):
        rl.read_log(p)
    with pytest.raises(PlannerError, match="no such file"):
        rl.read_log(tmp_path / "missing.csv")


def test_engine_sizing_covers_the_percentile():
    mix = parse_workload("isl=lognormal:median=800,sigma=0.8;osl=lognormal:median=200,sigma=0.6")
    m = get_model("llama-3.1-8b")
    z = engine_sizing(mix, m, KvPrecision.fp8, 99.0)
    isl, osl = mix.sample(20_000, np.random.default_rng(5))
    assert np.mean(isl <= z.max_input_len) == pytest.approx(0.99, abs=0.005)
    assert np.mean(isl + osl <= z.max_seq_len) == pytest.approx(0.99, abs=0.005)
    assert z.max_num_tokens >= z.max_input_len and z.max_num_tokens % 256 == 0
    per_token = 2 * 32 * 8 * 128 * 1  # Llama-3.1-8B, FP8 KV: 64 KiB per token
    assert z.kv_gib_per_sequence_at_max_seq_len == pytest.approx(z.max_seq_len * per_token / 1024**3, rel=1e-3)
    assert z.kv_gib_freed_per_sequence == pytest.approx((131_072 - z.max_seq_len) * per_token / 1024**3, rel=1e-3)
    assert z.max_batch_size is None
    # on a deployment: the sequences its KV budget holds, each in whole 32-token TensorRT-LLM blocks
    c = candidates(m, mix, ["H100"], ["fp8"], [1], [1], "trtllm", dep=False)
    budget = float(c.plan.kv_budget[0])
    zd = engine_sizing(mix, m, KvPrecision.fp8, 99.0, "trtllm", (c.setup, c.plan))
    assert int(c.setup.block_tokens) == 32
    assert zd.max_batch_size == int(budget // (math.ceil(zd.max_seq_len / 32) * 32 * per_token))
    assert zd.max_batch_size_at_full_context == int(budget // (131_072 * per_token)) >= 1


def test_engine_sizing_counts_sliding_windows_where_the_engine_keeps_them():
    # gpt-oss-20b: 24 layers of 8 KV heads x 64, 2,048 bytes per token and layer at 16 bits; 12 of
    # them keep a 128-token window under vLLM (and SGLang), none under TensorRT-LLM by default
    m = get_model("openai/gpt-oss-20b")
    assert (m.num_layers, m.num_window_layers, m.sliding_window) == (24, 12, 128)
    mix = parse_workload("isl=4000;osl=96")
    layer = 8 * 64 * 2 * 2
    trt = engine_sizing(mix, m, KvPrecision.fp16, 99.0, "trtllm")
    vllm = engine_sizing(mix, m, KvPrecision.fp16, 99.0, "vllm")
    assert trt.max_seq_len == vllm.max_seq_len == 4096
    assert trt.kv_gib_per_sequence_at_max_seq_len == pytest.approx(24 * layer * 4096 / 1024**3, abs=1e-4)
    # the window layers hold their 128 tokens and the one being written (memory.kv_bytes_per_sequence)
    assert vllm.kv_gib_per_sequence_at_max_seq_len == pytest.approx((12 * layer * 4096 + 12 * layer * 129) / 1024**3, abs=1e-4)
    assert vllm.kv_gib_per_sequence_at_full_context == pytest.approx((12 * layer * 131_072 + 12 * layer * 129) / 1024**3, abs=1e-4)
    # on one H100 under vLLM, the batch the page reports is what the estimate's own request bytes allow
    c = candidates(m, mix, ["H100"], ["mxfp4"], [1], [1], "vllm", dep=False)
    z = engine_sizing(mix, m, KvPrecision.fp16, 99.0, "vllm", (c.setup, c.plan))
    assert z.max_batch_size == int(float(c.plan.kv_budget[0]) // float(c.setup.request_bytes(4096)[0]))
    assert z.max_batch_size > int(float(c.plan.kv_budget[0]) // (24 * layer * 4096)), "windows let more sequences fit"
