"""CKV_TSC_2: every Cloud Run (v2) service accepts internal traffic only.

Workers are invoked by Pub/Sub push, which counts as internal for services in the same
project, so they never need internet ingress. checkov's built-in ingress checks cover Cloud
Functions and Cloud Run v1 only. A public API must carry an inline skip with its reason.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

INTERNAL_INGRESS = ("INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")


class CloudRunV2InternalIngress(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure Cloud Run v2 services use internal (or internal and Cloud Load Balancing) ingress",
            id="CKV_TSC_2",
            categories=[CheckCategories.NETWORKING],
            supported_resources=["google_cloud_run_v2_service"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["ingress"]
        values = conf.get("ingress")
        # Omitted ingress means the API default, INGRESS_TRAFFIC_ALL.
        if not values:
            return CheckResult.FAILED
        ingress = values[0] if isinstance(values, list) else values
        return CheckResult.PASSED if ingress in INTERNAL_INGRESS else CheckResult.FAILED


check = CloudRunV2InternalIngress()
