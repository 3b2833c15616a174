"""Checks of Triton's manifests (inference/k8s/base): the spot shutdown budget, scheduling on
the spot GPU pool, security, and agreement with the names and ranges Terraform uses."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import K8S_BASE_DIR, TerraformDir, yaml

NAMESPACE = "trackscan-inference"
SPOT_POD_BUDGET_S = 15  # GKE gives non-system pods 15 s of a spot VM's 30 s notice


def _triton_container(manifests: dict) -> dict[str, Any]:
    pod = manifests[("Deployment", "triton")]["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "triton")


def _arg(container: dict[str, Any], flag: str) -> str | None:
    for arg in container["args"]:
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
    return None


def test_triton_shutdown_fits_the_spot_notice(manifests: dict) -> None:
    pod = manifests[("Deployment", "triton")]["spec"]["template"]["spec"]
    container = _triton_container(manifests)
    grace_s = pod["terminationGracePeriodSeconds"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    exit_timeout_s = int(_arg(container, "--exit-timeout-secs"))
    assert grace_s == SPOT_POD_BUDGET_S
    assert exit_timeout_s <= 10
    assert int(pre_stop[1]) + exit_timeout_s < grace_s, "preStop + drain must end before SIGKILL"


def test_triton_runs_only_on_spot_gpu_nodes(manifests: dict) -> None:
    pod = manifests[("Deployment", "triton")]["spec"]["template"]["spec"]
    tolerations = {(t["key"], t["effect"]) for t in pod["tolerations"]}
    assert {("nvidia.com/gpu", "NoSchedule"), ("cloud.google.com/gke-spot", "NoSchedule")} <= tolerations
    assert pod["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
    container = _triton_container(manifests)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_triton_serves_a_fixed_model_repository_and_reports_readiness(manifests: dict) -> None:
    container = _triton_container(manifests)
    assert _arg(container, "--model-control-mode") == "none"
    assert _arg(container, "--model-repository") == "$(MODEL_REPOSITORY)"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    env = {e["name"]: e for e in container["env"]}
    assert env["MODEL_REPOSITORY"]["valueFrom"]["configMapKeyRef"]["name"] == "triton-config"


def test_triton_runs_as_non_root_with_nothing_to_escalate(manifests: dict) -> None:
    pod = manifests[("Deployment", "triton")]["spec"]["template"]["spec"]
    container = _triton_container(manifests)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False


def test_service_uses_the_address_terraform_reserves(
    manifests: dict, modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    service = manifests[("Service", "triton")]
    annotations = service["metadata"]["annotations"]
    gke = modules["gke"].variables()
    assert annotations["networking.gke.io/load-balancer-type"] == "Internal"
    # The base names the default environment's address (<name_prefix>-triton-ilb); Cloud Build writes
    # the environment's own (terraform output cloudbuild_substitutions, _TRITON_ADDRESS).
    address_name = annotations["networking.gke.io/load-balancer-ip-addresses"]
    assert gke["triton_ilb_address_name"]["default"] is None
    assert '"${var.name}-triton-ilb"' in modules["gke"].locals()["triton_ilb_address_name"]
    assert address_name == f"{dev.variables()['name_prefix']['default']}-triton-ilb"
    assert [p["port"] for p in service["spec"]["ports"]] == [8001]
    assert service["spec"]["externalTrafficPolicy"] == "Local", "Local keeps client IPs for the NetworkPolicy"


def test_names_match_the_workload_identity_grant(manifests: dict, modules: dict[str, TerraformDir]) -> None:
    gke = modules["gke"].variables()
    assert gke["triton_namespace"]["default"] == NAMESPACE
    assert ("Namespace", NAMESPACE) in manifests
    assert ("ServiceAccount", gke["triton_service_account"]["default"]) in manifests
    pod = manifests[("Deployment", "triton")]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == gke["triton_service_account"]["default"]


def test_only_the_cloud_run_egress_range_reaches_grpc(manifests: dict, dev: TerraformDir) -> None:
    run_egress_cidr = dev.variables()["run_egress_cidr"]["default"]
    policy = manifests[("NetworkPolicy", "triton-clients")]
    grpc_rules = [r for r in policy["spec"]["ingress"] if {"protocol": "TCP", "port": 8001} in r["ports"]]
    peers = [peer for rule in grpc_rules for peer in rule["from"]]
    assert [peer["ipBlock"]["cidr"] for peer in peers if "ipBlock" in peer] == [run_egress_cidr]
    # Besides Cloud Run, only the infer step's pull workers in their namespace.
    in_cluster = [peer for peer in peers if "ipBlock" not in peer]
    assert in_cluster == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dev.locals()["worker_namespace"]}},
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "trackscan-worker", "trackscan.dev/step": "infer"}
            },
        }
    ]
    assert manifests[("Service", "triton")]["spec"]["loadBalancerSourceRanges"] == [run_egress_cidr]
    default_deny = manifests[("NetworkPolicy", "default-deny-ingress")]["spec"]
    assert default_deny["podSelector"] == {} and default_deny["policyTypes"] == ["Ingress"]


def test_disruption_budget_and_autoscaler_exist(manifests: dict, dev: TerraformDir) -> None:
    assert manifests[("PodDisruptionBudget", "triton")]["spec"]["maxUnavailable"] == 1
    hpa = manifests[("HorizontalPodAutoscaler", "triton")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "triton"
    gpu_max_nodes = dev.variables()["gpu_max_nodes"]["default"]
    assert hpa["maxReplicas"] <= gpu_max_nodes, "replicas beyond the GPU nodes stay Pending"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_BASE_DIR / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S_BASE_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
