"""Discrete-event simulation of one replica's inflight-batching scheduler.

The simulator is a scheduler plus a step-time predictor (as in Vidur and BLIS): the engine's
policy decides, at each step boundary, which requests are admitted (KV memory, batch limit) and
how many prompt tokens of which requests run in the step (the `max_num_tokens` budget,
chunked prefill, one prompt within its attention-DP rank's share, and its PP micro-batch's where
the engine keeps a request in one); the step-time model (`planner.roofline.StepModel`, or any
function of the same signature) says how long that step takes. Time only moves forward, by whole steps.

Engines (`POLICIES`), as their schedulers are documented and written:

- **trtllm** (TensorRT-LLM PyTorch executor, `GUARANTEED_NO_EVICT` capacity scheduler and the
  FCFS micro-batch scheduler): a request is admitted only when KV blocks for its whole prompt
  *and* all its output tokens can be reserved; generation requests are scheduled first, then
  context requests in arrival order within the token budget (chunked when enabled). No
  request is ever evicted.
- **vllm** (vLLM V1 scheduler): running requests first (decodes and unfinished prompt chunks),
  then waiting ones while budget and `max_num_seqs` allow, with chunked prefill; KV blocks are
  allocated as tokens are computed. When a decode step cannot get blocks, the most recently
  admitted request is preempted (its KV freed, its tokens recomputed later).
- **sglang** (SGLang scheduler defaults, mixed chunking off): a step is either a prefill batch
  or a decode batch; prefill has priority whenever a waiting request can be admitted. Admission
  reserves the prompt plus `new_token_ratio` x the outputs still to come of every running
  request (0.7 at start and when idle, decaying to 0.098); when decode runs out of KV, requests
  are retracted, and the ratio becomes what the survivors show (their decoded tokens + 20 each,
  over their max_new_tokens).

Closed form check (`tests/test_simulator.py`): one request alone, a saturated offline batch and
M/D/1 waiting at low load come out of the same loop.

The inner loop is plain Python on floats; stretches of decode-only steps where nothing can
change (no admission possible, no completion, no KV exhaustion) are advanced in one jump using
the step time at the stretch's mid-point context, exact for the step model's linear
dependence on context length.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .defaults import SGLANG_NEW_TOKEN_RATIO, SGLANG_RETRACT_DECODE_STEPS

POLICIES = ("trtllm", "vllm", "sglang")

StepFn = Callable[[float, float, float, float, float], float]


@dataclass(frozen=True)
class EngineConfig:
    """What the scheduler needs to know about one replica."""

    policy: str  # one of POLICIES
    max_batch_size: int  # most running requests (TensorRT-LLM max_batch_size, vLLM max_num_seqs, SGLang max_running_requests)
    max_num_tokens: int  # token budget of one step (TensorRT-LLM max_num_tokens, vLLM max_num_batched_tokens, SGLang chunked_prefill_size)
    kv_capacity_tokens: int  # tokens of context the KV cache holds
    block_tokens: int = 32
    chunked_prefill: bool = True
    #: most prompt tokens of one request in a step (None: `max_num_tokens`): with attention data
    #: parallelism each rank schedules its own requests within its own budget, and TensorRT-LLM
    #: and vLLM V0 run a request in one PP micro-batch at a time, so one prompt gets one rank's and
    #: micro-batch's share (vLLM V1 and SGLang put its chunks in every micro-batch of its rank)
    prompt_tokens: int | None = None
    #: sliding-window (or chunked-attention) layers keep at most this many tokens of a sequence
    #: (the window in whole blocks, plus the block being written; 0: no such layers) ...
    window_tokens: int = 0
    #: ... and hold this share (0-1) of a token's KV bytes: a sequence past its window grows by
    #: the rest only, as `memory.kv_bytes_per_sequence` counts it
    window_share: float = 0.0

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {self.policy!r}; one of {', '.join(POLICIES)}")


@dataclass
class SimResult:
    """Per-request times of one simulation (seconds; NaN for rejected requests)."""

    arrival: np.ndarray
    first_token: np.ndarray
    finish: np.ndarray
    isl: np.ndarray
    osl: np.ndarray
    preemptions: np.ndarray
    rejected: np.ndarray  # bool: could never be served (longer than the KV cache or the step budget)
    steps: int
    busy_s: float  # time the replica was running steps
    batch_time_s: float  # integral of running (admitted) requests over time: the mean batch is this / duration
    queue_time_s: float  # integral of requests waiting for admission over time
    kv_tokens_at_end: int  # KV held when every request has finished (tokens, rounded away from 0): 0 unless blocks leaked

    @property
    def ok(self) -> np.ndarray:
        return ~self.rejected

    @property
    def ttft(self) -> np.ndarray:
        return (self.first_token - self.arrival)[self.ok]

    @property
    def e2e(self) -> np.ndarray:
        return (self.finish - self.arrival)[self.ok]

    @property
    def itl(self) -> np.ndarray:
        """Mean time between output tokens of each request, excluding the first (requests with one output token have none)."""
        ok = self.ok & (self.osl > 1)
        return (self.finish[ok] - self.first_token[ok]) / (self.osl[ok] - 1)

    @property
    def duration_s(self) -> float:
        ok = self.ok
        return float(np.max(self.finish[ok]) - np.min(self.arrival[ok])) if ok.any() else math.nan

    @property
    def output_tokens(self) -> int:
        return int(self.osl[self.ok].sum())


def _round_up(tokens: int, block: int) -> int:
    return -(-tokens // block) * block


#: KV is counted in whole units; with window layers a token is this many of them, so that the
#: share a token past its window keeps is exact to 1/8192 in integer arithmetic
WINDOW_UNITS_PER_TOKEN = 4096


def simulate(
    step: StepFn,
    cfg: EngineConfig,
    isl: np.ndarray,
    osl: np.ndarray,
    cached: np.ndarray | None = None,
    arrivals: np.ndarray | None = None,
    clients: int | None = None,
    think_s: np.ndarray | None = None,
    drain: Callable | None = None,
) -> SimResult:
    """Run requests through one replica; return when every request has finished.

    `step(prefill_tokens, prefill_seqs, prefill_context, decode_seqs, decode_context)` gives a
    step's seconds (contexts are averages per sequence). Open loop: `arrivals` (seconds,
    ascending). Closed loop: `clients` users, each sending its next request the moment its
    last one finishes (all start at time 0, as benchmark clients do). `cached`: prompt tokens
    each request finds in the prefix cache (not computed, but attended to and held in KV).
    `think_s`: closed loop, the pause before request i is sent: after the start for a client's
    first request, after its previous request finished for the others (0 by default).
    `drain(prompt_tokens, *step)`: seconds after a step at which a prompt that finishes in it, with
    `prompt_tokens` of it in the step, has its first token (a pipeline's drain, `StepModel.drain`;
    0 without); that request's later tokens follow their steps by as much.
    """
    if (arrivals is None) == (clients is None):
        raise ValueError("give either arrivals (open loop) or clients (closed loop)")
    return _Replica(step, cfg, isl, osl, cached, arrivals, clients, think_s, drain).run()


class _Replica:
    """The state of one simulated replica. Request i's fields live in parallel lists."""

    def __init__(self, step, cfg, isl, osl, cached, arrivals, clients, think_s=None, drain=None):
        n = self.n = len(isl)
        self.step = step
        self.drain = drain
        self.isl = [int(x) for x in isl]
        self.osl = [max(int(x), 1) for x in osl]
        self.cached = [0] * n if cached is None else [int(x) for x in cached]
        self.closed = clients is not None
        self.arrival = [math.nan] * n if self.closed else [float(x) for x in arrivals]
        self.think = [0.0] * n if think_s is None else [float(x) for x in think_s]
        self.first = [math.nan] * n
        self.lag = [0.0] * n  # how far a request's tokens come after the steps that make them (a pipeline's drain)
        self.out = [0.0] * n  # when the prompt pieces of a request run so far have left the pipeline
        self.finish = [math.nan] * n
        self.preempt = [0] * n
        self.rejected = [False] * n
        self.target = [0] * n  # prompt tokens to hold before decoding (after a preemption: prompt + outputs so far)
        self.computed = [0] * n
        self.generated = [0] * n  # output tokens produced before the current decode stint
        self.g_start = [0] * n  # decode counter when the current decode stint began
        self.held_tokens = [0] * n  # KV tokens held (reserved, or computed) ...
        self.held = [0] * n  # ... in KV units (`_units`)
        self.crosses = [-1] * n  # decode counter at which a decoding request fills its window (-1: done, or none)
        self.policy = cfg.policy
        self.budget = int(cfg.max_num_tokens)
        self.per_prompt = min(self.budget, int(cfg.prompt_tokens or self.budget))
        # a mixed step carries every decode within the token budget; SGLang's decode steps are not budgeted
        self.max_batch = max(1, int(cfg.max_batch_size) if cfg.policy == "sglang" else min(int(cfg.max_batch_size), self.budget))
        self.block = max(1, int(cfg.block_tokens))
        windowed = cfg.window_tokens > 0 and cfg.window_share > 0
        self.unit = WINDOW_UNITS_PER_TOKEN if windowed else 1  # KV units per token of context
        self.window = int(cfg.window_tokens) if windowed else 0
        self.window_saves = round(min(cfg.window_share, 1.0) * self.unit) if windowed else 0  # units a token past the window does not take
        self.capacity = int(cfg.kv_capacity_tokens) * self.unit
        self.chunking = cfg.chunked_prefill
        self.reserve_all = cfg.policy == "trtllm"
        self.ratio = SGLANG_NEW_TOKEN_RATIO[0]
        self.waiting: deque[int] = deque()
        self.running: dict[int, None] = {}  # admitted (prefilling or decoding), in admission order
        self.prefilling: list[int] = []
        self.finishing: list[tuple[int, int]] = []  # heap of (decode counter at which it finishes, id)
        self.G = 0  # decode steps so far: a decoding request gains one token per decode step
        self.D = 0  # decoding requests
        self.D_in = 0  # of them, those still within their window (each token takes a whole unit)
        self.crossing: list[tuple[int, int]] = []  # heap of (decode counter, id) at which one fills its window
        self.ctx_base = 0  # sum of decoding contexts = ctx_base + D * G
        self.out_base = 0  # outputs still to come of decoding requests = out_base - D * G
        self.dec_osl = 0  # output lengths of the decoding requests, summed (SGLang's retraction ratio)
        self.kv_used = 0
        self.t = 0.0
        self.steps = 0
        self.busy = 0.0
        self.batch_time = 0.0
        self.queue_time = 0.0
        self.done = 0
        self.next_issue = n  # closed loop: the next request a client sends
        if self.closed:
            self.next_issue = min(int(clients), n)
            for i in range(self.next_issue):
                self.arrival[i] = self.think[i]
            self.incoming = [(self.arrival[i], i) for i in range(self.next_issue)]  # heap of (arrival, id) not yet queued
            heapq.heapify(self.incoming)
        else:
            self.incoming = [(self.arrival[i], i) for i in range(n)]
            heapq.heapify(self.incoming)

    # ---- request life -----------------------------------------------------------------
    def _fits(self, i: int) -> bool:
        """Whether request i could ever be served by this replica."""
        need = _round_up(self.isl[i] + self.osl[i] if self.reserve_all else self.isl[i] + 1, self.block)
        return (self._units(need) if self.window else need) <= self.capacity and (self.chunking or self.isl[i] - self.cached[i] <= self.per_prompt)

    def _units(self, tokens: int) -> int:
        """KV units a sequence of `tokens` tokens takes (tokens x `unit`, less what its window layers do not keep)."""
        return self.unit * tokens - (self.window_saves * (tokens - self.window) if self.window and tokens > self.window else 0)

    def _hold(self, i: int, tokens: int, units: int | None = None) -> int:
        """Request i now holds `tokens` tokens of KV (`units`, when known); returns the units it took (or gave back)."""
        if units is None:
            units = self._units(tokens) if self.window else tokens
        grow = units - self.held[i]
        self.held_tokens[i] = tokens
        self.held[i] = units
        return grow

    def _growth(self) -> int:
        """KV units one decode step adds (each decoding request gains a token)."""
        return self.D * self.unit - (self.D - self.D_in) * self.window_saves

    def _cross_due(self) -> None:
        heap = self.crossing
        while heap and heap[0][0] <= self.G:
            g, i = heapq.heappop(heap)
            if self.crosses[i] == g:
                self.crosses[i] = -1
                self.D_in -= 1

    def _start_decode(self, i: int) -> None:
        G = self.G
        self.g_start[i] = G
        self.D += 1
        if self.window_saves and not self.reserve_all and self.held_tokens[i] < self.window:
            self.D_in += 1
            self.crosses[i] = G + self.window - self.held_tokens[i]
            heapq.heappush(self.crossing, (self.crosses[i], i))
        self.ctx_base += self.target[i] - G
        self.out_base += self.osl[i] - self.generated[i] + G
        self.dec_osl += self.osl[i]
        heapq.heappush(self.finishing, (G + self.osl[i] - self.generated[i], i))

    def _stop_decode(self, i: int) -> None:
        grown = self.G - self.g_start[i]
        self.D -= 1
        self.ctx_base -= self.target[i] - self.g_start[i]
        self.out_base -= self.osl[i] - self.generated[i] + self.g_start[i]
        self.dec_osl -= self.osl[i]
        self.generated[i] += grown
        if self.crosses[i] >= 0:  # stopped within its window
            self.crosses[i] = -1
            self.D_in -= 1
        if not self.reserve_all:  # the KV it grew by (counted into kv_used step by step)
            tokens = self.held_tokens[i] = self.held_tokens[i] + grown
            self.held[i] = self._units(tokens) if self.window else tokens

    def _release(self, i: int) -> None:
        self.kv_used -= self.held[i]
        self.held[i] = self.held_tokens[i] = 0
        del self.running[i]

    def _issue_next(self, when: float) -> None:
        if self.closed and self.next_issue < self.n:
            j = self.next_issue
            self.next_issue += 1
            self.arrival[j] = when + self.think[j]
            heapq.heappush(self.incoming, (self.arrival[j], j))

    def _complete(self, i: int) -> None:
        self.finish[i] = self.t + self.lag[i]
        self._release(i)
        self.done += 1
        # the client's next request is sent when the scheduler finishes this one, not a pipeline's
        # drain (`lag`) later when its last token reaches the client: with the drain, the next
        # request arrived between steps, and whether it made the next one depended on the steps'
        # durations (faster hardware could desynchronise two clients' prompts and lower the
        # throughput); this way a closed loop's steps do not depend on their durations
        self._issue_next(self.t)

    def _reject(self, i: int) -> None:
        self.rejected[i] = True
        self.done += 1
        self._issue_next(self.t)

    def _preempt(self, i: int) -> None:
        """Free request i's KV and put it back at the head of the queue (its tokens are recomputed)."""
        if i in self.prefilling:
            self.prefilling.remove(i)
        else:
            self._stop_decode(i)
            _drop_from_heap(self.finishing, i)
        self._release(i)
        self.target[i] = self.isl[i] + self.generated[i]
        self.computed[i] = min(self.cached[i], self.target[i] - 1)
        self.preempt[i] += 1
        self.waiting.appendleft(i)
        if self.policy == "sglang":  # what the survivors show: decoded + 20 steps each, over their max_new_tokens
            decoding = self.D
            todo = max(self.out_base - decoding * self.G, 0)  # outputs still to come of the decoding requests
            self.ratio = min(1.0, (self.dec_osl - todo + SGLANG_RETRACT_DECODE_STEPS * decoding) / (self.dec_osl + 1.0))

    def _finish_due(self) -> None:
        fin = self.finishing
        while fin and fin[0][0] <= self.G:
            _, i = heapq.heappop(fin)
            self._stop_decode(i)
            self._complete(i)

    # ---- scheduling -------------------------------------------------------------------
    def _admit(self, room: int) -> None:
        """Move waiting requests into the running set as the engine's capacity rules allow.
        `room`: prompt tokens the coming step can still take (vLLM and SGLang admit only what
        they schedule; TensorRT-LLM's capacity scheduler admits regardless)."""
        policy, block = self.policy, self.block
        waiting, running = self.waiting, self.running
        pending = 0.0  # KV the admitted-but-uncomputed prompts (and SGLang's expected outputs) will take
        unit, target, computed = self.unit, self.target, self.computed
        if self.window:
            units = self._units
            for j in self.prefilling:
                pending += units(target[j]) - units(computed[j])
        else:
            for j in self.prefilling:
                pending += target[j] - computed[j]
        if policy == "sglang":  # and the outputs still to come, of the prompts in flight and of the decoding requests
            pending += self.ratio * unit * (sum(self.osl[j] - self.generated[j] for j in self.prefilling) + max(self.out_base - self.D * self.G, 0))
        while waiting and len(running) < self.max_batch:
            i = waiting[0]
            if not self.target[i]:
                if not self._fits(i):
                    waiting.popleft()
                    self._reject(i)
                    continue
                self.target[i] = self.isl[i]
                self.computed[i] = self.cached[i]
            left = self.target[i] - self.computed[i]
            if self.reserve_all:
                need = _round_up(self.target[i] + self.osl[i] - self.generated[i], block)
            else:
                if room <= 0:
                    break
                chunk = min(left, room, self.per_prompt) if self.chunking else left
                if not self.chunking and left > room:
                    break
                need = _round_up(self.target[i] if policy == "sglang" else self.computed[i] + chunk, block)
                room -= chunk
            if self.window:
                need = self._units(need)
            if policy == "sglang" and running:
                need += self.ratio * unit * (self.osl[i] - self.generated[i])
            if self.kv_used + (pending if running else 0.0) + need > self.capacity:
                break
            waiting.popleft()
            running[i] = None
            tokens = _round_up(self.target[i] + self.osl[i] - self.generated[i] if self.reserve_all else self.computed[i], block)
            self.kv_used += self._hold(i, tokens)
            pending += need - self.held[i]
            self.prefilling.append(i)

    def _chunks(self, room: int, slots: int) -> list[tuple[int, int]]:
        """Prompt tokens of the admitted requests that run in the coming step, in admission order."""
        chunks = []
        for i in self.prefilling:
            if room <= 0 or slots <= 0:
                break
            left = self.target[i] - self.computed[i]
            if left > room and not self.chunking:
                break  # FCFS: a whole prompt that does not fit waits, and so does everyone behind it
            take = min(left, room, self.per_prompt)
            if not self.reserve_all:  # KV for the chunk is allocated as it is computed
                tokens = _round_up(self.computed[i] + take, self.block)
                units = self._units(tokens) if self.window else tokens
                if self.kv_used + units - self.held[i] > self.capacity:
                    break
                self.kv_used += self._hold(i, tokens, units)
            chunks.append((i, take))
            room -= take
            slots -= 1
        return chunks

    def _advance(self, dt: float, k: int) -> None:
        self.t += dt
        self.busy += dt
        self.batch_time += dt * len(self.running)
        self.queue_time += dt * len(self.waiting)
        self.steps += k

    def run(self) -> SimResult:
        n = self.n
        incoming = self.incoming
        mixed = self.policy != "sglang"  # SGLang runs prefill and decode in separate steps (mixed chunking off)
        skip_admission = False
        while self.done < n:
            while incoming and incoming[0][0] <= self.t:
                self.waiting.append(heapq.heappop(incoming)[1])
            if not self.running and not self.waiting:
                if self.policy == "sglang":  # an idle scheduler starts over from the initial ratio
                    self.ratio = SGLANG_NEW_TOKEN_RATIO[0]
                if incoming:
                    self.t = max(self.t, incoming[0][0])
                    continue
                break
            D = self.D
            room = self.budget - (D if mixed else 0)
            if not skip_admission:
                # the prompts in flight take up to their share of the coming step first
                self._admit(room - sum(min(self.target[j] - self.computed[j], self.per_prompt) for j in self.prefilling))
            skip_admission = False
            chunks = self._chunks(room, self.max_batch - (D if mixed else 0))
            do_decode = D > 0 and (mixed or not chunks)

            if not chunks and not do_decode:
                if incoming and not self.prefilling:
                    self.t = max(self.t, incoming[0][0])
                    continue
                if self.prefilling:  # prompts in flight hold all the KV: preempt the newest
                    self._preempt(self.prefilling[-1])
                    skip_admission = True
                    continue
                if self.waiting:  # an empty replica that cannot take the head of the queue
                    self._reject(self.waiting.popleft())
                    continue
                break

            if not chunks:  # ---- decode-only steps until something can change: one jump
                G = self.G
                k = self.finishing[0][0] - G
                ctx = (self.ctx_base + D * G) / D
                if incoming and not self.waiting and len(self.running) < self.max_batch:
                    t_one = self.step(0.0, 0.0, 0.0, D, ctx)
                    k = min(k, max(1, math.ceil((incoming[0][0] - self.t) / t_one)))
                if not self.reserve_all:
                    if self.crossing:  # the growth changes when a request fills its window
                        k = min(k, max(1, self.crossing[0][0] - G))
                    growth = self._growth()  # 0 when every layer is windowed and every request past its window
                    k_kv = (self.capacity - self.kv_used) // growth if growth else k
                    if k_kv < 1:  # no KV for the next token: vLLM preempts, SGLang retracts, the newest request
                        self._preempt(next(reversed(self.running)))
                        skip_admission = True
                        continue
                    k = min(k, k_kv)
                    if self.policy == "sglang" and self.waiting and len(self.running) < self.max_batch:
                        k = 1  # the reservation ratio decays every step: admission may open up
                dt = k * self.step(0.0, 0.0, 0.0, D, ctx + (k - 1) / 2.0)
                self._advance(dt, k)
                if not self.reserve_all:
                    self.kv_used += self._growth() * k
                self.G += k
                if self.crossing:
                    self._cross_due()
                if self.policy == "sglang":
                    self.ratio = max(SGLANG_NEW_TOKEN_RATIO[1], self.ratio - SGLANG_NEW_TOKEN_RATIO[2] * k)
                self._finish_due()
                continue

            # ---- one step with prompt tokens (and, except in SGLang, every decode) --------------
            p_tok = 0
            p_ctx = 0.0
            for i, take in chunks:
                p_tok += take
                p_ctx += take * (self.computed[i] + take / 2.0)
            dec = D if do_decode else 0
            shape = (float(p_tok), float(len(chunks)), p_ctx / p_tok, float(dec), (self.ctx_base + D * self.G) / D if dec else 0.0)
            dt = self.step(*shape)
            self._advance(dt, 1)
            if dec:
                if not self.reserve_all:
                    self.kv_used += self._growth() if self.window_saves else dec
                self.G += 1
                if self.crossing:
                    self._cross_due()
                if self.policy == "sglang":
                    self.ratio = max(SGLANG_NEW_TOKEN_RATIO[1], self.ratio - SGLANG_NEW_TOKEN_RATIO[2])
                self._finish_due()
            for i, take in chunks:
                self.computed[i] += take
                # a prompt's pieces leave the pipeline in order, the last of a step's up to a drain after it
                self.out[i] = max(self.out[i], self.t + (self.drain(float(take), *shape) if self.drain else 0.0))
                if self.computed[i] >= self.target[i]:
                    self.prefilling.remove(i)
                    if math.isnan(self.first[i]):
                        # the step that finishes the prompt samples the first token, once all its
                        # pieces are out of the pipeline; its decodes follow it by as much
                        self.lag[i] = self.out[i] - self.t
                        self.first[i] = self.out[i]
                        self.generated[i] = 1
                    if self.generated[i] >= self.osl[i]:
                        self._complete(i)
                    else:
                        self._start_decode(i)

        return SimResult(
            np.array(self.arrival),
            np.array(self.first),
            np.array(self.finish),
            np.asarray(self.isl, dtype=np.int64),
            np.asarray(self.osl, dtype=np.int64),
            np.asarray(self.preempt),
            np.asarray(self.rejected),
            self.steps,
            self.busy,
            self.batch_time,
            self.queue_time,
            int(math.copysign(-(-abs(self.kv_used) // self.unit), self.kv_used)),
        )


def _drop_from_heap(heap: list[tuple[int, int]], i: int) -> None:
    for k, (_, j) in enumerate(heap):
        if j == i:
            heap[k] = heap[-1]
            heap.pop()
            heapq.heapify(heap)
            return
