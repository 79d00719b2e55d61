"""Stand-in for TensorRT-LLM's `trtllm-bench` (the real one needs a GPU), used by the tests.

It accepts the documented command line (`--model ... latency|throughput --dataset D --report_json R
...`), reads the dataset, and writes a report JSON in the documented layout whose figures come
from the planner's own model with known efficiencies (FAKE_TRTLLM_EFFICIENCIES, JSON), so a test
can check that the calibration recovers them. FAKE_TRTLLM_FAIL_ON=<text> makes a run whose
report path contains <text> fail; every call is appended to FAKE_TRTLLM_CALLS.
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

from planner import estimate  # noqa: E402
from planner.defaults import DEFAULT_EFFICIENCIES  # noqa: E402

eff = DEFAULT_EFFICIENCIES.model_copy(update=json.loads(os.environ.get("FAKE_TRTLLM_EFFICIENCIES", "{}")))
kw = dict(model=opt("--model"), gpu="H100-SXM", precision="fp8", tp=int(opt("--tp", 1)), pp=int(opt("--pp", 1)), isl=isl, osl=osl, efficiencies=eff)
if mode == "latency":
    e = estimate(**kw, concurrency=1)
else:
    e = estimate(**kw, num_requests=n)
data = {
    "engine": {
        "model": opt("--model"),
        "version": "1.0.0-fake",
        "backend": opt("--backend", "pytorch"),
        "dtype": "bfloat16",
        "kv_cache_dtype": "FP8",
        "quantization": "FP8",
    },
    "machine": {"name": "NVIDIA H100 80GB HBM3"},
    "world_info": {"tp_size": int(opt("--tp", 1)), "pp_size": int(opt("--pp", 1)), "ep_size": None, "world_size": int(opt("--tp", 1))},
    "request_info": {"num_requests": n, "avg_input_length": float(isl), "avg_output_length": float(osl)},
    "performance": {"system_output_throughput_tok_s": e.output_tok_s, "avg_request_latency_ms": e.e2e_ms, "request_throughput_req_s": e.requests_per_s},
    "streaming_metrics": {"avg_ttft_ms": e.ttft_ms, "avg_tpot_ms": e.itl_ms},
}
Path(report).write_text(json.dumps(data))
print(f"fake trtllm-bench {mode}: {n} requests {isl}/{osl}: {e.output_tok_s:.1f} tok/s")
