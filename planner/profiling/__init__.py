"""Measuring on a GPU host: the NVML host probe, the trtllm-bench calibration runner and the
optional PyTorch micro-probe. Nothing here imports TensorRT-LLM; the runner drives its CLI."""
