"""CKV_TSC_3: no unconditioned project-level IAM grant to a service account or a workload identity.

A project-level role reaches every resource of its kind in the project, including whatever else
the project hosts. trackscan's runtime identities (Cloud Run service accounts, GKE Workload
Identity principals) get their roles on the resources they use (a bucket, a topic, a
subscription). Where Google Cloud offers no resource-level policy (Firestore databases), the
project-level grant must carry an IAM condition on `resource.name` that limits it to trackscan's
own resource. A grant that cannot be narrowed (a node account's logging and monitoring role)
carries an inline skip with its reason.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# Google service accounts, and Workload Identity Federation principals (GKE Kubernetes accounts).
MACHINE_MEMBER_PREFIXES = ("serviceAccount:", "principal://", "principalSet://")
# People and groups are not runtime identities.
HUMAN_MEMBER_PREFIXES = ("user:", "group:", "domain:")


def _values(conf: dict[str, Any], key: str) -> list[str]:
    """An argument's values as strings (checkov wraps each argument in a list)."""
    raw = conf.get(key) or []
    flat: list[Any] = []
    for value in raw if isinstance(raw, list) else [raw]:
        flat.extend(value if isinstance(value, list) else [value])
    return [str(value) for value in flat]


def _is_machine(member: str) -> bool:
    # An expression checkov could not resolve ("${local.principal}/ns/...") may be a machine
    # identity: it counts as one, so the grant still needs its condition or a skip.
    unresolved = "${" in member and not member.startswith(HUMAN_MEMBER_PREFIXES)
    return member.startswith(MACHINE_MEMBER_PREFIXES) or unresolved


def _limited_to_a_resource(conf: dict[str, Any]) -> bool:
    conditions = conf.get("condition")
    if not (isinstance(conditions, list) and conditions and isinstance(conditions[0], dict)):
        return False
    return any("resource.name" in expression for expression in _values(conditions[0], "expression"))


class ProjectIamRuntimeGrant(BaseResourceCheck):
    """The check, registered with checkov when --external-checks-dir loads this module."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure project-level IAM grants to service accounts and workload identities are limited by a "
            "resource.name condition",
            id="CKV_TSC_3",
            categories=[CheckCategories.IAM],
            supported_resources=["google_project_iam_member", "google_project_iam_binding"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        """FAILED for a machine member granted on the project without a resource.name condition."""
        self.evaluated_keys = ["member", "members", "condition"]
        members = _values(conf, "member") + _values(conf, "members")
        if not any(_is_machine(member) for member in members):
            return CheckResult.PASSED
        return CheckResult.PASSED if _limited_to_a_resource(conf) else CheckResult.FAILED


check = ProjectIamRuntimeGrant()
