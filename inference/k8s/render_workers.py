#!/usr/bin/env python3
"""Writes the Kubernetes manifests of the pull workers from terraform/steps.json.

The pull worker is `trackscan worker --step NAME`. Per step of the registry's export: a
ServiceAccount (its Workload Identity, granted by Terraform's module pull_workers), a Deployment
on the spot CPU pool and an HPA on its subscription's backlog; plus the namespace, a default-deny
NetworkPolicy and a kustomization.

    python3 inference/k8s/render_workers.py            # the reviewed base, inference/k8s/workers/
    python3 inference/k8s/render_workers.py --prefix P --steps features,infer --image REPO/...@sha256:...
        --env-file worker.env --out DIR                # a release (Cloud Build's deploy-workers step)

Standard library only: Cloud Build runs it in the cloud-sdk image. tests/infra checks that
inference/k8s/workers/ is what this script writes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS_FILE = REPO_ROOT / "terraform" / "steps.json"
BASE_DIR = REPO_ROOT / "inference" / "k8s" / "workers"
NAMESPACE = "trackscan-workers"
# In the cluster, Triton's Service by name (the internal load balancer's address is for Cloud Run).
TRITON_IN_CLUSTER = "triton.trackscan-inference.svc.cluster.local:8001"
# GKE gives a spot pod 15 s of the 30 s notice; a step takes at most 10 s, then the worker exits.
GRACE_S = 15
LABELS = {"app.kubernetes.io/name": "trackscan-worker", "app.kubernetes.io/part-of": "trackscan"}
PLACEHOLDER_ENV = "TRACKSCAN_TOPIC_PREFIX=trackscan"
# The workers lane's ingest holds the model, a whole track's decoded audio and its patches, and
# runs two tracks at once so one's download or decode overlaps the other's model time.
WHOLE_TRACK_INGEST = {"memory": "2Gi", "concurrency": 2, "cpu_request": "1"}
# In the workers lane the other steps see only the segments of tracks too long to tag whole.
LONG_TRACKS_ONLY = {"cpu_request": "250m"}
SKIPS = {
    "checkov.io/skip1": "CKV_K8S_43=The base names the image by tag; a release renders the pushed digest.",
    "checkov.io/skip2": "CKV_K8S_14=The base names the image by tag; a release renders the pushed digest.",
    "checkov.io/skip3": "CKV_K8S_8=A pull worker serves no port to probe; a stuck worker's lease lapses and "
    "its message is redelivered.",
    "checkov.io/skip4": "CKV_K8S_9=A pull worker serves no traffic, so there is nothing to be ready for.",
}


def _metadata(name: str, step: str | None = None, **extra: Any) -> dict[str, Any]:
    labels = {**LABELS, **({"trackscan.dev/step": step} if step else {})}
    return {"name": name, "namespace": NAMESPACE, "labels": labels, **extra}


def service_account(step: str) -> dict[str, Any]:
    """The step's Kubernetes identity; Terraform grants it the step's roles by its principal."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(f"worker-{step}", step),
        "automountServiceAccountToken": False,
    }


def _container(step: str, settings: dict[str, Any], prefix: str, image: str) -> dict[str, Any]:
    resources = {"cpu": settings["cpu"], "memory": settings["memory"]}
    # A step that only a long track reaches (the workers lane's chain) asks for a share of a core
    # and bursts into the node's idle CPU: its idle minimum then shares a node with ingest.
    requests = {**resources, "cpu": settings.get("cpu_request", settings["cpu"])}
    env = [{"name": "TRITON_GRPC_URL", "value": TRITON_IN_CLUSTER}] if settings["triton"] else []
    # The step's one subscription, the one its Cloud Run service is pushed from when not on workers.
    args = ["--subscription", f"{prefix}-{step}", "--concurrency", str(settings["concurrency"])]
    storage = "ephemeral-storage"
    return {
        "name": "worker",
        "image": image,
        "imagePullPolicy": "Always",
        "command": ["trackscan", "worker", "--step", step],
        "args": args,
        "envFrom": [{"configMapRef": {"name": "worker-env"}}],
        "env": env,
        "resources": {"requests": {**requests, storage: "1Gi"}, "limits": {**resources, storage: "2Gi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The decoder sandbox writes temporary files.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def deployment(step: str, settings: dict[str, Any], prefix: str, image: str) -> dict[str, Any]:
    """The step's worker pods on the spot CPU pool."""
    selector = {"app.kubernetes.io/name": "trackscan-worker", "trackscan.dev/step": step}
    pod = {
        "serviceAccountName": f"worker-{step}",
        "automountServiceAccountToken": False,
        # SIGTERM: stop pulling, finish the steps in hand (at most 10 s), exit.
        "terminationGracePeriodSeconds": GRACE_S,
        "nodeSelector": {"cloud.google.com/gke-spot": "true", "trackscan.dev/pool": "cpu-spot"},
        "tolerations": [
            {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(step, settings, prefix, image)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(f"worker-{step}", step, annotations=SKIPS),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {**LABELS, "trackscan.dev/step": step}}, "spec": pod},
        },
    }


def autoscaler(step: str, settings: dict[str, Any], prefix: str, max_replicas: int) -> dict[str, Any]:
    """Replicas follow the step's backlog (the Custom Metrics Stackdriver Adapter serves it)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(f"worker-{step}", step),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"worker-{step}"},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": "pubsub.googleapis.com|subscription|num_undelivered_messages",
                            "selector": {"matchLabels": {"resource.labels.subscription_id": f"{prefix}-{step}"}},
                        },
                        # A replica runs `concurrency` steps of up to 10 s: 5 waiting per slot is under a
                        # minute of work.
                        "target": {"type": "AverageValue", "averageValue": str(5 * settings["concurrency"])},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120}},
        },
    }


def namespace() -> dict[str, Any]:
    """The workers' namespace, under the restricted Pod Security Standard."""
    labels = {
        "app.kubernetes.io/part-of": "trackscan",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}}


def network_policy() -> dict[str, Any]:
    """Workers accept no connections: they pull."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-ingress", "namespace": NAMESPACE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def kustomization(files: list[str], env_file: str | None) -> dict[str, Any]:
    """Lists the files; the ConfigMap's hashed name rolls the workers when the environment changes."""
    source = {"envs": [env_file]} if env_file else {"literals": [PLACEHOLDER_ENV]}
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": files,
        "configMapGenerator": [{"name": "worker-env", **source}],
    }


def render(
    steps: dict[str, Any], selected: list[str], prefix: str, image: str, max_replicas: int, env_file: str | None
) -> dict[str, list[dict[str, Any]] | dict[str, Any]]:
    """File name => its objects (a list) or the kustomization (a dict)."""
    files: dict[str, Any] = {"namespace.yaml": [namespace()], "networkpolicy.yaml": [network_policy()]}
    for step in selected:
        settings = steps[step]
        files[f"{step}.yaml"] = [
            service_account(step),
            deployment(step, settings, prefix, image),
            autoscaler(step, settings, prefix, max_replicas),
        ]
    files["kustomization.yaml"] = kustomization(sorted(files), env_file and Path(env_file).name)
    return files


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else json.dumps(value)  # a JSON string is a YAML one


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_./-]+", key) else json.dumps(key)


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines of dicts, lists and scalars (all this script writes)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines += [f"{pad}{_key(key)}:", *_yaml(item, indent + 2)]
            else:  # a scalar, or an empty {} or []
                flat = json.dumps(item) if isinstance(item, dict | list) else _scalar(item)
                lines.append(f"{pad}{_key(key)}: {flat}")
    else:
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _yaml(item, indent + 2)
                lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _text(content: list[dict[str, Any]] | dict[str, Any]) -> str:
    documents = content if isinstance(content, list) else [content]
    header = "# Written by inference/k8s/render_workers.py from terraform/steps.json: edit the script.\n"
    return header + "---\n".join("\n".join(_yaml(document)) + "\n" for document in documents)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-file", type=Path, default=STEPS_FILE)
    parser.add_argument("--prefix", default="trackscan", help="the environment's name_prefix")
    parser.add_argument("--steps", help="comma-separated steps to run on workers (default: every step)")
    parser.add_argument("--image", default="trackscan", help="the trackscan image (a release passes its digest)")
    parser.add_argument("--max-replicas", type=int, default=20, help="most worker pods per step")
    parser.add_argument("--env-file", help="KEY=VALUE lines of the services' environment (the worker-env ConfigMap)")
    parser.add_argument(
        "--lane",
        choices=("cloud-run", "workers"),
        default="cloud-run",
        help="workers: ingest tags whole tracks with the model in process (more memory, two tracks at once)",
    )
    parser.add_argument("--out", type=Path, default=BASE_DIR)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Writes the manifests; returns the exit status."""
    args = parse_args(argv)
    steps = json.loads(args.steps_file.read_text())["steps"]
    # A step that calls the internet stays on Cloud Run: the worker nodes have no route out.
    runnable = sorted(name for name, settings in steps.items() if not settings["internet"])
    selected = runnable if args.steps is None else [s for s in args.steps.split(",") if s]
    unknown = sorted(set(selected) - set(runnable))
    if unknown:
        print(f"steps {unknown} cannot run on workers; these can: {runnable}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("*.yaml"):
        stale.unlink()
    if args.lane == "workers":
        steps = {name: {**settings, **LONG_TRACKS_ONLY} for name, settings in steps.items()}
        steps["ingest"].update(WHOLE_TRACK_INGEST)
    files = render(steps, selected, args.prefix, args.image, args.max_replicas, args.env_file)
    for name, content in files.items():
        (args.out / name).write_text(_text(content))
    if args.env_file:
        shutil.copyfile(args.env_file, args.out / Path(args.env_file).name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
