"""CKV_TSC_1: every Pub/Sub subscription has a dead-letter topic and a retry policy.

Without a dead-letter policy a poison message is redelivered until retention expires (7 days)
and then silently dropped; without a retry policy a failing push endpoint is retried
immediately, hammering a service that is already down. checkov has no built-in check for this.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


def _first_block(conf: dict[str, Any], key: str) -> dict[str, Any] | None:
    blocks = conf.get(key)
    if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict):
        return blocks[0]
    return None


class PubSubSubscriptionDeadLetterAndRetry(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every Pub/Sub subscription has a dead_letter_policy and a retry_policy",
            id="CKV_TSC_1",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["google_pubsub_subscription"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["dead_letter_policy", "retry_policy"]
        dead_letter = _first_block(conf, "dead_letter_policy")
        if dead_letter is None or not dead_letter.get("dead_letter_topic"):
            return CheckResult.FAILED
        if _first_block(conf, "retry_policy") is None:
            return CheckResult.FAILED
        return CheckResult.PASSED


check = PubSubSubscriptionDeadLetterAndRetry()
