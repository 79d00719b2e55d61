"""Deployable settings for an estimate: the engine configuration and launch command that match
its parallelism, limits, KV dtype and memory fraction, and the benchmark commands that would
measure it on real GPUs (whose results `calibrate --measurements` takes back).

TensorRT-LLM: an `extra_llm_api_options` YAML holding only keys its LLM API documents for the
version named (`engine_options/trtllm_llm_api.yaml`) and the `trtllm-serve` command; vLLM: the
`vllm serve` flags; SGLang: the `python -m sglang.launch_server` flags.
"""

from __future__ import annotations

import shlex
from functools import lru_cache

import yaml

from .catalog import ROOT, get_model
from .checkpoints import checkpoint_for
from .engine_limits import sglang_server_defaults
from .errors import PlannerError
from .estimate import Estimate
from .specs import Precision

OPTIONS_FILE = ROOT / "engine_options" / "trtllm_llm_api.yaml"
TRTLLM_VERSION = "1.0"
#: `kv_cache_config.dtype` / `--kv-cache-dtype` values per KV precision ("auto": the model's dtype).
KV_DTYPE = {"fp16": "auto", "bf16": "auto", "fp8": "fp8", "nvfp4": "nvfp4", "int8": "int8"}
VLLM_KV_DTYPE = {"fp16": "auto", "bf16": "auto", "fp8": "fp8", "int8": "int8"}


@lru_cache(maxsize=1)
def documented_keys() -> dict[str, dict]:
    """Per TensorRT-LLM version: the LLM API keys the planner may emit and where they are documented."""
    return yaml.safe_load(OPTIONS_FILE.read_text())


def _flatten(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def check_llm_options(options: dict, version: str = TRTLLM_VERSION) -> None:
    """Refuse a YAML with a key the LLM API of `version` does not document."""
    known = documented_keys().get(version)
    if known is None:
        raise PlannerError(f"no documented LLM API keys for TensorRT-LLM {version} in {OPTIONS_FILE.name}")
    unknown = sorted(set(_flatten(options)) - set(known["keys"]))
    if unknown:
        raise PlannerError(f"LLM API keys not documented for TensorRT-LLM {version}: {', '.join(unknown)}")


def deployment_settings(e: Estimate, checkpoint: str | None = None, free_gpu_memory_fraction: float | None = None) -> dict:
    """Engine configuration, launch command and validation commands matching an estimate: they load
    `checkpoint`, else the checkpoint at the estimate's precision (`planner.checkpoints`)."""
    note = None
    if checkpoint is None:
        try:
            checkpoint = checkpoint_for(get_model(e.model), Precision(e.precision))
        except PlannerError:
            checkpoint = e.model
            note = f"no known {e.precision} checkpoint of {e.model} (model_configs/checkpoints.yaml): the commands name the model; give them a {e.precision} checkpoint of it"
    model = checkpoint
    fraction = 0.9 if free_gpu_memory_fraction is None else free_gpu_memory_fraction
    tp_group = e.tp * e.attention_dp  # TensorRT-LLM / SGLang attention DP runs over the TP GPUs
    options: dict = {
        "kv_cache_config": {"dtype": KV_DTYPE[e.kv_precision], "free_gpu_memory_fraction": fraction, "enable_block_reuse": True},
        "cuda_graph_config": {"enable_padding": True, "max_batch_size": e.max_batch_size},
        "enable_chunked_prefill": True,
    }
    if e.attention_dp > 1:
        options["enable_attention_dp"] = True
    check_llm_options(options)
    trtllm = ["trtllm-serve", model, "--backend", "pytorch", "--tp_size", str(tp_group), "--pp_size", str(e.pp)]
    if e.ep > 1:
        trtllm += ["--ep_size", str(e.ep)]
    trtllm += ["--max_batch_size", str(e.max_batch_size), "--max_num_tokens", str(e.max_num_tokens)]
    if e.max_model_len:
        trtllm += ["--max_seq_len", str(e.max_model_len)]
    trtllm += ["--kv_cache_free_gpu_memory_fraction", f"{fraction:g}", "--extra_llm_api_options", "llm_options.yaml"]
    vllm = ["vllm", "serve", model, "--tensor-parallel-size", str(e.tp), "--pipeline-parallel-size", str(e.pp)]
    if e.attention_dp > 1:
        vllm += ["--data-parallel-size", str(e.attention_dp)]
    if e.ep > 1:
        vllm += ["--enable-expert-parallel"]
    vllm += ["--max-num-seqs", str(e.max_batch_size), "--max-num-batched-tokens", str(e.max_num_tokens), "--gpu-memory-utilization", f"{fraction:g}"]
    try:
        context = get_model(e.model).context_window
    except PlannerError:  # a config given by path: its window is not known here
        context = None
    vllm_len = e.max_model_len
    if vllm_len is None and e.engine == "vllm" and e.longest_sequence_tokens and context and e.longest_sequence_tokens < context:
        vllm_len = e.longest_sequence_tokens  # vLLM refuses to start at the default (the context window) here
    if vllm_len:
        vllm += ["--max-model-len", str(vllm_len)]
    if e.kv_precision in VLLM_KV_DTYPE:
        vllm += ["--kv-cache-dtype", VLLM_KV_DTYPE[e.kv_precision]]
    sglang = ["python", "-m", "sglang.launch_server", "--model-path", model, "--tp-size", str(tp_group), "--pp-size", str(e.pp)]
    if e.attention_dp > 1:
        sglang += ["--dp-size", str(e.attention_dp), "--enable-dp-attention"]
    if e.ep > 1:
        sglang += ["--ep-size", str(e.ep)]
    # SGLang: its own memory default (the plan's, for an SGLang estimate); it divides the prefill chunk by the DP ranks
    sgl_fraction = free_gpu_memory_fraction or (
        e.memory_fraction if e.engine == "sglang" else sglang_server_defaults(e.memory_gib_per_gpu, e.tp, e.pp, e.attention_dp)[2]
    )
    sglang += ["--max-running-requests", str(e.max_batch_size * e.attention_dp), "--chunked-prefill-size", str(e.max_num_tokens * e.attention_dp)]
    sglang += ["--mem-fraction-static", f"{float(sgl_fraction):g}"]
    if e.max_model_len:
        sglang += ["--context-length", str(e.max_model_len)]
    if e.kv_precision in ("fp8",):
        sglang += ["--kv-cache-dtype", "fp8_e4m3"]
    n = max(2000, 4 * (e.concurrency or e.max_concurrency or 1))
    dataset = (
        f"python benchmarks/cpp/prepare_dataset.py --tokenizer={model} --stdout token-norm-dist --num-requests={n} "
        f"--input-mean={e.isl} --output-mean={e.osl} --input-stdev=0 --output-stdev=0 > dataset.jsonl"
    )
    bench = ["trtllm-bench", "--model", model, "throughput", "--dataset", "dataset.jsonl", "--backend", "pytorch", "--tp", str(tp_group), "--pp", str(e.pp)]
    if e.ep > 1:
        bench += ["--ep", str(e.ep)]
    if e.concurrency:
        bench += ["--concurrency", str(e.concurrency)]
    bench += ["--extra_llm_api_options", "llm_options.yaml", "--streaming", "--report_json", "report.json"]
    aiperf = ["aiperf", "profile", "--model", model, "--url", "http://localhost:8000", "--endpoint-type", "chat", "--streaming"]
    aiperf += ["--synthetic-input-tokens-mean", str(e.isl), "--output-tokens-mean", str(e.osl)]
    aiperf += ["--concurrency", str(e.concurrency or 32)] if not e.request_rate else ["--request-rate", f"{e.request_rate:g}"]
    return {
        "checkpoint": model,
        "checkpoint_note": note,
        "trtllm": {
            "version": TRTLLM_VERSION,
            "llm_options_yaml": yaml.safe_dump(options, sort_keys=False),
            "command": shlex.join(trtllm),
            "keys_source": documented_keys()[TRTLLM_VERSION]["source"].strip(),
        },
        "vllm": {"command": shlex.join(vllm)},
        "sglang": {"command": shlex.join(sglang)},
        "validation": {
            "trtllm_bench": [dataset, shlex.join(bench)],
            "aiperf": shlex.join(aiperf),
            "calibrate": "python -m planner calibrate --measurements report.json profile_export_aiperf.json --gpu "
            f"{e.gpu} --model {e.model} --precision {e.precision} --tp {e.tp} --pp {e.pp} --attention-dp {e.attention_dp} --out profiles/",
        },
    }
