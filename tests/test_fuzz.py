"""Bad input, generated: every case is one line on stderr, exit code 2, no traceback, nothing written.

Two parts:
- a generated corpus of bad `config.json` files (every field the planner reads x wrong types,
  strings, lists, NaN, 0, negatives, 2^63, 1e30, booleans, fractions; missing keys; deep
  nesting; broken relations), each of which must name the field;
- property-based fuzzing (hypothesis) of the CLI's arguments, config loading, the importers and
  profile loading: 600 generated bad inputs per run (`FUZZ_EXAMPLES`).

Everything runs in-process through `planner.cli.main`, so an uncaught exception fails the test
with its traceback.
"""

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cli import main
from planner.configs import ConfigFields
from planner.profiles import BOUNDS, PROFILE_DIR
from tests.conftest import ROOT, SHARED_DATA

BASE_CONFIG = json.loads((ROOT / "model_configs" / "meta-llama--Llama-3.1-8B.json").read_text())
MOE_CONFIG = json.loads((ROOT / "model_configs" / "mistralai--Mixtral-8x7B-v0.1.json").read_text())
SHIPPED_PROFILE = json.loads((PROFILE_DIR / "L40S--trtllm--fp8--v0.13.json").read_text())
SHIPPED_PROFILE["points"] = SHIPPED_PROFILE["points"][:2]  # a valid profile still, and short reports
#: Generated inputs per fuzz test; `PLANNER_FUZZ_SCALE=10` for a deeper run.
FUZZ_EXAMPLES = {k: v * int(os.environ.get("PLANNER_FUZZ_SCALE", "1")) for k, v in {"config": 150, "cli": 150, "import": 150, "profile": 150}.items()}
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NOT_A_SIZE = ["x", "", [], [8], {}, {"a": 1}, math.nan, math.inf, 0, -1, -4096, 2**63, 1e30, 1.5, 4096.0, True, False]
NOT_A_FLAG = ["x", 2, 0.5, [], {}, math.nan]
NOT_A_MAPPING = ["x", 3, [1, 2], math.nan, True]
SIZE_FIELDS = [n for n, f in ConfigFields.model_fields.items() if "StrictInt" in str(f.annotation) or "int" in str(f.annotation).lower()]
FLAG_FIELDS = [n for n, f in ConfigFields.model_fields.items() if "bool" in str(f.annotation).lower()]
REQUIRED = [("hidden_size", "n_embd", "d_model"), ("num_hidden_layers", "n_layer", "num_layers"), ("num_attention_heads", "n_head"), ("vocab_size",)]


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    return rc, err


def assert_refused(rc: int, err: str, written: list[Path] = ()) -> str:
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for path in written:
        assert not path.exists(), f"{path} was written"
    return lines[0]


def estimate_argv(config: Path, *extra: str) -> list[str]:
    return ["estimate", "--model", str(config), "--gpu", "H100", "--isl", "256", "--osl", "32", *extra]


def write_json_text(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, allow_nan=True))
    return path


# ---- the generated corpus of bad configs -------------------------------------------------


def _accepted(fields: dict) -> bool:
    try:
        ConfigFields.model_validate(fields)
    except ValueError:
        return False
    return True


def _config_cases():
    cases = []
    for field in SIZE_FIELDS:
        base = MOE_CONFIG if "expert" in field else BASE_CONFIG
        for value in NOT_A_SIZE:
            if _accepted({field: value}):
                continue  # e.g. 0 experts or 0 shared experts: allowed counts
            cases.append((f"{field}={value!r}", {**base, field: value}, field))
    for field in FLAG_FIELDS:
        for value in NOT_A_FLAG:
            cases.append((f"{field}={value!r}", {**BASE_CONFIG, field: value}, field))
    for field in ("rope_scaling", "quantization_config"):
        for value in NOT_A_MAPPING:
            cases.append((f"{field}={value!r}", {**BASE_CONFIG, field: value}, field))
    cases.append(("rope_scaling.factor=nan", {**BASE_CONFIG, "rope_scaling": {"rope_type": "yarn", "factor": math.nan}}, "rope_scaling.factor"))
    cases.append(("quantization bits='four'", {**BASE_CONFIG, "quantization_config": {"quant_method": "awq", "bits": "four"}}, "quantization_config.bits"))
    cases.append(("config_groups=[1]", {**BASE_CONFIG, "quantization_config": {"quant_method": "compressed-tensors", "config_groups": [1]}}, "config_groups"))
    cases.append(("ignore='lm_head'", {**BASE_CONFIG, "quantization_config": {"quant_method": "fp8", "ignore": "lm_head"}}, "ignore"))
    cases.append(("model_type=7", {**BASE_CONFIG, "model_type": 7}, "model_type"))
    cases.append(("model_type=unknown", {**BASE_CONFIG, "model_type": "my_new_arch"}, "model_type"))
    cases.append(("no model_type", {k: v for k, v in BASE_CONFIG.items() if k != "model_type"}, "model_type"))
    for names in REQUIRED:
        cases.append((f"missing {names[0]}", {k: v for k, v in BASE_CONFIG.items() if k not in names}, names[0]))
    cases.append(("kv heads do not divide heads", {**BASE_CONFIG, "num_key_value_heads": 7}, "num_key_value_heads"))
    cases.append(("hidden not a multiple of heads", {**{k: v for k, v in BASE_CONFIG.items() if k != "head_dim"}, "hidden_size": 4100}, "hidden_size"))
    cases.append(("top-k above experts", {**MOE_CONFIG, "num_experts_per_tok": 9}, "num_experts_per_tok"))
    cases.append(("experts without top-k", {**{k: v for k, v in MOE_CONFIG.items() if k != "num_experts_per_tok"}}, "num_experts_per_tok"))
    cases.append(("layer_types too short", {**BASE_CONFIG, "layer_types": ["full_attention"] * 3}, "layer_types"))
    cases.append(("a list, not an object", [BASE_CONFIG], "JSON object"))
    cases.append(("a string", "config", "JSON object"))
    return cases


CONFIG_CASES = _config_cases()


def test_the_bad_config_corpus_is_large_and_covers_every_field():
    assert len(CONFIG_CASES) >= 300
    covered = {field for _, _, field in CONFIG_CASES}
    assert set(SIZE_FIELDS) | set(FLAG_FIELDS) <= covered


@pytest.mark.parametrize(("label", "config", "field"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_every_bad_config_is_one_line_naming_the_field(tmp_path, capsys, label, config, field):
    path = write_json_text(tmp_path / "config.json", config)
    line = assert_refused(*run(estimate_argv(path), capsys))
    assert field.split(".")[-1] in line, line


@pytest.mark.parametrize(
    ("label", "text", "says"),
    [
        ("deep nesting", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("deep object", '{"a":' * 50_000 + "1" + "}" * 50_000, ""),
        ("truncated", json.dumps(BASE_CONFIG)[:200], "malformed config.json at line 1"),
        ("not UTF-8", b"\xff\xfe\x00{".decode("latin-1"), ""),
        ("empty", "", "malformed config.json"),
    ],
)
def test_malformed_config_files(tmp_path, capsys, label, text, says):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode("latin-1") if label == "not UTF-8" else text.encode())
    assert says in assert_refused(*run(estimate_argv(path), capsys))


# ---- property-based fuzzing -------------------------------------------------------------

bad_sizes = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=2**31),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not (x.is_integer() and 1 <= x < 2**20)),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.booleans(),
)


@settings(max_examples=FUZZ_EXAMPLES["config"], **FUZZ)
@given(
    field=st.sampled_from(["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "intermediate_size"]),
    value=bad_sizes,
)
def test_fuzz_config_fields(tmp_path, capsys, field, value):
    path = write_json_text(tmp_path / "config.json", {**BASE_CONFIG, field: value})
    line = assert_refused(*run(estimate_argv(path), capsys))
    assert field in line or field == "num_key_value_heads" and "num_attention_heads" in line, line


@settings(max_examples=60, **FUZZ)
@given(
    hidden=st.integers(1, 1 << 15),
    heads_log=st.integers(0, 7),
    kv_div=st.integers(0, 7),
    layers=st.integers(1, 300),
    vocab=st.integers(1, 300_000),
    inter=st.integers(1, 1 << 16),
)
def test_fuzz_valid_configs_never_crash(tmp_path, capsys, hidden, heads_log, kv_div, layers, vocab, inter):
    """Configs inside every bound: an answer or a one-line refusal, never an exception."""
    heads = 2**heads_log
    kv = max(1, heads // 2**kv_div)
    cfg = {**BASE_CONFIG, "hidden_size": hidden, "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": max(1, hidden // heads)}
    cfg.update(num_hidden_layers=layers, vocab_size=vocab, intermediate_size=inter)
    path = write_json_text(tmp_path / "config.json", cfg)
    rc, err = run(estimate_argv(path, "--format", "json"), capsys)
    assert "Traceback" not in err
    if rc != 0:
        assert_refused(rc, err)


cli_values = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**64), 2**64).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "-1", "0", "nan", "inf", "1e400", "0x10", "1_000", "--", "fixed:", "normal:mean=-1,std=1", "isl=0;osl=1"]),
)
CLI_OPTIONS = ["--isl", "--osl", "--tp", "--pp", "--ep", "--attention-dp", "--concurrency", "--request-rate", "--num-requests", "--precision", "--kv-precision", "--engine-version", "--trtllm-backend", "--max-batch-size", "--max-num-tokens", "--max-model-len", "--free-gpu-memory-fraction", "--workload", "--engine"]  # fmt: skip


@settings(max_examples=FUZZ_EXAMPLES["cli"], **FUZZ)
@given(option=st.sampled_from(CLI_OPTIONS), value=cli_values.filter(lambda v: not v.startswith("-") or v.lstrip("-").replace(".", "").isdigit()))
def test_fuzz_estimate_arguments(capsys, option, value):
    argv = ["estimate", "--model", "llama-3.1-8b", "--gpu", "H100", option, value]
    rc, err = run(argv, capsys)
    assert "Traceback" not in err
    if rc != 0:  # some generated values are valid (e.g. --tp 2, --isl 7)
        line = assert_refused(rc, err)
        assert (
            option.lstrip("-").replace("-", "_") in line.replace("-", "_").replace(" ", "_")
            or "workload" in line
            or "isl" in line
            or "osl" in line
            or "argument" in line
        ), line


SWEEP_OPTIONS = [
    "--max-model-len",
    "--max-batch-size",
    "--max-num-tokens",
    "--free-gpu-memory-fraction",
    "--engine",
    "--engine-version",
    "--rates",
    "--concurrency",
    "--tp",
]


@settings(max_examples=FUZZ_EXAMPLES["cli"], **FUZZ)
@given(
    option=st.sampled_from(SWEEP_OPTIONS),
    value=cli_values.filter(lambda v: not v.startswith("-") or v.lstrip("-").replace(".", "").isdigit()),
    rates=st.booleans(),
)
def test_fuzz_sweep_arguments(capsys, option, value, rates):
    load = [] if option in ("--rates", "--concurrency") else (["--rates", "2"] if rates else ["--concurrency", "4"])
    argv = ["sweep", "--model", "llama-3.1-8b", "--gpus", "H100", "--precisions", "fp8", "--pp", "1", "--isl", "512", "--osl", "128", *load, option, value]
    rc, err = run(argv, capsys)
    assert "Traceback" not in err
    if rc != 0:
        line = assert_refused(rc, err)
        assert option.lstrip("-").replace("-", "_") in line.replace("-", "_").replace(" ", "_") or "argument" in line, line


REAL = SHARED_DATA / "formats" / "real"
SEED_FILES = [
    SHARED_DATA / "formats" / "trtllm_bench_report.json",
    REAL / "vllm_benchmaxxing_qwen3-32b_b200_tp4dp2.json",
    REAL / "genai_perf_wellflat-k8s-dev_gpt-oss-20b_2025-09_profile_export_genai_perf.json",
    REAL / "aiperf_examples-run1_profile_export_aiperf.json",
]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12,
)
format_keys = st.sampled_from(["performance", "engine", "world_info", "output_throughput", "completed", "records", "benchmark_duration", "input_config"])


@st.composite
def bad_benchmark_files(draw):
    kind = draw(st.sampled_from(["truncated", "bytes", "json", "csv", "jsonl"]))
    if kind == "truncated":
        text = draw(st.sampled_from(SEED_FILES)).read_text()
        return kind, ".json", text[: draw(st.integers(1, len(text) - 2))].encode()
    if kind == "bytes":
        return kind, draw(st.sampled_from([".json", ".csv", ".txt", ".jsonl"])), draw(st.binary(max_size=200))
    if kind == "json":
        obj = draw(st.dictionaries(format_keys, json_values, min_size=1, max_size=4))
        return kind, ".json", json.dumps(obj).encode()
    if kind == "csv":
        head = draw(st.sampled_from(["Metric,avg,min,max", "model,gpu,precision,isl,osl", "Metric,Value", "config name,x"]))
        rows = draw(st.lists(st.lists(st.text(alphabet='ab1.-," ', max_size=6), min_size=1, max_size=5).map(",".join), max_size=4))
        return kind, ".csv", "\n".join([head, *rows]).encode()
    line = draw(st.dictionaries(st.sampled_from(["completed", "output_throughput", "server_info", "request_rate"]), json_values, max_size=4))
    return kind, ".jsonl", (json.dumps(line) + "\n" + draw(st.text(max_size=20))).encode()


@settings(max_examples=FUZZ_EXAMPLES["import"], **FUZZ)
@given(case=bad_benchmark_files())
def test_fuzz_importers(capsys, case):
    kind, suffix, data = case
    tmp_path = Path(tempfile.mkdtemp(prefix="fuzz-import-"))  # one folder per example: nothing left from the last one
    path = tmp_path / f"bench{suffix}"
    path.write_bytes(data)
    out = tmp_path / "out.csv"
    profiles = tmp_path / "profiles"
    assert_refused(*run(["import", str(path), "--out", str(out)], capsys), written=[out])
    assert_refused(*run(["calibrate", "--measurements", str(path), "--out", str(profiles)], capsys), written=[profiles])
    shutil.rmtree(tmp_path)


@st.composite
def bad_profiles(draw):
    data = json.loads(json.dumps(SHIPPED_PROFILE))
    kind = draw(st.sampled_from(["out of bounds", "wrong type", "unknown key", "missing key", "not json", "not an object"]))
    if kind == "out of bounds":
        name = draw(st.sampled_from(sorted(BOUNDS)))
        lo, hi = BOUNDS[name]
        data["parameters"][name] = draw(st.one_of(st.floats(max_value=lo, exclude_max=True), st.floats(min_value=hi, exclude_min=True), st.just(math.nan)))
    elif kind == "wrong type":
        key = draw(st.sampled_from(["parameters", "residuals", "ranges", "points", "fitted", "gpu", "made_by"]))
        data[key] = draw(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), min_size=1, max_size=2)).filter(lambda v: v != data[key]))
    elif kind == "unknown key":
        data[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in data))] = draw(json_values)
    elif kind == "missing key":
        del data[draw(st.sampled_from(["parameters", "gpu", "precision", "residuals", "ranges", "made_by", "compute_precision"]))]
    elif kind == "not json":
        return json.dumps(data)[: draw(st.integers(0, 300))]
    else:
        return json.dumps(draw(st.one_of(st.lists(json_values, max_size=3), st.integers(), st.text(max_size=5))))
    return json.dumps(data, allow_nan=True)


@settings(max_examples=FUZZ_EXAMPLES["profile"], **FUZZ)
@given(text=bad_profiles())
def test_fuzz_profiles(tmp_path, capsys, text):
    path = tmp_path / "profile.json"
    path.write_text(text)
    line = assert_refused(*run(["estimate", "--model", "llama-3.1-8b", "--gpu", "L40S", "--profile", str(path)], capsys))
    assert str(path) in line


def test_a_profile_folder_with_one_bad_file_is_refused_naming_it(tmp_path, capsys):
    folder = tmp_path / "profiles"
    folder.mkdir()
    shutil.copy(PROFILE_DIR / "L40S--trtllm--fp8--v0.13.json", folder / "good.json")
    (folder / "bad.json").write_text(json.dumps({**SHIPPED_PROFILE, "parameters": {"eta_memory": -1}}))
    line = assert_refused(*run(["predict", str(SHARED_DATA / "measured" / "trtllm_v0.14_online.csv"), "--profile", str(folder / "bad.json")], capsys))
    assert "bad.json" in line and "eta_memory" in line


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("name", "text", "argv"),
    [
        ("bench.json", '{"a":' + DEEP + "}", ["import", "{path}", "--out", "{out}"]),
        ("bench.jsonl", '{"a":' + DEEP + "}\n", ["import", "{path}", "--out", "{out}"]),
        ("measurements.json", '{"a":' + DEEP + "}", ["calibrate", "--measurements", "{path}", "--out", "{out}"]),
        ("profile.json", '{"a":' + DEEP + "}", ["estimate", "--model", "llama-3.1-8b", "--gpu", "L40S", "--profile", "{path}"]),
        ("log.json", DEEP, ["workload", "{path}"]),
        ("prices.yaml", "prices: " + DEEP, ["recommend", "--model", "llama-3.1-8b", "--rate", "1", "--ttft-ms", "1000", "--prices", "{path}"]),
    ],
)
def test_deeply_nested_files_are_refused(tmp_path, capsys, name, text, argv):
    path, out = tmp_path / name, tmp_path / "out"
    path.write_text(text)
    line = assert_refused(*run([a.format(path=path, out=out) for a in argv], capsys), written=[out])
    assert "nested too deeply" in line


@settings(max_examples=60, **FUZZ)
@given(
    option=st.sampled_from(["--rate", "--ttft-ms", "--itl-ms", "--budget", "--headroom", "--isl", "--price"]),
    value=cli_values.filter(lambda v: not v.startswith("-")),
)
def test_fuzz_report_arguments(capsys, option, value):
    out = Path(tempfile.mkdtemp(prefix="fuzz-report-")) / "r.json"
    argv = [
        "report",
        "--model",
        "llama-3.1-8b",
        "--workload",
        "isl=512;osl=128",
        "--rate",
        "2",
        "--itl-ms",
        "50",
        "--gpus",
        "H100",
        option,
        value,
        "--format",
        "json",
        "--out",
        str(out),
    ]
    rc, err = run(argv, capsys)
    assert "Traceback" not in err
    if rc != 0:
        assert_refused(rc, err, written=[out])
    shutil.rmtree(out.parent)
