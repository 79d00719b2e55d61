"""The GPU and model catalogs: files under `gpu_specs/` and `model_configs/`, read once and cached.

Lookups are case-insensitive and forgiving of separators, so `H100`, `h100-sxm` and
`H100 80GB HBM3` all resolve to `H100-SXM`, and `llama-3.1-70b` to `meta-llama/Llama-3.1-70B`.
A model may also be given as a path to any `config.json`.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from .configs import model_from_config
from .errors import PlannerError
from .specs import GpuSpec, ModelSpec

ROOT = Path(__file__).resolve().parent.parent
GPU_DIR = ROOT / "gpu_specs"
MODEL_DIR = ROOT / "model_configs"


def _key(name: str) -> str:
    """Normalise a name for lookup: lower case, separators and spaces dropped."""
    return re.sub(r"[\s_\-./]+", "", name.strip().lower())


def _suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


@lru_cache(maxsize=1)
def gpus() -> dict[str, GpuSpec]:
    """All catalog GPUs by id."""
    out: dict[str, GpuSpec] = {}
    for path in sorted(GPU_DIR.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text())
            spec = GpuSpec.model_validate(data)
        except (yaml.YAMLError, ValidationError) as exc:
            raise PlannerError(f"{path}: invalid GPU spec: {exc}") from None
        out[spec.id] = spec
    for spec in out.values():
        system = out.get(spec.multi_gpu_system) if spec.multi_gpu_system else None
        if spec.multi_gpu_system and (system is None or system.gpus_per_node <= spec.gpus_per_node):
            raise PlannerError(
                f"{GPU_DIR / spec.id}.yaml: multi_gpu_system {spec.multi_gpu_system!r} must be a catalog GPU with more than its {spec.gpus_per_node} GPU(s) per node"
            )
    return out


@lru_cache(maxsize=1)
def _gpu_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for spec in gpus().values():
        for name in [spec.id, spec.name, *spec.aliases]:
            index.setdefault(_key(name), spec.id)
    return index


def get_gpu(name: str | GpuSpec) -> GpuSpec:
    """Resolve a GPU id or alias (`H100`, `H100 80GB HBM3`, `A100-SXM4-80GB`) to its spec."""
    if isinstance(name, GpuSpec):
        return name
    gpu_id = _gpu_index().get(_key(str(name)))
    if gpu_id is None:
        ids = sorted(gpus())
        raise PlannerError(f"unknown gpu {name!r}{_suggest(str(name), ids)}; known: {', '.join(ids)}")
    return gpus()[gpu_id]


def measured_gpu(name: str, gpus_used: int) -> GpuSpec:
    """The catalog GPU a measured run on `gpus_used` GPUs of `name` ran on: `name`'s entry, or,
    where the run used more GPUs than one node of it holds and the entry names the multi-GPU
    system it also ships in (`multi_gpu_system`), that system's entry. A benchmark such as
    `trtllm-bench` runs one replica inside one node, so GH200 rows at TP 4 ran on GH200s joined
    by NVLink (DGX-GH200), not on four single-superchip servers."""
    gpu = get_gpu(name)
    if gpu.multi_gpu_system and gpus_used > gpu.gpus_per_node:
        return gpus()[gpu.multi_gpu_system]
    return gpu


@lru_cache(maxsize=1)
def model_ids() -> dict[str, Path]:
    """Catalog model ids (`org/name`) and their config files."""
    return {p.stem.replace("--", "/", 1): p for p in sorted(MODEL_DIR.glob("*.json"))}


@lru_cache(maxsize=1)
def _model_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for hf_id, path in model_ids().items():
        short = hf_id.split("/", 1)[1]
        for name in (hf_id, path.stem, short):
            index.setdefault(_key(name), hf_id)
        # `llama-3.1-70b` for `Meta-Llama-3.1-70B`, `mixtral-8x7b` for `Mixtral-8x7B-v0.1`
        stripped = re.sub(r"^meta-", "", short, flags=re.I)
        index.setdefault(_key(stripped), hf_id)
        index.setdefault(_key(re.sub(r"-(v0\.1|hf)$", "", stripped, flags=re.I)), hf_id)
        if short.lower().startswith("llama-3.1"):  # the 3.1 checkpoints were first published as Meta-Llama-3.1-*
            index.setdefault(_key("meta-" + short), hf_id)
    return index


#: Largest config.json read (bytes); real ones are a few KiB.
MAX_CONFIG_BYTES = 4 << 20


def _read_config(path: Path, what: str = "config.json") -> dict:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise PlannerError(f"{path}: {path.stat().st_size} bytes is more than a {what} can be ({MAX_CONFIG_BYTES >> 20} MiB at most)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise PlannerError(f"{path}: {what} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlannerError(f"{path}: malformed {what} at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise PlannerError(f"{path}: {what} is nested too deeply") from None


#: Files beside a config.json that state the checkpoint's quantization when the config itself does
#: not (the engines read them too): ModelOpt's hf_quant_config.json (older exports, read by
#: TensorRT-LLM) and AutoGPTQ's quantize_config.json (GPTQ, whose file names no method).
QUANTIZATION_FILES = {"hf_quant_config.json": None, "quantize_config.json": "gptq"}


def _has_quantization(cfg: dict) -> bool:
    inner = cfg.get("text_config")
    return bool(cfg.get("quantization_config") or (isinstance(inner, dict) and inner.get("quantization_config")))


def with_quantization_files(cfg, files: dict, where: str = "") -> tuple:
    """The config with the quantization its checkpoint states elsewhere: an older compressed-tensors
    `compression_config` key, or a file of `QUANTIZATION_FILES` (`files`: their parsed contents by
    name) beside it; a 16-bit plan of a quantized checkpoint would be a silent guess. `where`
    prefixes the file's name in an error (its folder). Returns the config and, for the source of
    a later error, where its quantization came from ("" when from the config itself)."""
    if not isinstance(cfg, dict) or _has_quantization(cfg):
        return cfg, ""
    if isinstance(cfg.get("compression_config"), dict):
        return {**cfg, "quantization_config": {"quant_method": "compressed-tensors", **cfg["compression_config"]}}, " (compression_config)"
    for name, method in QUANTIZATION_FILES.items():
        if name in files:
            quant = files[name]
            if not isinstance(quant, dict):
                raise PlannerError(f"{where}{name}: {name} must hold a JSON object, not {type(quant).__name__}")
            merged = {"quant_method": method, **quant} if method and "quant_method" not in quant else quant
            return {**cfg, "quantization_config": merged}, f" (quantization_config from {name})"
    return cfg, ""


def _quantization_files_beside(config_path: Path) -> dict:
    """The `QUANTIZATION_FILES` in a config.json's folder, parsed."""
    return {name: _read_config(config_path.parent / name, name) for name in QUANTIZATION_FILES if (config_path.parent / name).is_file()}


def _stamp(path: Path) -> tuple:
    """Size and modification time of a config.json and of the quantization files beside it."""
    stamps = []
    for p in (path, *(path.parent / name for name in QUANTIZATION_FILES)):
        try:
            st = p.stat()
        except FileNotFoundError:
            stamps.append(None)
            continue
        except OSError as exc:
            raise PlannerError(f"{p}: cannot read {p.name} ({exc.strerror})") from None
        stamps.append((st.st_size, st.st_mtime_ns))
    if stamps[0] is None:
        raise PlannerError(f"{path}: cannot read config.json (No such file or directory)")
    return tuple(stamps)


@lru_cache(maxsize=256)
def _model_from_path(path: str, catalog_id: str | None = None, arch: str | None = None, stamp: tuple = ()) -> ModelSpec:
    """A model from its config file; `stamp` (the file's size and modification time) makes an
    edited file read again."""
    p = Path(path)
    cfg, came_from = _read_config(p), ""
    if stamp and isinstance(cfg, dict) and not _has_quantization(cfg):  # a checkpoint's own folder: the quantization stated beside its config
        cfg, came_from = with_quantization_files(cfg, _quantization_files_beside(p), f"{p.parent}/")
    name = cfg.get("_name_or_path") if isinstance(cfg, dict) else None
    return model_from_config(cfg, catalog_id or str(name if isinstance(name, str) and name else p), source=(catalog_id or str(p)) + came_from, arch=arch)


def get_model(name: str | ModelSpec, arch: str | None = None) -> ModelSpec:
    """Resolve a model id, alias or path to a `config.json` (or its folder) to its spec.

    `arch`: read the config as this architecture family (`planner.configs.ARCHITECTURES`), for a
    `model_type` the planner does not know but that is laid out like a known one."""
    if isinstance(name, ModelSpec):
        return name
    text = str(name).strip()
    if not text:
        raise PlannerError("model is empty; give a catalog id (see `python -m planner models`) or a path to config.json")
    hf_id = _model_index().get(_key(text))
    if hf_id is not None:
        return _model_from_path(str(model_ids()[hf_id]), hf_id, arch or None)
    path = Path(text).expanduser()
    if path.exists():
        path = path.resolve() / "config.json" if path.is_dir() else path.resolve()
        return _model_from_path(str(path), None, arch or None, _stamp(path))
    ids = sorted(model_ids())
    raise PlannerError(f"unknown model {text!r}{_suggest(text, ids)}; give a catalog id (`python -m planner models`) or a path to a config.json")
