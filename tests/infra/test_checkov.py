"""checkov (with --skip-download: it never calls out) on terraform/ and inference/k8s/, plus
the custom checks of tools/checkov. checkov lives in its own venv (.venv-checkov) because its
pins conflict with the application's; tools/checkov/install.sh creates it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT, TerraformDir

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CUSTOM_CHECKS_DIR = REPO_ROOT / "tools" / "checkov"
FIXTURE_DIR = Path(__file__).parent / "fixtures" / "checkov_custom"
CUSTOM_CHECK_IDS = ("CKV_TSC_1", "CKV_TSC_2", "CKV_TSC_3")

pytestmark = pytest.mark.skipif(
    not CHECKOV.exists(),
    reason=f"checkov is not installed in {CHECKOV.parent.parent}: run tools/checkov/install.sh",
)


def _checkov(directory: Path, framework: str, *extra: str) -> dict[str, Any]:
    command = [
        str(CHECKOV),
        "--directory",
        str(directory),
        "--framework",
        framework,
        "--external-checks-dir",
        str(CUSTOM_CHECKS_DIR),
        "--skip-download",  # never fetch guidelines or policies from the platform API
        "--output",
        "json",
        *extra,
    ]
    started = time.monotonic()
    # No update check against PyPI either: the run must be fully offline and reproducible.
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=env)
    print(f"checkov {framework} on {directory.relative_to(REPO_ROOT)}: {time.monotonic() - started:.1f} s")
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    # One framework gives one report; checkov prints a list when several ran.
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1, [r.get("check_type") for r in reports]
    return reports[0]


def _describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in checks)


def _assert_clean(report: dict[str, Any]) -> None:
    results = report.get("results", {})
    failed = results.get("failed_checks", [])
    assert not failed, "checkov failures (fix, or skip inline with a reason):\n" + _describe(failed)
    assert report["summary"]["parsing_errors"] == 0
    for skipped in results.get("skipped_checks", []):
        reason = (skipped["check_result"].get("suppress_comment") or "").strip()
        assert reason and reason != "No comment provided", f"skip without a reason: {_describe([skipped])}"


@pytest.fixture(scope="module")
def terraform_report() -> dict[str, Any]:
    return _checkov(REPO_ROOT / "terraform", "terraform")


def test_checkov_passes_terraform_when_skips_carry_reasons(terraform_report: dict[str, Any]) -> None:
    _assert_clean(terraform_report)


def test_checkov_passes_kubernetes_manifests_when_skips_carry_reasons() -> None:
    _assert_clean(_checkov(REPO_ROOT / "inference" / "k8s", "kubernetes"))


def test_custom_checks_run_on_every_subscription_and_service(
    terraform_report: dict[str, Any], modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    results = terraform_report["results"]
    evaluated = [
        c
        for key in ("passed_checks", "skipped_checks")
        for c in results.get(key, [])
        if c["check_id"] in CUSTOM_CHECK_IDS
    ]
    by_check = {check: {c["resource"] for c in evaluated if c["check_id"] == check} for check in CUSTOM_CHECK_IDS}
    # checkov evaluates a module call once, also one with for_each over the step registry (it does
    # not expand jsondecode(file(...))): every instance runs the same module code, so once is enough.
    calls = dev.module_calls()
    # Every subscription of every module called: the steps' and their dead letters', and the
    # results topic's BigQuery subscription.
    assert by_check["CKV_TSC_1"] == {
        f"module.{name}.google_pubsub_subscription.{resource}"
        for name, body in calls.items()
        for resource in modules[body["source"].rsplit("/", 1)[-1]].resources("google_pubsub_subscription")
    }
    assert "module.results_bigquery.google_pubsub_subscription.bigquery" in by_check["CKV_TSC_1"]
    assert by_check["CKV_TSC_2"] == {
        f"module.{name}.google_cloud_run_v2_service.this"
        for name, body in calls.items()
        if body["source"].endswith("/cloud_run_service")
    }
    skipped = [c["resource"] for c in results.get("skipped_checks", []) if c["check_id"] == "CKV_TSC_2"]
    assert skipped == ["module.api.google_cloud_run_v2_service.this"], "only the partner API may be public"


def test_custom_checks_flag_missing_dead_letter_retry_public_ingress_and_project_grants() -> None:
    report = _checkov(FIXTURE_DIR, "terraform", "--check", ",".join(CUSTOM_CHECK_IDS))
    results = report["results"]
    failed = {(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])}
    passed = {(c["check_id"], c["resource"]) for c in results.get("passed_checks", [])}
    assert failed == {
        ("CKV_TSC_1", "google_pubsub_subscription.without_dead_letter"),
        ("CKV_TSC_1", "google_pubsub_subscription.without_retry"),
        ("CKV_TSC_2", "google_cloud_run_v2_service.public"),
        ("CKV_TSC_2", "google_cloud_run_v2_service.ingress_omitted"),
        ("CKV_TSC_3", "google_project_iam_member.runtime_unconditioned"),
        ("CKV_TSC_3", "google_project_iam_member.workload_identity_unconditioned"),
        ("CKV_TSC_3", "google_project_iam_member.runtime_time_condition"),
        ("CKV_TSC_3", "google_project_iam_binding.runtime_members"),
    }
    assert passed == {
        ("CKV_TSC_1", "google_pubsub_subscription.complete"),
        ("CKV_TSC_2", "google_cloud_run_v2_service.internal"),
        ("CKV_TSC_3", "google_project_iam_member.runtime_database_condition"),
        ("CKV_TSC_3", "google_project_iam_member.human"),
    }


def test_runtime_accounts_hold_no_unconditioned_project_role(terraform_report: dict[str, Any]) -> None:
    results = terraform_report["results"]
    by_outcome = {
        key: {c["resource"] for c in results.get(key, []) if c["check_id"] == "CKV_TSC_3"}
        for key in ("passed_checks", "skipped_checks")
    }
    # Every Cloud Run service's Firestore grant carries its resource.name condition, so it passes.
    firestore_grants = {r for r in by_outcome["passed_checks"] if r.endswith("google_project_iam_member.firestore[0]")}
    assert {r.split(".google_project_iam_member")[0] for r in firestore_grants} == {
        "module.step_service",
        "module.dead_letter",
        "module.api",
        "module.reconcile",
    }
    # Skipped (each with its reason): identities that are not trackscan's runtime accounts, or roles
    # with no resource-level form. Nothing else may be granted on the project.
    assert by_outcome["skipped_checks"] == {
        "module.gke.google_project_iam_member.nodes",
        "module.gke.google_project_iam_member.metrics_adapter",
        "module.deployer.google_project_iam_member.log_writer",
        "module.deployer.google_project_iam_member.kubernetes_developer",
        "module.deployer.google_project_iam_member.cluster_objects",
    }
