"""Kubernetes manifests that run a planned fleet: the engine's container image, one replica per
pod (a Deployment with `replicas`) or, when a replica spans more GPUs than one node holds, one
LeaderWorkerSet group per replica (leader + workers, `size` = nodes per replica; not over the hosts
of a rack-scale NVLink system, `GpuSpec.gpus_per_host`, which needs a ComputeDomain); GPU requests,
the serve command, probes on the engine's health endpoint, a ConfigMap for TensorRT-LLM's
options YAML and a Service. Images are data (`engine_options/images.yaml`, with sources).
"""

from __future__ import annotations

import math
import re
import shlex
from functools import lru_cache

import yaml

from .catalog import ROOT, get_gpu
from .errors import PlannerError

IMAGES = ROOT / "engine_options" / "images.yaml"
PORT = 8000


@lru_cache(maxsize=1)
def images() -> dict:
    return yaml.safe_load(IMAGES.read_text())


def _name(text: str) -> str:
    """A DNS-1123 name from any text (model ids hold '/', '.', capitals)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "llm")[:50].rstrip("-")


def manifests(estimate: dict, deploy: dict, replicas: int = 1, name: str | None = None) -> list[dict]:
    """The manifests of `replicas` copies of the deployment an estimate describes (`estimate` as
    `Estimate.model_dump()`, `deploy` as `deployment_settings`)."""
    e = estimate
    engine = e["engine"]
    image = images()[engine]
    app = _name(name or f"{e['model']}-{e['gpu']}-{e['precision']}")
    gpus = int(e["gpus"])
    gpu = get_gpu(e["gpu"])
    if gpu.gpus_per_host is not None and gpus > gpu.gpus_per_host:
        raise PlannerError(
            f"a replica of {gpus} {gpu.id} spans {math.ceil(gpus / gpu.gpus_per_host)} hosts of {gpu.gpus_per_host} GPUs: multi-node NVLink between them needs an "
            f"NVIDIA DRA ComputeDomain (IMEX channels), which these manifests do not set up; plan at most {gpu.gpus_per_host} GPUs per replica for manifests, or deploy it with NVIDIA Dynamo"
        )
    per_node = gpu.gpus_per_node
    nodes = math.ceil(gpus / per_node)
    command = deploy[engine]["command"] if engine in deploy else deploy["trtllm"]["command"]
    args = [*shlex.split(command), "--host", "0.0.0.0", "--port", str(PORT)]
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "llm-capacity-plan"}
    mounts, volumes, out = [], [], []
    if engine == "trtllm":
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{app}-llm-options", "labels": labels},
                "data": {"llm_options.yaml": deploy["trtllm"]["llm_options_yaml"]},
            }
        )
        mounts = [{"name": "llm-options", "mountPath": "/config"}]
        volumes = [{"name": "llm-options", "configMap": {"name": f"{app}-llm-options"}}]
        args = [("/config/llm_options.yaml" if a == "llm_options.yaml" else a) for a in args]
    probe = {"httpGet": {"path": image["health"], "port": PORT}, "periodSeconds": 10}
    per_pod = min(gpus, per_node)
    container = {
        "name": engine,
        "image": image["image"],
        "command": args[:1],
        "args": args[1:],
        "ports": [{"containerPort": PORT, "name": "http"}],
        "resources": {"limits": {"nvidia.com/gpu": per_pod}, "requests": {"nvidia.com/gpu": per_pod}},
        "startupProbe": {**probe, "failureThreshold": 180},  # loading weights and compiling graphs take minutes
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "volumeMounts": [*mounts, {"name": "dshm", "mountPath": "/dev/shm"}],
    }
    pod = {"metadata": {"labels": labels}, "spec": {"containers": [container], "volumes": [*volumes, {"name": "dshm", "emptyDir": {"medium": "Memory"}}]}}
    if nodes == 1:
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": app, "labels": labels},
                "spec": {"replicas": int(replicas), "selector": {"matchLabels": labels}, "template": pod},
            }
        )
    else:  # one replica over several nodes: a LeaderWorkerSet group per replica (the leader serves)
        if engine == "trtllm":
            raise PlannerError(
                f"a replica of {gpus} GPUs spans {nodes} nodes: multi-node TensorRT-LLM runs under MPI across them, which these manifests do not set up; "
                "plan it with --engine vllm or sglang for manifests, or deploy it with NVIDIA Dynamo"
            )
        leader_args, worker_args = _multi_node(engine, args, nodes)
        container["command"], container["args"] = leader_args[:1], leader_args[1:]
        quiet = ("startupProbe", "readinessProbe", "livenessProbe", "ports")
        worker_container = {
            **{k: v for k, v in container.items() if k not in quiet},
            "name": f"{engine}-worker",
            "command": worker_args[:1],
            "args": worker_args[1:],
        }
        worker = {"metadata": pod["metadata"], "spec": {**pod["spec"], "containers": [worker_container]}}
        out.append(
            {
                "apiVersion": "leaderworkerset.x-k8s.io/v1",
                "kind": "LeaderWorkerSet",
                "metadata": {"name": app, "labels": labels},
                "spec": {"replicas": int(replicas), "leaderWorkerTemplate": {"size": nodes, "leaderTemplate": pod, "workerTemplate": worker}},
            }
        )
    out.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": app, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
        }
    )
    return out


def _multi_node(engine: str, args: list[str], nodes: int) -> tuple[list[str], list[str]]:
    """Leader and worker commands of one replica over `nodes` nodes, from the variables
    LeaderWorkerSet puts in every pod (LWS_LEADER_ADDRESS, LWS_WORKER_INDEX)."""
    if engine == "sglang":
        dist = ["--nnodes", str(nodes), "--dist-init-addr", "$(LWS_LEADER_ADDRESS):5000"]
        return [*args, *dist, "--node-rank", "0"], [*args, *dist, "--node-rank", "$(LWS_WORKER_INDEX)"]
    serve = shlex.join(args)  # vLLM: a Ray cluster over the group, the leader serving
    return (
        ["/bin/sh", "-c", f"ray start --head --port=6379 && {serve} --distributed-executor-backend ray"],
        ["/bin/sh", "-c", "ray start --address=$LWS_LEADER_ADDRESS:6379 --block"],
    )


class _Plain(yaml.SafeDumper):
    """YAML without anchors and aliases (shared label dicts are written out each time)."""

    def ignore_aliases(self, data) -> bool:
        return True


def to_yaml(docs: list[dict]) -> str:
    used = ", ".join(f"{k} {v['image']}" for k, v in images().items())
    return f"# images: {used} ({IMAGES.name} gives their sources)\n" + yaml.dump_all(docs, Dumper=_Plain, sort_keys=False)


def pod_templates(docs: list[dict]) -> list[dict]:
    """The pod templates a LeaderWorkerSet holds, as core `PodTemplate` objects (LeaderWorkerSet is
    a custom resource: its pods are what the core schema can check)."""
    out = []
    for d in docs:
        if d["kind"] == "LeaderWorkerSet":
            t = d["spec"]["leaderWorkerTemplate"]
            for role in ("leaderTemplate", "workerTemplate"):
                out.append({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": f"{d['metadata']['name']}-{role.lower()}"}, "template": t[role]})
    return out
