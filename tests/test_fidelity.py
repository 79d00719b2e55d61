"""Model fidelity for today's deployments: each defect of issue 7 pinned by a test."""

import numpy as np
import pytest

from planner import PlannerError, estimate
from planner.catalog import get_gpu, get_model
from planner.estimate import resolve_deployment


@pytest.mark.parametrize("engine", ["trtllm", "vllm", "sglang"])
def test_pipeline_never_speeds_up_a_prompt_of_one_chunk(engine):
    kw = dict(model="llama-3.1-70b", gpu="H100", precision="fp8", tp=2, isl=4096, osl=256, profile="none", max_num_tokens=8192, engine=engine)
    ttft = [estimate(pp=pp, **kw).ttft_alone_ms for pp in (1, 2, 4)]
    assert ttft[0] <= ttft[1] <= ttft[2]  # a prompt crosses every stage in turn
    assert ttft[2] == pytest.approx(ttft[0], rel=0.05)  # plus sends only


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_vllm_and_sglang_pipeline_a_long_prompt_s_chunks_and_tensorrt_llm_does_not(engine):
    # vLLM V1 advances a request's computed tokens when it schedules a chunk, so its next chunk
    # goes into the next PP micro-batch at once; SGLang's chunked pipeline parallelism does the
    # same. n = 8 chunks then take n + PP - 1 stage times, against n x PP at PP 1 on a stage of
    # PP times the layers: TTFT falls to (n + PP - 1) / (n x PP) of PP 1's, a little more as the
    # pieces that drain last attend to the longest context. TensorRT-LLM schedules a request in
    # flight in no other micro-batch: each chunk crosses every stage before the next starts.
    # At f01e59d every engine ran one chunk per pipeline cycle (TTFT at PP 4 was PP 1's, +0.3 %);
    # d3dc2d6 spread the chunks but left out the pipeline's fill and drain (0.26 of PP 1's).
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="fp16", isl=16384, osl=16, max_num_tokens=2048, engine=engine, profile="none")
    ttft = {pp: estimate(pp=pp, **kw).ttft_alone_ms for pp in (1, 2, 4)}
    n = 16384 // 2048
    for pp in (2, 4):
        ratio = ttft[pp] / ttft[1]
        if engine == "trtllm":
            assert 1.0 <= ratio <= 1.01  # the sends between stages only
        else:
            assert (n + pp - 1) / (n * pp) <= ratio <= 1.06 * (n + pp - 1) / (n * pp)


@pytest.mark.parametrize(
    ("engine", "version", "batch_per_micro_batch"), [("trtllm", None, True), ("vllm", "0.7.3", True), ("vllm", None, False), ("sglang", None, False)]
)
def test_every_engine_budgets_each_pp_micro_batch(engine, version, batch_per_micro_batch):
    # Every engine gives each PP micro-batch the whole max_num_tokens: TensorRT-LLM schedules one
    # per micro-batch, vLLM V0 runs a scheduler per virtual engine, vLLM V1 schedules a batch
    # whenever its batch queue has room and SGLang's event_loop_pp one per micro-batch. The batch
    # limit is per micro-batch in TensorRT-LLM and vLLM V0 (V0's schedulers each hold 1/PP of the
    # KV blocks), global in vLLM V1 (max_num_seqs) and in all in SGLang (a running batch per
    # micro-batch of max_running_requests // PP). vLLM and SGLang once had one budget per cycle.
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="fp16", isl=2048, osl=256, profile="none", engine=engine, engine_version=version)
    kw.update(max_num_tokens=4096, max_batch_size=64)
    e1, e4 = estimate(pp=1, **kw), estimate(pp=4, **kw)
    assert e4.max_num_tokens == e1.max_num_tokens == 4096
    plan1, plan4 = (resolve_deployment(pp=pp, **kw).plan for pp in (1, 4))
    assert float(plan4.step_tokens[0]) == 4 * float(plan1.step_tokens[0]) == 4 * 4096
    assert float(plan4.step_batch[0]) == (4 * 64 if batch_per_micro_batch else 64)


def test_pipeline_keeps_a_micro_batch_per_stage_in_flight():
    # TensorRT-LLM's max_batch_size is per micro-batch: PP stages hold PP micro-batches, so the
    # KV cache the extra GPUs bring is used (v1.0's PP8 rows were predicted at 0.39x before)
    kw = dict(model="llama-3.1-70b", gpu="H100", precision="fp8", tp=1, isl=1000, osl=1000, profile="none")
    pp1, pp8 = estimate(pp=1, tp=2, **{k: v for k, v in kw.items() if k != "tp"}), estimate(pp=8, **kw)
    assert pp8.max_concurrency > 4 * pp1.max_concurrency
    assert pp8.output_tok_s > 2 * pp1.output_tok_s


def test_smallest_deployment_keeps_tp_on_nvlink():
    e = estimate("llama-3.1-405b", "H100", "fp16", profile="none")
    assert not e.fits and e.smallest_fit == "TP8 x PP2 (16 GPUs)"  # not TP16 across two nodes
    assert e.min_tp_to_fit == 16  # at the asked PP 1: 756 GiB of weights need 16 GPUs
    assert estimate("llama-3.1-405b", "H100", "fp8", profile="none").smallest_fit == "TP8 (8 GPUs)"
    assert get_model("llama-3.1-405b").num_heads % 8 == 0


def test_offline_answer_reports_its_own_operating_point():
    e = estimate("llama-3.1-70b", "H100", "fp8", tp=4, isl=1024, osl=256, profile="none")
    assert e.operating_point == "offline" and "queued burst" in e.latency_method
    assert e.output_tok_s_per_user <= e.output_tok_s  # per user can never exceed the system total
    assert e.itl_ms > e.itl_alone_ms and e.ttft_ms > e.ttft_alone_ms  # the burst, not an idle replica
    assert e.ttft_p50_ms <= e.ttft_p90_ms <= e.ttft_p99_ms


def test_mixing_step_keeps_all_prefill_work():
    from planner import serving
    from planner.catalog import get_gpu
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.specs import EngineSettings, KvPrecision, Precision

    s = serving.prepare(get_model("llama-3.1-8b"), [get_gpu("H100")], [Precision.fp8], [KvPrecision.fp8], [1], [1], EngineSettings(), DEFAULT_EFFICIENCIES)
    point = serving.concurrency(s, 16384, 16, 64)
    one_prompt_rate = 1.0 / float(serving.latency(s, 16384, 16).ttft_s[0])
    # ISL 16384 / OSL 16: the replica cannot serve prompts faster than it can prefill them (was 5x)
    assert float(point.requests_per_s[0]) <= 1.05 * one_prompt_rate


def test_mla_prefill_uses_the_non_absorbed_form():
    from planner.catalog import get_gpu
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.serving import prepare
    from planner.specs import EngineSettings, KvPrecision, Precision

    m = get_model("deepseek-ai/DeepSeek-V3")
    s = prepare(m, [get_gpu("H200")], [Precision.fp8], [KvPrecision.fp8], [8], [1], EngineSettings(), DEFAULT_EFFICIENCIES)
    per_layer = s.steps.prefill_attn_flops_per_ctx[0] * 8 / m.num_layers
    assert per_layer == pytest.approx(2 * 128 * (192 + 128))  # q.k over 192 (128 nope + 64 rope), p.v over 128
    assert s.steps.attn_flops_per_ctx[0] * 8 / m.num_layers == pytest.approx(2 * 128 * (2 * 512 + 64))  # decode: absorbed


def test_tied_embeddings_are_read_as_the_lm_head():
    from planner.catalog import get_gpu
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.serving import prepare
    from planner.specs import EngineSettings, KvPrecision, Precision

    tied = get_model("meta-llama/Llama-3.2-1B")
    assert tied.params_lm_head == 0  # no separate matrix to store...
    s = prepare(tied, [get_gpu("H100")], [Precision.bf16], [KvPrecision.bf16], [1], [1], EngineSettings(), DEFAULT_EFFICIENCIES)
    assert s.steps.head_bytes[0] == tied.vocab_size * tied.hidden_size * 2  # ...but decode reads it for the logits


def test_context_window_is_checked():
    assert get_model("Qwen/Qwen3-32B").context_window == 40960
    e = estimate("EleutherAI/gpt-j-6b", "H100", "fp16", isl=5000, osl=500, profile="none")
    assert e.fits and any("2,048-token context window" in w for w in e.warnings)
    assert not estimate("llama-3.1-8b", "H100", "fp8", isl=5000, osl=500, profile="none").warnings


def test_rope_scaling_extends_the_window_only_where_the_config_keeps_the_original():
    from planner.configs import ConfigFields, _context_window

    yarn = {"max_position_embeddings": 32768, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}
    llama3 = {"max_position_embeddings": 131072, "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "original_max_position_embeddings": 8192}}

    def window(cfg):
        return _context_window(ConfigFields.model_validate(cfg))

    assert window(yarn) == 131072 and window(llama3) == 131072 and window({"n_positions": 2048}) == 2048


def test_each_moe_layer_adds_its_routing_kernels_to_a_step():
    # router top-k, permute and finalize: a fixed cost per MoE layer, none for a dense model
    from planner.defaults import DEFAULT_EFFICIENCIES

    kw = dict(gpu="H100", precision="fp8", tp=2, isl=512, osl=64, concurrency=1)
    off = DEFAULT_EFFICIENCIES.model_copy(update={"moe_layer_overhead_us": 0.0})
    on = DEFAULT_EFFICIENCIES.model_copy(update={"moe_layer_overhead_us": 50.0})
    mixtral = get_model("mistralai/Mixtral-8x7B-v0.1")
    extra_ms = mixtral.num_moe_layers * 50.0 / 1000.0
    gap = estimate(mixtral, efficiencies=on, **kw).itl_alone_ms - estimate(mixtral, efficiencies=off, **kw).itl_alone_ms
    assert gap == pytest.approx(extra_ms, rel=1e-6)
    dense = [estimate("llama-3.1-70b", efficiencies=e, **kw).itl_alone_ms for e in (off, on)]
    assert dense[0] == dense[1]


def test_quantized_checkpoints_are_planned_at_their_own_precision():
    cases = {
        "deepseek-ai/DeepSeek-V3": ("fp8", "fp8"),  # block FP8 (quant_method fp8), 16-bit KV
        "nvidia/DeepSeek-R1-NVFP4": ("nvfp4", "fp8"),  # ModelOpt NVFP4 with its FP8 KV cache
        "nvidia/Llama-3.1-8B-Instruct-FP8": ("fp8", "fp8"),
        "openai/gpt-oss-120b": ("mxfp4", "fp16"),
        "meta-llama/Llama-3.1-8B": ("fp16", "fp16"),  # a 16-bit checkpoint
        # ModelOpt 0.37 writes the KV precision as kv_cache_scheme (8-bit float) in config.json
        "nvidia/Gemma-4-31B-IT-NVFP4": ("nvfp4", "fp8"),
    }
    for model, (precision, kv) in cases.items():
        e = estimate(model, "B200", tp=8, isl=512, osl=64, profile="none")
        assert (e.precision, e.kv_precision) == (precision, kv), model
        assert ("checkpoint's own" in e.precision_source) == (precision != "fp16")
    asked = estimate("deepseek-ai/DeepSeek-V3", "B200", "fp16", tp=8, isl=512, osl=64, profile="none")
    assert any("16-bit copy" in w for w in asked.warnings)


def test_kv_cache_scheme_states_the_kv_precision():
    from planner.configs import checkpoint_quantization

    for scheme, kv in (
        ({"num_bits": 8, "type": "float"}, "fp8"),
        ({"num_bits": 8, "type": "int"}, "int8"),
        ({"num_bits": 4, "type": "float"}, None),
        (None, None),
    ):
        quant = {"quant_method": "compressed-tensors", "kv_cache_scheme": scheme}
        got = checkpoint_quantization(quant)[1]
        assert (got.value if got else None) == kv, scheme
    # the Gemma 4 31B NVFP4 checkpoint keeps every layer's attention at 16 bits
    assert get_model("nvidia/Gemma-4-31B-IT-NVFP4").unquantized == ["attention"]


def test_a_quantized_scheme_without_a_precision_is_asked_for():
    from planner.configs import model_from_config

    cfg = dict(get_model("llama-3.1-8b").model_dump(include={"hidden_size"}), num_hidden_layers=2, num_attention_heads=32, vocab_size=1000)
    cfg.update(model_type="llama", intermediate_size=1024, quantization_config={"quant_method": "bitsandbytes", "load_in_4bit": True})
    m = model_from_config(cfg, "test/bnb")
    assert m.checkpoint_precision is None and m.quantization == "bitsandbytes"
    with pytest.raises(PlannerError, match="pass precision"):
        estimate(m, "H100", isl=128, osl=16, profile="none")
    assert estimate(m, "H100", "int4", isl=128, osl=16, profile="none").fits


def test_mxfp4_weight_bytes_and_kernel_path():
    # gpt-oss-120b: MXFP4 experts (0.5 + 1/32 bytes per weight), attention left in BF16 by
    # modules_to_not_convert, embeddings / head / routers / norms 16-bit
    m = get_model("openai/gpt-oss-120b")
    assert m.unquantized == ["attention"]
    attn = m.num_layers * m.params_attention_per_layer
    experts = m.num_moe_layers * m.num_experts * m.params_expert
    expected = (attn * 2 + experts * 17 / 32 + m.params_high_precision * 2) / 1024**3
    e = estimate(m, "H100", tp=1, isl=512, osl=64, profile="none")
    assert e.weights_gib_per_gpu == pytest.approx(expected, rel=1e-6)
    assert 58 < e.weights_gib_per_gpu < 63  # the published safetensors are about 65 GB
    assert "weight-only" in e.precision_source  # Hopper has no FP4 tensor cores
    assert "weight-only" not in estimate(m, "B200", tp=1, isl=512, osl=64, profile="none").precision_source
    # planned at another precision, nothing is left at 16 bits by the checkpoint's list
    fp8 = estimate(m, "H100", "fp8", tp=2, isl=512, osl=64, profile="none")
    assert fp8.weights_gib_per_gpu < (attn * 1 + experts * 1 + m.params_high_precision * 2) / 2 / 1024**3 * 1.01


def test_nvfp4_before_blackwell_only_in_vllm():
    # vLLM's Marlin FP4 kernel serves NVFP4 checkpoints on compute capability 8.0+ (16-bit math);
    # TensorRT-LLM and SGLang need FP4 tensor cores
    kw = dict(model="llama-3.1-8b", gpu="H100", precision="nvfp4", isl=512, osl=64, profile="none")
    for engine in ("trtllm", "sglang"):
        with pytest.raises(PlannerError, match=f"not supported on H100-SXM with engine {engine} .*vllm runs it weight-only"):
            estimate(engine=engine, **kw)
    e = estimate(engine="vllm", **kw)
    assert "weight-only" in e.precision_source
    fp16 = estimate(**{**kw, "precision": "fp16"}, engine="vllm")
    assert e.weights_gib_per_gpu < 0.4 * fp16.weights_gib_per_gpu  # 9/16 bytes per decoder weight
    long = {**kw, "isl": 8192, "osl": 8}  # a compute-bound prompt: its math runs at the 16-bit peak, as FP16's
    assert estimate(engine="vllm", **long).ttft_alone_ms > 0.95 * estimate(engine="vllm", **{**long, "precision": "fp16"}).ttft_alone_ms
    assert estimate(engine="vllm", **long).ttft_alone_ms > 1.5 * estimate(engine="vllm", **{**long, "precision": "fp8"}).ttft_alone_ms
    assert "weight-only" not in estimate(**{**kw, "gpu": "B200"}).precision_source


def test_expert_parallelism_changes_the_step():
    # EP holds whole experts per GPU: the same bytes as slicing them over TP, but the busiest GPU
    # gets more than its share of the routed tokens (decode batches are small)
    kw = dict(gpu="H200", tp=8, isl=1024, osl=256, concurrency=16, profile="none")
    by_ep = {ep: estimate("deepseek-ai/DeepSeek-V3", ep=ep, **kw) for ep in (1, 8)}
    assert by_ep[8].weights_gib_per_gpu == pytest.approx(by_ep[1].weights_gib_per_gpu)
    assert by_ep[8].itl_alone_ms > by_ep[1].itl_alone_ms


def test_attention_data_parallel_deployments_are_accepted_and_modelled():
    # DEP8: tp 1, attention_dp 8, ep 8 on 8 GPUs, refused before ("ep 8 must divide tp 1")
    kw = dict(gpu="H200", isl=1024, osl=256, profile="none")
    dep = estimate("deepseek-ai/DeepSeek-V3", tp=1, attention_dp=8, ep=8, **kw)
    tp8 = estimate("deepseek-ai/DeepSeek-V3", tp=8, **kw)
    assert dep.gpus == tp8.gpus == 8 and dep.attention_dp == 8
    m = get_model("deepseek-ai/DeepSeek-V3")
    # attention and dense layers replicated on every rank, routed experts spread over all 8
    replicated_extra = (m.num_layers * m.params_attention_per_layer + m.num_dense_layers * m.params_dense_mlp_per_layer) * 7 / 8
    assert dep.weights_gib_per_gpu > tp8.weights_gib_per_gpu + 0.9 * replicated_extra / 1024**3
    # MLA's latent is not split by TP: TP8 keeps 8 copies of each token, DEP8 one per rank
    assert dep.kv_capacity_tokens > 4 * tp8.kv_capacity_tokens
    with pytest.raises(PlannerError, match="attention_dp 2 needs a mixture-of-experts model"):
        estimate("llama-3.1-70b", tp=4, attention_dp=2, **kw)


def test_tensorrt_llm_sends_nvfp4_experts_their_inputs_in_nvfp4():
    # With attention DP, TensorRT-LLM quantizes the hidden states for NVFP4 experts before the
    # all-gather (4 bits and an 8-bit scale per 16 values: 0.5625 B) and reduce-scatters the
    # outputs at 16 bits; vLLM and SGLang gather 16-bit states. Per token and MoE layer each of the
    # 8 GPUs receives 7/8 of the hidden size at each width.
    from planner.estimate import resolve_deployment
    from planner.serving import dispatch_bytes
    from planner.specs import EngineSettings, Precision

    m = get_model("deepseek-ai/DeepSeek-R1")
    assert dispatch_bytes(m, Precision.nvfp4, EngineSettings(engine="trtllm")) == 0.5625
    assert dispatch_bytes(m, Precision.fp8, EngineSettings(engine="trtllm")) == 2.0
    assert dispatch_bytes(m, Precision.nvfp4, EngineSettings(engine="vllm")) == 2.0
    comm = {}
    for engine in ("trtllm", "vllm"):
        d = resolve_deployment(m, "B200", "nvfp4", tp=1, attention_dp=8, ep=8, engine=engine, profile=False)
        st, hw = d.setup.steps.scalar(0), d.setup.hw
        per_byte = m.num_moe_layers * 7 / 8 * m.hidden_size / (float(hw.moe_bw[0]) * float(hw.eta_comm[0]))
        comm[engine] = st.moe_comm_per_token / per_byte
    assert comm["trtllm"] == pytest.approx(0.5625 + 2.0)
    assert comm["vllm"] == pytest.approx(2.0 + 2.0)


def test_attention_dp_rows_are_read_with_the_clients_the_benchmark_ran():
    # AIConfigurator files one attention-DP rank's batch_size in the concurrency column; aiperf ran
    # the silicon_concurrency its source names, concurrency x attention_dp, against the replica
    from planner.measurements import row_kwargs

    row = dict(model="deepseek-ai/DeepSeek-R1", gpu="B200", precision="nvfp4", tp=1, ep=8, attention_dp=8, isl=1024, osl=1024, concurrency=8)
    aic = "AIConfigurator silicon_sample.csv: model=DeepSeek-R1; silicon_concurrency=64; measured=2026-02-06"
    assert row_kwargs({**row, "source": aic})["concurrency"] == 64
    assert row_kwargs({**row, "source": "my own run"})["concurrency"] == 8  # a file's own client count stands
    assert row_kwargs({**row, "source": aic.replace("=64", "=224")})["concurrency"] == 8  # not one rank's batch: left as filed
    assert row_kwargs({**row, "attention_dp": 1, "source": aic})["concurrency"] == 8


def test_dep_decode_matches_the_measured_rows_within_one_node():
    # TensorRT-LLM's DEP4 / DEP8 rows of the AIConfigurator file (DeepSeek-R1/V3, gpt-oss-120b on
    # B200 and H200, each on one 8-GPU node): read with one rank's batch as the clients they were
    # predicted at 0.5x the measured ITL; with the clients the benchmark ran, near 1
    from planner.predict import predict, read_measurements
    from tests.conftest import ROOT

    frame = read_measurements(ROOT.parent / "shared" / "data" / "measured" / "aiconfigurator_silicon_agg.csv")
    adp = frame["attention_dp"].fillna(1)
    dep = frame[(frame.engine == "trtllm") & (adp > 1) & (frame.tp * adp <= 8)]
    assert len(dep) >= 20
    ratio = (predict(dep, profile="none").pred_itl_ms / dep.itl_ms).dropna()
    assert len(ratio) == len(dep) and 0.85 <= ratio.median() <= 1.2, ratio.describe()


@pytest.mark.parametrize("engine", ["sglang", "vllm", "trtllm"])
def test_hybrid_linear_attention_states_take_their_share_of_memory(engine):
    """Qwen3.5: a running sequence holds a 192 MB Gated DeltaNet state (24 MB per GPU at TP 8)
    besides its KV; SGLang sets aside ratio / (1 + ratio) of the budget for the states, the
    other engines draw states and KV blocks from one pool."""
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.serving import prepare
    from planner.specs import EngineSettings, KvPrecision, Precision

    m = get_model("Qwen/Qwen3.5-397B-A17B")
    s = prepare(m, [get_gpu("B200")], [Precision.fp8], [KvPrecision.fp8], [8], [1], EngineSettings(engine=engine, max_batch_size=4096), DEFAULT_EFFICIENCIES)
    assert m.linear_state_bytes_per_sequence(8) == 192_061_440 / 8
    state = float(s.state_per_seq[0])  # vLLM pads it to a whole page (the test below)
    assert state == m.linear_state_bytes_per_sequence(8) or engine == "vllm"
    plan = s.plan(1024, 1024)
    budget = float(plan.kv_budget[0])
    block = float(np.ravel(s.block_tokens)[0])
    kv_seq = -(-2048 // block) * block * float(s.kv_per_token[0])  # 2048 tokens in whole blocks
    if engine == "sglang":
        r = 0.9
        slots = budget * r / (1 + r) // state
        assert float(plan.max_batch[0]) == min(slots, budget / (1 + r) // kv_seq)
        assert float(s.kv_capacity_tokens(plan)[0]) <= budget / (1 + r) / float(s.kv_per_token[0])
    else:
        slots = budget // (kv_seq + state)
        assert float(plan.max_batch[0]) == slots
    assert float(plan.step_batch[0]) == min(4096, slots)  # no more running sequences than state slots
    # a decode step reads and writes each running sequence's state once; attention work that
    # grows with context is in the 15 full-attention layers only
    steps = s.steps
    assert float(steps.state_bytes_per_seq[0]) == 2 * m.linear_state_bytes_per_sequence(8)
    assert float(steps.attn_flops_per_ctx[0]) == 2.0 * 32 * (256 + 256) * 60 / 8 * (15 / 60)


def test_hybrid_linear_attention_needs_its_fields():
    from planner.configs import model_from_config

    cfg = {"model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256}
    cfg |= {"vocab_size": 1000, "intermediate_size": 512, "full_attention_interval": 4}
    with pytest.raises(PlannerError, match="lacks 'linear_num_key_heads'"):
        model_from_config(cfg, "tiny-next")
    full = model_from_config(
        cfg | {"linear_num_key_heads": 4, "linear_num_value_heads": 8, "linear_key_head_dim": 64, "linear_value_head_dim": 64}, "tiny-next"
    )
    assert (full.num_linear_layers, full.num_kv_layers) == (6, 2)
    assert (
        model_from_config(
            cfg
            | {"linear_num_key_heads": 4, "linear_num_value_heads": 8, "linear_key_head_dim": 64, "linear_value_head_dim": 64, "mamba_ssm_dtype": "bfloat16"},
            "x",
        ).linear_state_bytes
        == 2.0
    )
    with pytest.raises(PlannerError, match="multiple of linear_num_key_heads"):
        model_from_config(cfg | {"linear_num_key_heads": 3, "linear_num_value_heads": 8, "linear_key_head_dim": 64, "linear_value_head_dim": 64}, "x")
    llama = {**cfg, "model_type": "llama", "layer_types": ["linear_attention"] * 8}
    with pytest.raises(PlannerError, match="linear/state-space attention"):
        model_from_config(llama, "x")


def test_vllm_pages_a_hybrid_models_states_and_kv_alike():
    """vLLM keeps Gated DeltaNet states and KV blocks in one pool of equal pages: the attention
    block grows to the smallest multiple of 16 tokens whose one-layer KV page holds one layer's
    state, and each state is padded to that page (`_align_hybrid_block_size`)."""
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.serving import prepare
    from planner.specs import EngineSettings, KvPrecision, Precision

    m = get_model("Qwen/Qwen3.5-397B-A17B")
    # at TP 8 one layer's state on a GPU: 8 value heads x 128 x 128 x 4 B + conv 3 x (2 x 2048 + 8192) / 8 x 2 B
    state_page = 8 * 128 * 128 * 4 + 3 * (2 * 2048 + 8192) // 8 * 2
    for kv, kv_bytes in ((KvPrecision.bf16, 2), (KvPrecision.fp8, 1)):
        attn_page_1_token = 1 * 512 * kv_bytes  # one of the 2 KV heads per GPU (replicated past TP 2), K and V of 256
        block = 16 * -(-state_page // (16 * attn_page_1_token))
        s = prepare(m, [get_gpu("B200")], [Precision.fp8], [kv], [8], [1], EngineSettings(engine="vllm"), DEFAULT_EFFICIENCIES)
        assert float(s.block_tokens[0]) == block == (528 if kv_bytes == 2 else 1056)
        assert float(s.state_per_seq[0]) == 45 * block * attn_page_1_token  # padded to whole pages
        assert float(s.state_per_seq[0]) > m.linear_state_bytes_per_sequence(8)
    # SGLang and TensorRT-LLM keep their own block sizes
    sg = prepare(m, [get_gpu("B200")], [Precision.fp8], [KvPrecision.fp8], [8], [1], EngineSettings(engine="sglang"), DEFAULT_EFFICIENCIES)
    assert sg.block_tokens == 16 and float(sg.state_per_seq[0]) == m.linear_state_bytes_per_sequence(8)


def test_sparse_attention_reads_top_k_and_indexes_everything():
    """DeepSeek Sparse Attention (DeepSeek-V3.2): past index_topk = 2048 tokens of context a decode
    reads no more latent KV; only the lightning indexer's keys (128 FP8 values + a float32 scale
    per token and layer, replicated on every GPU) and its FLOPs (2 x 64 heads x 128 per token and
    layer, all heads on every GPU) grow with the context."""
    from planner.defaults import DEFAULT_EFFICIENCIES
    from planner.serving import prepare
    from planner.specs import EngineSettings, KvPrecision, Precision

    v32, v3 = get_model("deepseek-ai/DeepSeek-V3.2-Exp"), get_model("deepseek-ai/DeepSeek-V3")
    # an FP8 sparse-MLA cache holds FlashMLA's 656-byte entry (512 FP8 + 4 float32 scales + 64 x 2-byte rope)
    # and the indexer's 132 bytes: SGLang logs 43.67 GiB for 975,424 tokens of DeepSeek-V3.2-Exp (sglang PR 11309)
    assert v32.kv_bytes_per_token(1.0) == 61 * (656 + 132) == pytest.approx(43.67 * 2**30 / 975_424, rel=1e-3)
    assert v32.kv_bytes_per_token(2.0) == 61 * (576 * 2 + 132) and v3.kv_bytes_per_token(1.0) == 61 * (512 + 64)
    for m, grows_bytes, grows_flops in (
        (v32, 61 * 132, 2 * 64 * 128 * 61),
        (v3, 61 * 576, 2 * 128 * (2 * 512 + 64) * 61 / 8),  # dense MLA: the latent of every token, heads split by TP
    ):
        s = prepare(m, [get_gpu("H200")], [Precision.fp8], [KvPrecision.fp8], [8], [1], EngineSettings(), DEFAULT_EFFICIENCIES)
        st = s.steps.scalar(0)
        _, c1, m1, _ = st.parts(decode_seqs=1.0, decode_context=4096.0)
        _, c2, m2, _ = st.parts(decode_seqs=1.0, decode_context=8192.0)
        assert (m2 - m1) * st.kv_bw == pytest.approx(4096 * grows_bytes, rel=1e-9)
        assert (c2 - c1) * st.peak == pytest.approx(4096 * grows_flops, rel=1e-9)


def test_sparse_attention_models_count_like_their_papers():
    glm = get_model("zhipuai/GLM-5")  # 744B-A40B, the 40B without embeddings
    assert glm.index_topk == 2048 and glm.params_total / 1e9 == pytest.approx(744, rel=0.01)
    assert (glm.params_active - glm.params_embedding - glm.params_lm_head) / 1e9 == pytest.approx(40, rel=0.03)
    # each MLA layer adds its indexer: wq_b (q latent 2048 -> 32 x 128), wk (6144 -> 128), k LayerNorm, weights_proj (6144 -> 32)
    without = get_model("deepseek-ai/DeepSeek-V3")
    v32 = get_model("deepseek-ai/DeepSeek-V3.2-Exp")
    assert v32.params_attention_per_layer - without.params_attention_per_layer == 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64


def test_sparse_attention_indexer_is_replicated_across_tp():
    from planner.memory import weight_bytes_per_gpu

    m = get_model("zhipuai/GLM-5")
    assert m.params_indexer_per_layer == 2048 * 32 * 128 + 6144 * 128 + 2 * 128 + 6144 * 32
    tp8, tp1 = float(weight_bytes_per_gpu(m, 1.0, 8, 1)), float(weight_bytes_per_gpu(m, 1.0, 1, 1))
    # everything else split eight ways (vocab-parallel embeddings, routers and norms at 16 bits), the indexer whole on each GPU
    indexer = 78 * m.params_indexer_per_layer
    high = m.params_high_precision * 2.0
    assert tp8 == pytest.approx(
        (tp1 - indexer - high) / 8 + indexer + (high - m.params_embedding * 2 - m.params_lm_head * 2) + (m.params_embedding + m.params_lm_head) * 2 / 8,
        rel=1e-9,
    )
