"""The two lanes: what Terraform and the release deploy for each, and that `trackscan cost` prices
exactly that (shared/trackscan/costs/lanes.toml against Terraform's defaults and the manifests)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import K8S_BASE_DIR, REPO_ROOT, TerraformDir, first, yaml
from tests.infra.test_workers import _container, _objects, _render
from trackscan.costs.model import load_inputs
from trackscan.pipeline.steps import STEPS

LANES_TOML = REPO_ROOT / "shared" / "trackscan" / "costs" / "lanes.toml"


@pytest.fixture(scope="module")
def priced() -> dict[str, Any]:
    """The deployment the cost model prices."""
    return tomllib.loads(LANES_TOML.read_text())["deployment"]


def _cloudbuild_substitutions() -> dict[str, str]:
    return yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())["substitutions"]


def test_cost_model_prices_terraform_s_defaults_for_each_lane(dev: TerraformDir, priced: dict[str, Any]) -> None:
    variables, local = dev.variables(), dev.locals()
    assert priced["default_region"] == variables["region"]["default"]
    assert variables["lane"]["default"] == "cloud-run"
    assert (variables["gke_location"]["default"] is None) == (not priced["regional_cluster"])
    assert 'coalesce(var.gke_location, "${var.region}-b")' in local["gke_location"]  # null: a zonal cluster
    assert variables["system_machine_type"]["default"] == priced["system_machine"]
    assert variables["system_spot"]["default"] == priced["system_spot"]
    assert local["amx_worker_machine"] == priced["worker_machine"]
    assert "lookup(local.amx_worker_machine, var.region" in local["worker_machine_type"]
    assert variables["gpu_machine_type"]["default"] + "+" + variables["gpu_type"]["default"] == priced["gpu_machine"]
    assert variables["segment_s"]["default"] == load_inputs().segment_s
    assert variables["reconcile_schedule"]["default"] == "* * * * *"
    assert priced["reconcile_passes_per_month"] == 730 * 60


def test_the_system_node_runs_on_spot_as_its_variable_says(dev: TerraformDir, modules: dict[str, TerraformDir]) -> None:
    system_pool = modules["gke"].resources("google_container_node_pool")["system"]
    assert first(system_pool["node_config"])["spot"] == "${var.system_spot}"
    assert dev.module_calls()["gke"]["system_spot"] == "${var.system_spot}"


def test_cost_model_prices_the_manifests_minimum_replicas(tmp_path: Path, priced: dict[str, Any]) -> None:
    triton = yaml.safe_load((K8S_BASE_DIR / "hpa.yaml").read_text())
    assert triton["spec"]["minReplicas"] == priced["triton_min_replicas"]
    assert _render(tmp_path, "--lane", "workers").returncode == 0
    hpas = [obj for (kind, _), obj in _objects(tmp_path).items() if kind == "HorizontalPodAutoscaler"]
    assert sum(hpa["spec"]["minReplicas"] for hpa in hpas) == priced["worker_min_pods"]
    deployments = [obj for (kind, _), obj in _objects(tmp_path).items() if kind == "Deployment"]
    requested = sum(_cpu(_container(d)["resources"]["requests"]["cpu"]) for d in deployments)
    assert requested == priced["worker_min_vcpus"]
    machine = priced["worker_machine"]["us-central1"]
    assert int(re.fullmatch(r"\w+-standard-(\d+)", machine)[1]) == priced["worker_vcpus"]  # type: ignore[index]


def _cpu(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_workers_lane_runs_every_step_on_workers_with_no_gpu_pool(dev: TerraformDir, modules) -> None:
    local, calls = dev.locals(), dev.module_calls()
    every_step_but_cloud_run_only = "sort(setsubtract(keys(local.steps), local.cloud_run_only_steps))"
    assert (
        local["worker_steps"]
        == f'${{var.lane == "workers" ? {every_step_but_cloud_run_only} : sort(var.worker_steps)}}'
    )
    # A step that calls the internet (deliver: partners' webhooks) stays on Cloud Run, as the
    # private GKE nodes have no route out; the registry says which.
    assert local["cloud_run_only_steps"] == "${[for step, settings in local.steps : step if settings.internet]}"
    assert calls["gke"]["gpu_pool"] == '${var.lane == "cloud-run"}'
    assert modules["gke"].resources("google_container_node_pool")["gpu_spot"]["count"] == "${var.gpu_pool ? 1 : 0}"
    # The workers fetch the release's model: only the workers lane grants them the model bucket.
    roles = calls["pull_workers"]["steps"]
    assert 'var.lane == "workers" ? [{bucket = module.buckets.models_bucket_name' in roles.replace("\n", " ")
    substitutions = dev.locals()["cloudbuild_substitutions"]
    assert substitutions["_LANE"] == "${var.lane}"
    assert str(dev.variables()["whole_track_max_s"]["default"]) == _cloudbuild_substitutions()["_WHOLE_TRACK_MAX_S"]


def test_capacity_plan_reads_the_worker_caps_terraform_and_cloud_build_deploy(
    dev: TerraformDir, priced: dict[str, Any], tmp_path: Path
) -> None:
    variables = dev.variables()
    assert variables["worker_max_nodes"]["default"] == priced["worker_max_nodes"]
    assert variables["worker_max_pods"]["default"] == priced["worker_max_pods"]
    assert variables["gpu_max_nodes"]["default"] == priced["gpu_max_nodes"]
    step_names = {step.name for step in STEPS}
    caps = {name: cap for name, cap in variables["max_instances"]["default"].items() if name in step_names}
    assert caps == priced["cloud_run_max_instances"]
    assert dev.locals()["cloudbuild_substitutions"]["_WORKER_MAX_PODS"] == "${tostring(var.worker_max_pods)}"
    assert _cloudbuild_substitutions()["_WORKER_MAX_PODS"] == str(priced["worker_max_pods"])
    assert '--max-replicas "${_WORKER_MAX_PODS}"' in (REPO_ROOT / "cloudbuild.yaml").read_text()
    assert _render(tmp_path, "--lane", "workers", "--max-replicas", "7").returncode == 0
    hpas = [obj for (kind, _), obj in _objects(tmp_path).items() if kind == "HorizontalPodAutoscaler"]
    assert {hpa["spec"]["maxReplicas"] for hpa in hpas} == {7}


def test_release_of_the_workers_lane_deploys_no_triton_and_gives_workers_the_model(tmp_path: Path) -> None:
    steps = {s["id"]: s for s in yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())["steps"]}
    triton = steps["deploy-triton"]["args"][-1]
    skip = triton.index('if [ "${_LANE}" = "workers" ]')
    assert skip < triton.index("kubectl apply -k inference/k8s/release"), "the workers lane must not deploy Triton"
    workers = steps["deploy-workers"]["args"][-1]
    for line in ("TRACKSCAN_TAGGER=in-process", "TRACKSCAN_WHOLE_TRACK_MAX_S=${_WHOLE_TRACK_MAX_S}", "model.onnx"):
        assert line in workers
    assert '--lane "${_LANE}"' in workers
    assert _render(tmp_path, "--lane", "workers").returncode == 0
    ingest = _container(_objects(tmp_path)[("Deployment", "worker-ingest")])
    assert ingest["resources"]["limits"]["memory"] == "2Gi"
    assert ingest["args"][-2:] == ["--concurrency", "2"], "two tracks at once: I/O waits do not hold the core"


def test_worker_lane_settings_are_read_by_the_config() -> None:
    sys.path.insert(0, str(REPO_ROOT / "shared"))
    config = pytest.importorskip("trackscan.domain.config")
    assert {"TRACKSCAN_TAGGER", "TRACKSCAN_WHOLE_TRACK_MAX_S", "TRACKSCAN_MODEL_PATH"} <= set(config.env_names())
