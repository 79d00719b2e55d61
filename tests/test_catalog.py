"""GPU and model catalogs: every file loads, numbers carry sources, names resolve."""

import json

import pandas as pd
import pytest
from pydantic import ValidationError

from planner import PlannerError, catalog, estimate, get_gpu, get_model, gpus, model_ids
from planner.catalog import GPU_DIR, measured_gpu
from planner.measurements import read_measurements, row_gpu
from planner.specs import GpuSpec
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA / "measured"

REQUIRED_GPUS = [
    "H100-SXM", "H100-PCIe", "H100-NVL", "H200-SXM", "GH200", "H20", "B200", "B300", "GB200", "A100-SXM-80GB", "A100-SXM-40GB",
    "A100-PCIe-80GB", "L40S", "L40", "L4", "A10G", "A10", "T4", "RTX-3090", "RTX-4090", "RTX-5090", "RTX-6000-Ada", "RTX-PRO-6000", "MI300X", "MI325X", "DGX-GH200", "GH200-NVL32",
]  # fmt: skip


def test_required_gpus_present():
    assert set(REQUIRED_GPUS) <= set(gpus())
    assert len(list(GPU_DIR.glob("*.yaml"))) == len(gpus())


@pytest.mark.parametrize("gpu_id", REQUIRED_GPUS)
def test_gpu_numbers_have_sources(gpu_id):
    g = gpus()[gpu_id]
    for field in ("memory_gib", "memory_bandwidth_tb_s", "tflops", "intra_node_bandwidth_gb_s", "inter_node_bandwidth_gb_s", "tdp_w"):
        assert g.sources.get(field), f"{gpu_id}: no source for {field}"
    assert g.memory_gib <= g.memory_gb_marketed, "usable memory cannot exceed the marketed amount"
    assert g.price_usd_per_hour is None or g.price_source


@pytest.mark.parametrize(
    "alias, gpu_id",
    [
        ("H100 80GB HBM3", "H100-SXM"),
        ("H200 141GB HBM3", "H200-SXM"),
        ("A100-SXM4-80GB", "A100-SXM-80GB"),
        ("GH200 120GB", "GH200"),
        ("h100", "H100-SXM"),
        ("l40s", "L40S"),
    ],
)
def test_gpu_aliases(alias, gpu_id):
    assert get_gpu(alias).id == gpu_id


def test_unknown_gpu_names_choices():
    with pytest.raises(PlannerError, match="unknown gpu 'H1000'.*known: .*H100-SXM"):
        get_gpu("H1000")


def test_blackwell_only_has_fp4():
    with_fp4 = {g.id for g in gpus().values() if "fp4" in g.tflops}
    assert with_fp4 == {"B200", "B300", "GB200", "RTX-PRO-6000", "RTX-5090"}
    assert "fp8" not in gpus()["A100-SXM-80GB"].tflops and "bf16" not in gpus()["T4"].tflops


REQUIRED_MODELS = [
    "mistralai/Mixtral-8x22B-v0.1", "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "deepseek-ai/DeepSeek-R1-0528", "openai/gpt-oss-20b", "openai/gpt-oss-120b",
    "EleutherAI/gpt-j-6b", "mistralai/Mistral-7B-v0.1", "meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-70B",
]  # fmt: skip


def test_catalog_covers_required_and_measured_models():
    import pandas as pd

    from tests.conftest import ROOT

    data = ROOT.parent / "shared" / "data"
    wanted = set(REQUIRED_MODELS)
    if data.exists():
        wanted |= set(pd.read_csv(data / "model_configs.csv").hf_id)
        for f in (data / "measured").glob("*.csv"):
            wanted |= set(pd.read_csv(f).model)
    assert wanted <= set(model_ids()), sorted(wanted - set(model_ids()))


UNSUPPORTED: dict[str, str] = {}  # every catalog model is represented (refusals by architecture: tests/test_cli.py)


@pytest.mark.parametrize("model_id", sorted(model_ids()))
def test_every_model_loads_or_says_why(model_id):
    if model_id in UNSUPPORTED:
        with pytest.raises(PlannerError, match=UNSUPPORTED[model_id]):
            get_model(model_id)
    else:
        m = get_model(model_id)
        assert m.params_total > m.params_active > 0 or (not m.is_moe and m.params_total == m.params_active)


@pytest.mark.parametrize(
    "alias, model_id",
    [
        ("llama-3.1-70b", "meta-llama/Llama-3.1-70B"),
        ("Meta-Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
        ("mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1"),
        ("meta-llama--Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"),
    ],
)
def test_model_aliases(alias, model_id):
    assert get_model(alias).id == model_id


def test_model_from_path(tmp_path):
    cfg = json.loads((model_ids()["meta-llama/Llama-3.1-8B"]).read_text())
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert get_model(str(path)).params_total == 8_030_261_248
    assert get_model(str(tmp_path)).params_total == 8_030_261_248


def test_a_checkpoints_quantization_files_beside_its_config_are_read(tmp_path):
    import os

    from planner import estimate

    cfg = json.loads((model_ids()["meta-llama/Llama-3.1-8B"]).read_text())
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert get_model(str(tmp_path)).checkpoint_precision is None  # a 16-bit checkpoint
    # an older ModelOpt export: the scheme only in hf_quant_config.json, as TensorRT-LLM reads it
    side = tmp_path / "hf_quant_config.json"
    side.write_text(json.dumps({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}))
    m = get_model(str(tmp_path))
    assert m.checkpoint_precision.value == "fp8" and m.checkpoint_kv_precision.value == "fp8" and m.quantization == "ModelOpt FP8"
    e = estimate(str(tmp_path), "H100")
    assert (e.precision, e.kv_precision) == ("fp8", "fp8") and "checkpoint's own" in e.precision_source
    # an edited side file is read again; a malformed one names itself and the line
    side.write_text('{\n  "quantization": {"quant_algo": "NVFP4"\n}')
    os.utime(side, ns=(1, 1))
    with pytest.raises(PlannerError, match=r"hf_quant_config.json: malformed hf_quant_config.json at line 3"):
        get_model(str(tmp_path))
    side.unlink()
    # AutoGPTQ's quantize_config.json names no method: it is GPTQ
    (tmp_path / "quantize_config.json").write_text(json.dumps({"bits": 4, "group_size": 128, "desc_act": False}))
    assert get_model(str(tmp_path / "config.json")).checkpoint_precision.value == "int4"
    (tmp_path / "quantize_config.json").write_text(json.dumps({"bits": "four"}))  # a bad value names the file it came from
    with pytest.raises(PlannerError, match=r"\(quantization_config from quantize_config.json\).*bits"):
        get_model(str(tmp_path))
    (tmp_path / "quantize_config.json").write_text(json.dumps({"bits": 4, "group_size": 128}))
    # the config's own quantization_config wins over a file beside it
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "quantization_config": {"quant_method": "fp8"}}))
    assert get_model(str(tmp_path)).checkpoint_precision.value == "fp8"
    # an older compressed-tensors export keeps its scheme under compression_config
    groups = {"group_0": {"weights": {"num_bits": 8, "type": "float"}, "input_activations": {"num_bits": 8, "type": "float"}, "targets": ["Linear"]}}
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "compression_config": {"config_groups": groups, "format": "float-quantized"}}))
    assert get_model(str(tmp_path)).checkpoint_precision.value == "fp8"


def test_malformed_config_names_file_and_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "hidden_size": 4096,\n  "num_hidden_layers": \n}')
    with pytest.raises(PlannerError, match=r"config.json: malformed config.json at line 4"):
        get_model(str(path))


def test_config_missing_key_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "vocab_size": 32000}))
    with pytest.raises(PlannerError, match="lacks 'num_hidden_layers'"):
        get_model(str(path))


def test_gh200_has_no_gpu_peer_unless_the_system_joins_them_over_nvlink():
    """GH200 servers hold one superchip, so TP over several runs on the network; DGX GH200 joins
    this 96 GB HBM3 part over NVLink, GH200 NVL32 the 144 GB HBM3e one. The chip is the same, so
    one GPU answers alike and TP 4 does not."""
    single, joined, nvl32 = gpus()["GH200"], gpus()["DGX-GH200"], gpus()["GH200-NVL32"]
    assert [(g.nvlink_domain_gpus, g.gpus_per_node) for g in (single, joined, nvl32)] == [(1, 1), (256, 256), (32, 32)]
    assert get_gpu("GH200 NVL32").id == "GH200-NVL32" and get_gpu("DGX GH200").id == "DGX-GH200"
    for field in ("memory_gib", "memory_bandwidth_tb_s", "tflops", "tdp_w"):
        assert getattr(single, field) == getattr(joined, field), field
    assert nvl32.memory_gb_marketed == 144 and nvl32.memory_bandwidth_tb_s > single.memory_bandwidth_tb_s and nvl32.tflops == single.tflops
    one = [estimate("llama-3.1-70b", g, precision="fp8", tp=1, profile=False) for g in ("GH200", "DGX-GH200")]
    assert one[0].itl_ms == pytest.approx(one[1].itl_ms)
    four = [estimate("llama-3.1-70b", g, precision="fp8", tp=4, concurrency=64, profile=False) for g in ("GH200", "DGX-GH200")]
    assert four[0].itl_ms > 1.2 * four[1].itl_ms  # all-reduces over a 50 GB/s NIC instead of 450 GB/s NVLink
    said = "TP 4 spans 4 servers of 1 GH200: every layer's all-reduce crosses the network (50 GB/s per GPU); DGX-GH200 joins its GPUs over NVLink"
    assert said in four[0].warnings and not any("spans" in w for w in four[1].warnings + one[0].warnings)
    assert gpus()["H100-SXM"].across_servers_note(8) is None and gpus()["H100-SXM"].across_servers_note(2, attention_dp=8).startswith(
        "TP 2 x attention DP 8 spans 2 servers"
    )


def test_a_measured_run_on_more_gpus_than_a_node_holds_ran_on_the_system_the_gpu_names():
    """The v0.13 table's GH200 rows at TP 2 and TP 4 were one trtllm-bench run each, on one node of
    GH200s (the 96 GB HBM3 part) joined by NVLink: DGX-GH200. A GPU that names no such system
    keeps its own entry, however many GPUs."""
    assert measured_gpu("GH200 120GB", 1).id == "GH200" and measured_gpu("GH200", 4).id == "DGX-GH200"
    assert measured_gpu("H100", 16).id == "H100-SXM"
    rows = read_measurements(SHARED / "trtllm_v0.13_offline.csv")
    gh200 = rows[rows.gpu == "GH200"]
    ran_on = pd.Series([row_gpu(r) for r in gh200.to_dict("records")], index=gh200.index)
    assert set(ran_on[gh200.tp == 1]) == {"GH200"} and set(ran_on[gh200.tp > 1]) == {"DGX-GH200"} and (gh200.tp > 1).sum() > 60
    assert row_gpu({"gpu": "H1000", "tp": 2}) == "H1000"  # the catalog lacks it: estimate names it


def test_a_multi_gpu_system_must_be_a_catalog_gpu_with_more_gpus_per_node(tmp_path, monkeypatch):
    for path in GPU_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setattr(catalog, "GPU_DIR", tmp_path)
    bad = [  # no such entry; an entry with no more GPUs per node than its own 32
        ("GH200", "multi_gpu_system: DGX-GH200", "multi_gpu_system: GH200-NVL64", r"'GH200-NVL64' must be a catalog GPU with more than its 1 GPU\(s\)"),
        ("GH200-NVL32", "gpus_per_node: 32\n", "gpus_per_node: 32\nmulti_gpu_system: GH200\n", r"'GH200' must be a catalog GPU with more than its 32 GPU\(s\)"),
    ]
    try:
        for gpu_id, old, new, message in bad:
            (tmp_path / f"{gpu_id}.yaml").write_text((GPU_DIR / f"{gpu_id}.yaml").read_text().replace(old, new, 1))
            gpus.cache_clear()
            with pytest.raises(PlannerError, match=rf"{gpu_id}.yaml: multi_gpu_system {message} per node"):
                gpus()
            (tmp_path / f"{gpu_id}.yaml").write_text((GPU_DIR / f"{gpu_id}.yaml").read_text())
    finally:
        monkeypatch.undo()
        gpus.cache_clear()


def test_a_host_holds_no_more_gpus_than_its_node():
    data = gpus()["GB200"].model_dump()
    with pytest.raises(ValidationError, match="gpus_per_host 96 must be at most gpus_per_node 72"):
        GpuSpec.model_validate({**data, "gpus_per_host": 96})
    assert gpus()["GB200"].gpus_per_host == 4 and gpus()["GH200-NVL32"].gpus_per_host == 2 and gpus()["H100-SXM"].gpus_per_host is None
