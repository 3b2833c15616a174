"""The pull workers on GKE (inference/k8s/workers, written by inference/k8s/render_workers.py from
terraform/steps.json) and the custom-metrics adapter their HPAs need: the manifests are what the
script writes, one Deployment per step that runs the real CLI on the spot CPU pool with a shutdown
budget that lets a step finish, and names that agree with Terraform."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT, TerraformDir, first, yaml

WORKERS_DIR = REPO_ROOT / "inference" / "k8s" / "workers"
ADAPTER_DIR = REPO_ROOT / "inference" / "k8s" / "custom-metrics"
RENDER = REPO_ROOT / "inference" / "k8s" / "render_workers.py"
STEP_BUDGET_S = 10  # a step never runs longer (architecture promise 1)
SPOT_POD_BUDGET_S = 15  # GKE gives non-system pods 15 s of a spot VM's 30 s notice


def _objects(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for manifest in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            if document and document.get("kind") != "Kustomization":
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def _render(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(RENDER), "--out", str(tmp_path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_committed_worker_manifests_are_what_the_script_writes(tmp_path: Path) -> None:
    completed = _render(tmp_path)
    assert completed.returncode == 0, completed.stderr
    written = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    committed = {p.name: p.read_text() for p in WORKERS_DIR.glob("*.yaml")}
    assert committed == written, "run `python3 inference/k8s/render_workers.py` and commit inference/k8s/workers"


def test_one_worker_per_registered_step_runs_the_cli_on_spot_nodes(steps: dict[str, dict[str, Any]]) -> None:
    objects = _objects(WORKERS_DIR)
    deployments = {name: body for (kind, name), body in objects.items() if kind == "Deployment"}
    # A step that calls the internet (deliver) stays on Cloud Run: the worker nodes have no route out.
    on_workers = {step: settings for step, settings in steps.items() if not settings["internet"]}
    assert set(deployments) == {f"worker-{step}" for step in on_workers} and len(on_workers) == len(steps) - 1
    for step, settings in on_workers.items():
        pod = deployments[f"worker-{step}"]["spec"]["template"]["spec"]
        container = _container(deployments[f"worker-{step}"])
        assert container["command"] == ["trackscan", "worker", "--step", step]
        concurrency = str(settings["concurrency"])
        assert container["args"] == ["--subscription", f"trackscan-{step}", "--concurrency", concurrency]
        assert container["resources"]["limits"]["cpu"] == settings["cpu"]
        assert pod["nodeSelector"] == {"cloud.google.com/gke-spot": "true", "trackscan.dev/pool": "cpu-spot"}
        assert pod["serviceAccountName"] == f"worker-{step}"
        assert ("ServiceAccount", f"worker-{step}") in objects
        # SIGTERM stops the pulling; the step in hand (at most 10 s) finishes before the spot VM goes.
        assert STEP_BUDGET_S < pod["terminationGracePeriodSeconds"] <= SPOT_POD_BUDGET_S
        hpa = objects[("HorizontalPodAutoscaler", f"worker-{step}")]["spec"]
        selector = hpa["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]
        assert selector == {"resource.labels.subscription_id": f"trackscan-{step}"}
        env = {e["name"]: e["value"] for e in container["env"]}
        assert ("TRITON_GRPC_URL" in env) == settings["triton"]


def test_worker_arguments_are_accepted_by_the_cli(steps: dict[str, dict[str, Any]]) -> None:
    sys.path.insert(0, str(REPO_ROOT / "shared"))
    click = pytest.importorskip("click")
    main = pytest.importorskip("trackscan.cli.main")
    worker = main.cli.commands["worker"]
    for step, settings in steps.items():
        if settings["internet"]:
            continue  # on Cloud Run in every lane
        deployment = _objects(WORKERS_DIR)[("Deployment", f"worker-{step}")]
        container = _container(deployment)
        arguments = container["command"][2:] + container["args"]
        context = worker.make_context("worker", list(arguments))
        assert context.params == {
            "step": step,
            "subscription": f"trackscan-{step}",
            "concurrency": settings["concurrency"],
        }
    with pytest.raises(click.UsageError):
        worker.make_context("worker", ["--step", "no-such-step"])


def test_release_renders_only_the_chosen_steps_with_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / "worker.env"
    env_file.write_text("TRACKSCAN_TOPIC_PREFIX=prod\n")
    out = tmp_path / "release"
    image = "europe-west4-docker.pkg.dev/p/prod/trackscan@sha256:" + "0" * 64
    completed = _render(out, "--prefix", "prod", "--steps", "features", "--image", image, "--env-file", str(env_file))
    assert completed.returncode == 0, completed.stderr
    objects = _objects(out)
    assert {name for kind, name in objects if kind == "Deployment"} == {"worker-features"}
    assert _container(objects[("Deployment", "worker-features")])["image"] == image
    assert _container(objects[("Deployment", "worker-features")])["args"][1] == "prod-features"
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["configMapGenerator"] == [{"name": "worker-env", "envs": ["worker.env"]}]
    assert (out / "worker.env").read_text() == env_file.read_text()
    assert _render(tmp_path / "bad", "--steps", "transcode").returncode == 2


def test_terraform_gives_workers_their_pool_identity_and_subscription(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    pool = modules["gke"].resources("google_container_node_pool")["cpu_spot"]
    node = first(pool["node_config"])
    assert node["spot"] is True and node["labels"] == {"trackscan.dev/pool": "cpu-spot"}
    assert {(t["key"], t["effect"]) for t in node["taint"]} == {("cloud.google.com/gke-spot", "NO_SCHEDULE")}
    assert first(pool["autoscaling"])["total_min_node_count"] == 0
    namespace = next(obj for (kind, _), obj in _objects(WORKERS_DIR).items() if kind == "Namespace")
    assert dev.locals()["worker_namespace"] == namespace["metadata"]["name"]
    principal = modules["pull_workers"].locals()["principal"]
    assert "/ns/${var.namespace}/sa/worker-${step}" in principal
    grants = modules["pull_workers"].resources("google_pubsub_subscription_iam_member")["subscriber"]
    assert grants["role"] == "roles/pubsub.subscriber"
    # Every grant of a worker is on a resource, or limited to trackscan's database.
    firestore = modules["pull_workers"].resources("google_project_iam_member")["firestore"]
    assert "resource.name ==" in first(firestore["condition"])["expression"]
    # The subscription a worker pulls is the step's one subscription, <prefix>-<step>.
    assert dev.module_calls()["step_subscription"]["name"] == "${local.name}-${each.key}"


def test_adapter_is_pinned_and_serves_every_external_metric_the_hpas_use() -> None:
    objects = _objects(ADAPTER_DIR)
    image = _container(objects[("Deployment", "custom-metrics-stackdriver-adapter")])["image"]
    repository, _, tag = image.rpartition(":")
    assert repository == "gcr.io/gke-release/custom-metrics-stackdriver-adapter"
    assert tag.startswith("v") and tag != "latest"
    kustomization = yaml.safe_load((ADAPTER_DIR / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in ADAPTER_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    readable = set(objects[("ClusterRole", "external-metrics-reader")]["rules"][0]["resources"])
    hpas = [*_objects(WORKERS_DIR).values(), *_objects(REPO_ROOT / "inference" / "k8s" / "base").values()]
    used = {
        metric["external"]["metric"]["name"]
        for obj in hpas
        if obj["kind"] == "HorizontalPodAutoscaler"
        for metric in obj["spec"]["metrics"]
        if metric["type"] == "External"
    }
    assert used and used <= readable, f"the HPA controller may not read {sorted(used - readable)}"
