"""Disaggregated serving: separate prefill and decode pools, rate-matched, compared with the
aggregated answer.

A prefill replica runs prompt-only steps (up to `max_num_tokens` tokens of whole prompts per
step) and ships each prompt's KV cache to a decode replica; a decode replica runs decode-only
steps. Each pool has its own parallelism and replica count, on the same GPU and precision:

- prefill: prompts queue for the replica as an M/D/1 queue (service: one prompt's share of a
  full step); TTFT = queue wait + the prompt's prefill + the KV transfer, which must meet the
  TTFT target;
- KV transfer: the prompt's KV bytes over NVLink when both replicas fit in one NVLink domain,
  else over the network (each prefill GPU sends its shard), at the link efficiency;
- decode: the largest batch whose ITL percentile (batch fluctuating like a Poisson count)
  meets the ITL target, within the KV cache; its rate follows from Little's law,
  B = rate x OSL x ITL.
"""

from __future__ import annotations

import math

import numpy as np

from .cost import PriceBook
from .defaults import DEFAULT_EFFICIENCIES
from .load import _exp_tail, _z
from .serving import prefill_time
from .sla import Sla, replicas_for


def _kv_transfer_s(c, i_sel: np.ndarray, isl: float) -> np.ndarray:
    """Seconds to move one prompt's KV cache (and, for hybrid models, its linear-attention state)
    from a prefill replica to a decode replica."""
    kv_tok = c.setup.kv_per_token[i_sel] * c.tp[i_sel] * c.pp[i_sel]  # whole-model bytes per token (each GPU's shard x GPUs)
    state = c.setup.model.linear_state_bytes_per_sequence(1)  # whole model, unpadded (0 for models without it)
    out = np.empty(len(i_sel))
    for k, i in enumerate(i_sel):
        g = c.gpus[c.gpu_idx[i]]
        gpus = c.gpus_per[i]
        same_domain = 2 * gpus <= g.nvlink_domain_gpus
        bw = (g.intra_node_bandwidth_gb_s if same_domain else g.inter_node_bandwidth_gb_s) * 1e9 * gpus * DEFAULT_EFFICIENCIES.eta_comm
        lat = 0.0 if same_domain else g.inter_node_latency_us * 1e-6
        out[k] = (kv_tok[k] * isl + state) / bw + lat
    return out


def disaggregated_plan(
    c, rate_rps: float, mix, sla: Sla, headroom: float, prices: PriceBook, best_aggregated: dict | None = None, eligible: np.ndarray | None = None
) -> dict:
    """The cheapest prefill pool + decode pool on one GPU type and precision that meets the SLA."""
    s, plan = c.setup, c.plan
    isl, osl = mix.mean_isl, mix.mean_osl
    ttft_t = next(((q, v) for m, q, v in sla.targets() if m == "ttft"), None)
    itl_t = next(((q, v) for m, q, v in sla.targets() if m == "itl"), None)
    fits = (plan.max_batch >= 1) & (c.pp == 1) & (True if eligible is None else eligible)
    mnt = plan.step_tokens
    idx = np.flatnonzero(fits)
    if not len(idx):
        return {"available": False, "reason": "no single-stage deployment fits"}
    price = np.array([(prices.get(c.gpus[g].id).usd_per_hour if prices.get(c.gpus[g].id) else np.nan) for g in c.gpu_idx])
    gpus_per = c.gpus_per

    # ---- prefill replicas -------------------------------------------------------------
    per_step = np.maximum(np.floor(mnt / isl), 1.0)  # whole prompts in one full step
    t_full, *_ = s.step(prefill_tokens=per_step * isl, prefill_seqs=per_step, prefill_context=isl / 2.0)
    work = t_full / per_step  # GPU time per prompt when prompts are batched
    t_one = prefill_time(s, isl, mnt, share=s.prompt_share)
    q_t = ttft_t[0] if ttft_t else 90.0
    isl_q = mix.isl.quantile(q_t / 100.0) if mix.pairs is None else float(np.percentile(mix.pairs[:, 0], q_t))
    t_q = prefill_time(s, isl_q, mnt, share=s.prompt_share)
    transfer = np.full(len(c), np.nan)
    transfer[idx] = _kv_transfer_s(c, idx, isl)
    mu_p = 1.0 / work
    lo, hi = np.zeros(len(c)), mu_p * 0.999
    if ttft_t:
        for _ in range(40):
            mid = (lo + hi) / 2.0
            rho = mid * work
            wait = rho * t_one / (2.0 * np.maximum(1.0 - rho, 1e-9))
            ok = t_q + transfer + _exp_tail(q_t, rho, wait) <= ttft_t[1]
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        prefill_rate = np.where(t_q + transfer <= ttft_t[1], lo, 0.0)
    else:
        prefill_rate = hi

    # ---- decode replicas --------------------------------------------------------------
    ctx = isl + osl / 2.0
    cap = np.maximum(plan.running_batch, 1.0)
    q_i = itl_t[0] if itl_t else 50.0

    def itl_q(b):
        t, *_ = s.step(decode_seqs=b, decode_context=ctx)
        t1, *_ = s.step(decode_seqs=b + 1.0, decode_context=ctx)
        return t, t + _z(q_i) * np.abs(t1 - t) * np.sqrt(2.0 * b / 3.0)

    lo, hi = np.ones(len(c)), cap.copy()
    if itl_t:
        for _ in range(40):
            mid = (lo + hi) / 2.0
            ok = itl_q(mid)[1] <= itl_t[1]
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        batch = np.where(itl_q(np.ones(len(c)))[1] <= itl_t[1], lo, 0.0)
    else:
        batch = cap
    t_mean, t_pct = itl_q(np.maximum(batch, 1.0))
    decode_rate = np.where(batch > 0, batch / (max(osl - 1.0, 1.0) * t_mean), 0.0)

    n_p = replicas_for(rate_rps, prefill_rate, headroom)
    n_d = replicas_for(rate_rps, decode_rate, headroom)
    cost_p = n_p * gpus_per * price
    cost_d = n_d * gpus_per * price
    groups: dict[tuple[int, int], list[int]] = {}
    for i in idx:
        groups.setdefault((int(c.gpu_idx[i]), int(c.prec_idx[i])), []).append(int(i))
    options = []
    for members in groups.values():
        m = np.array(members)
        p_ok = m[np.isfinite(cost_p[m])]
        d_ok = m[np.isfinite(cost_d[m])]
        if not len(p_ok) or not len(d_ok):
            continue
        ip = int(p_ok[np.argmin(cost_p[p_ok])])
        idd = int(d_ok[np.argmin(cost_d[d_ok])])
        total = float(cost_p[ip] + cost_d[idd])
        options.append((total, ip, idd))
    if not options:
        return {
            "available": False,
            "reason": "no GPU and precision meets the TTFT target with a prefill pool and the ITL target with a decode pool (or has a price)",
        }
    total, ip, idd = min(options)
    g, p = c.gpus[c.gpu_idx[ip]], c.precisions[c.prec_idx[ip]]
    out = {
        "available": True,
        "gpu": g.id,
        "precision": p.value,
        "prefill": {
            "tp": int(c.tp[ip]),
            "attention_dp": int(c.adp[ip]),
            "replicas": int(n_p[ip]),
            "num_gpus": int(n_p[ip] * gpus_per[ip]),
            "max_rate_rps": round(float(prefill_rate[ip]), 4),
            "kv_transfer_ms": round(float(transfer[ip]) * 1e3, 3),
            "prefill_ms": round(float(t_one[ip]) * 1e3, 2),
        },
        "decode": {
            "tp": int(c.tp[idd]),
            "attention_dp": int(c.adp[idd]),
            "replicas": int(n_d[idd]),
            "num_gpus": int(n_d[idd] * gpus_per[idd]),
            "batch": round(float(batch[idd]), 1),
            "max_rate_rps": round(float(decode_rate[idd]), 4),
            "itl_p_ms": round(float(t_pct[idd]) * 1e3, 3),
        },
        "num_gpus": int(n_p[ip] * gpus_per[ip] + n_d[idd] * gpus_per[idd]),
        "usd_per_hour": round(total, 2),
        "usd_per_month": round(total * 730.0),
        "price_market": prices.get(g.id).market,
        "method": "closed form (M/D/1 prompt queue, decode batch at the ITL target); not simulated",
    }
    if best_aggregated and best_aggregated.get("usd_per_hour"):
        agg = float(best_aggregated["usd_per_hour"])
        out["aggregated_usd_per_hour"] = agg
        out["saving_vs_aggregated_pct"] = round(100.0 * (agg - total) / agg, 1) if agg > 0 else math.nan
        out["wins"] = total < agg
    return out
