"""Stand-in for TensorRT-LLM's `trtllm-bench` (the real one needs a GPU), used by the tests.

It accepts the documented command line (`--model ... latency|throughput --dataset D --report_json R
...`), reads the dataset, and writes a report JSON in the documented layout whose figures come
from the planner's own model with known efficiencies (FAKE_TRTLLM_EFFICIENCIES, JSON), so a test
can check that the calibration recovers them. Like the real tool it reports what it ran: the
checkpoint given as --model (a quantized one records its quantization; figures come from the
catalog model it is a checkpoint of), the KV dtype of the --extra_llm_api_options YAML, --tp/--pp/--ep.
FAKE_TRTLLM_FAIL_ON=<text> makes a run whose report path contains <text> fail;
FAKE_TRTLLM_ENGINE='{"quantization": ...}' overrides fields of the report's `engine` block (a run
that loaded something else); every call is appended to FAKE_TRTLLM_CALLS.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

args = sys.argv[1:]


def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default


if os.environ.get("FAKE_TRTLLM_CALLS"):
    with open(os.environ["FAKE_TRTLLM_CALLS"], "a") as f:
        f.write(" ".join(args) + "\n")
mode = "latency" if "latency" in args else "throughput"
report = opt("--report_json")
if os.environ.get("FAKE_TRTLLM_FAIL_ON") and os.environ["FAKE_TRTLLM_FAIL_ON"] in report:
    print("CUDA error: out of memory (simulated)", file=sys.stderr)
    sys.exit(3)
lines = [json.loads(x) for x in Path(opt("--dataset")).read_text().splitlines() if x.strip()]
isl, osl, n = len(lines[0]["input_ids"]), lines[0]["output_tokens"], int(opt("--num_requests", len(lines)))

import yaml  # noqa: E402

from planner import estimate, get_model  # noqa: E402
from planner.defaults import DEFAULT_EFFICIENCIES  # noqa: E402
from planner.profiling.trtllm_runner import known_checkpoints  # noqa: E402

checkpoint = opt("--model")
model, quantization = checkpoint, None
for catalog_id, entries in known_checkpoints().items():
    for prec, entry in entries.items():
        if entry["checkpoint"] == checkpoint:
            model, quantization = catalog_id, {"fp8": "FP8", "nvfp4": "NVFP4"}[prec]
if quantization is None and get_model(model).checkpoint_precision is not None:
    quantization = get_model(model).checkpoint_precision.value.upper()
options = yaml.safe_load(Path(opt("--extra_llm_api_options")).read_text()) if opt("--extra_llm_api_options") else {}
kv_dtype = (options.get("kv_cache_config") or {}).get("dtype", "auto")
precision = {"FP8": "fp8", "NVFP4": "nvfp4", "MXFP4": "mxfp4"}.get(quantization, "bf16")
kv = {"fp8": "fp8", "nvfp4": "nvfp4"}.get(kv_dtype, "bf16")
eff = DEFAULT_EFFICIENCIES.model_copy(update=json.loads(os.environ.get("FAKE_TRTLLM_EFFICIENCIES", "{}")))
kw = dict(model=model, gpu="H100-SXM", precision=precision, kv_precision=kv, tp=int(opt("--tp", 1)), pp=int(opt("--pp", 1)), isl=isl, osl=osl, efficiencies=eff)
if mode == "latency":
    e = estimate(**kw, concurrency=1)
else:
    e = estimate(**kw, num_requests=n)
data = {
    "engine": {
        "model": checkpoint,
        "version": "1.0.0-fake",
        "backend": opt("--backend", "pytorch"),
        "dtype": "bfloat16",
        "kv_cache_dtype": None if kv_dtype == "auto" else kv_dtype.upper(),
        "quantization": quantization,
        **json.loads(os.environ.get("FAKE_TRTLLM_ENGINE", "{}")),
    },
    "machine": {"name": "NVIDIA H100 80GB HBM3"},
    "world_info": {
        "tp_size": int(opt("--tp", 1)),
        "pp_size": int(opt("--pp", 1)),
        "ep_size": int(opt("--ep")) if opt("--ep") else None,
        "world_size": int(opt("--tp", 1)) * int(opt("--pp", 1)),
    },
    "request_info": {"num_requests": n, "avg_input_length": float(isl), "avg_output_length": float(osl)},
    "performance": {"system_output_throughput_tok_s": e.output_tok_s, "avg_request_latency_ms": e.e2e_ms, "request_throughput_req_s": e.requests_per_s},
    "streaming_metrics": {"avg_ttft_ms": e.ttft_ms, "avg_tpot_ms": e.itl_ms},
}
Path(report).write_text(json.dumps(data))
print(f"fake trtllm-bench {mode}: {n} requests {isl}/{osl}: {e.output_tok_s:.1f} tok/s")
