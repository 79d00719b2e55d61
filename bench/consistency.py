"""Consistency of the planner's answers with themselves, over randomly drawn deployments.

Draws `--n` deployments (seeded: any catalog model x GPU x engine, TP, PP, attention DP and expert
parallelism for MoE models, precision, ISL / OSL, offline / clients / request rate), runs `estimate`
on each and counts the answers that break a rule every answer must keep:

- one request under load never gets its first token sooner than on an idle replica
  (TTFT mean >= 0.95 x the request-alone TTFT, a closed form that splits a prompt into equal
  chunks at its mean context, where the simulated engine runs full chunks and a remainder);
- E2E = TTFT + (OSL - 1) x ITL (within 10 %), p50 <= p90 <= p99, requests/s x OSL = tokens/s;
- a load's throughput stays within 10 % of the same deployment's offline maximum.

Refused deployments (one-line errors) and ones that do not fit are counted apart. The answers
that break a rule are listed. The last line is a `key=value` summary.

    python bench/consistency.py [--n 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.catalog import get_model, gpus, model_ids  # noqa: E402
from planner.errors import PlannerError  # noqa: E402
from planner.estimate import estimate  # noqa: E402


def draw(rng: random.Random) -> dict:
    """One random deployment and load, as `estimate` keywords."""
    model = rng.choice(sorted(model_ids()))
    moe = get_model(model).is_moe
    tp, pp, adp, ep = rng.choice([1, 1, 2, 4, 8]), rng.choice([1, 1, 1, 2, 4]), 1, 1
    if moe and rng.random() < 0.3:
        adp = ep = rng.choice([2, 4, 8])
        tp = 1
    elif moe and rng.random() < 0.3:
        ep = tp
    kw = dict(
        model=model,
        gpu=rng.choice(sorted(gpus())),
        engine=rng.choice(["trtllm", "vllm", "sglang"]),
        precision=rng.choice([None, None, "fp8", "nvfp4", "int4", "fp16"]),
        tp=tp,
        pp=pp,
        ep=ep,
        attention_dp=adp,
        isl=rng.choice([128, 1024, 4096, 16000]),
        osl=rng.choice([16, 256, 1024, 4000]),
        num_requests=200,
    )
    load = rng.choice(["offline", "clients", "rate"])
    if load == "clients":
        kw["concurrency"] = rng.choice([1, 8, 64, 256])
    elif load == "rate":
        kw["request_rate"] = rng.choice([0.5, 5.0, 50.0])
    return kw


def broken_rules(kw: dict, e) -> list[str]:
    """The rules answer `e` to `kw` breaks."""
    out = []
    if not e.saturated:
        if e.ttft_ms and e.ttft_alone_ms and e.ttft_ms < 0.95 * e.ttft_alone_ms:
            out.append(f"TTFT {e.ttft_ms:.1f} ms below the request alone {e.ttft_alone_ms:.1f} ms")
        if e.e2e_ms and e.ttft_ms and e.itl_ms and e.osl > 1:
            expect = e.ttft_ms + (e.osl - 1) * e.itl_ms
            if abs(e.e2e_ms - expect) > 0.1 * expect:
                out.append(f"E2E {e.e2e_ms:.0f} ms against TTFT + (OSL - 1) x ITL {expect:.0f} ms")
    for m in ("ttft", "itl", "e2e"):
        ps = [getattr(e, f"{m}_p{q}_ms") for q in (50, 90, 99)]
        if all(p is not None and math.isfinite(p) for p in ps) and not ps[0] <= ps[1] * 1.0001 <= ps[2] * 1.0002:
            out.append(f"{m} percentiles out of order {ps}")
    if e.requests_per_s and e.output_tok_s and abs(e.requests_per_s * e.osl - e.output_tok_s) > 0.02 * e.output_tok_s:
        out.append("requests/s x OSL differs from tokens/s")
    if not e.saturated and ("concurrency" in kw or "request_rate" in kw):
        offline = {k: v for k, v in kw.items() if k not in ("concurrency", "request_rate", "num_requests")}
        try:
            top = estimate(**offline).output_tok_s
        except PlannerError:
            top = None
        if top and e.output_tok_s > 1.1 * top:
            out.append(f"{e.output_tok_s:.0f} tok/s under load above the offline maximum {top:.0f}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="deployments drawn (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    counts: collections.Counter = collections.Counter()
    broken = []
    t0 = time.perf_counter()
    for _ in range(args.n):
        kw = draw(rng)
        try:
            e = estimate(**kw)
        except PlannerError:
            counts["refused"] += 1
            continue
        if not e.fits:
            counts["does not fit"] += 1
            continue
        counts["answered"] += 1
        rules = broken_rules(kw, e)
        if rules:
            broken.append((kw, rules))
    print(f"{args.n} deployments drawn (seed {args.seed}) in {time.perf_counter() - t0:.0f} s: {dict(counts)}")
    print(f"answers that break a rule: {len(broken)}")
    for kw, rules in broken:
        print(f"  {kw}: {'; '.join(rules)}")
    print(f"drawn={args.n} answered={counts['answered']} broken={len(broken)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
