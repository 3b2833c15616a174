"""Alerts and the dashboard (terraform/modules/monitoring): the five alerts exist and notify the
channels given, per subscription where it matters, and the log-based metrics match the log lines
the code writes (a renamed log message fails here, not silently in production)."""

from __future__ import annotations

import re

from tests.infra.conftest import REPO_ROOT, TerraformDir, first, reference

ALERTS = {"dead_letters", "oldest_unacked", "server_errors", "triton_unavailable", "tracks_failed", "auth_throttled"}


def _condition(policy: dict) -> dict:
    return first(policy["conditions"])


def test_every_alert_exists_and_notifies_the_channels(modules: dict[str, TerraformDir], dev: TerraformDir) -> None:
    policies = modules["monitoring"].resources("google_monitoring_alert_policy")
    assert set(policies) == ALERTS
    for name, policy in policies.items():
        assert reference(policy["notification_channels"]) == "local.channels", name
        assert first(policy["documentation"])["content"], f"{name} has no runbook text"
    channels = modules["monitoring"].locals()["channels"]
    assert "var.notification_channels" in channels and "google_monitoring_notification_channel.email" in channels
    call = dev.module_calls()["monitoring"]
    assert reference(call["notification_channels"]) == "var.notification_channels"
    assert reference(call["alert_email"]) == "var.alert_email"


def test_backlog_alerts_watch_each_subscription(modules: dict[str, TerraformDir]) -> None:
    policies = modules["monitoring"].resources("google_monitoring_alert_policy")
    dead = first(_condition(policies["dead_letters"])["condition_threshold"])
    assert "subscription/dead_letter_message_count" in dead["filter"] and "local.all_subscriptions" in dead["filter"]
    assert dead["comparison"] == "COMPARISON_GT" and dead["threshold_value"] == 0
    oldest = first(_condition(policies["oldest_unacked"])["condition_threshold"])
    assert "subscription/oldest_unacked_message_age" in oldest["filter"]
    # No cross-series reducer: one time series, hence one alert, per subscription.
    assert "cross_series_reducer" not in first(oldest["aggregations"])


def test_error_alert_is_a_5xx_ratio_per_service(modules: dict[str, TerraformDir]) -> None:
    errors = modules["monitoring"].resources("google_monitoring_alert_policy")["server_errors"]
    condition = first(_condition(errors)["condition_threshold"])
    assert 'response_code_class = \\"5xx\\"' in condition["filter"]
    assert "5xx" not in condition["denominator_filter"]
    for key in ("aggregations", "denominator_aggregations"):
        assert first(condition[key])["group_by_fields"] == ["resource.labels.service_name"]


def test_log_metrics_match_the_log_lines_the_code_writes(modules: dict[str, TerraformDir]) -> None:
    metrics = modules["monitoring"].resources("google_logging_metric")
    step_policy = (REPO_ROOT / "shared" / "trackscan" / "pipeline" / "step_policy.py").read_text()
    rejections = (REPO_ROOT / "shared" / "trackscan" / "pipeline" / "deliveries.py").read_text()
    for metric, source, message in (
        ("tracks_failed", step_policy, "track failed"),
        ("events_rejected", rejections, "rejected event"),
    ):
        assert f'jsonPayload.message=\\"{message}\\"' in metrics[metric]["filter"], metric
        assert "severity=ERROR" in metrics[metric]["filter"]
        assert re.search(rf'log\.error\(\s*"{message}"', source), f'the code no longer logs "{message}" at ERROR'
    # FAILED tracks are counted by code, the field the code logs with "track failed".
    assert metrics["tracks_failed"]["label_extractors"] == {"code": "EXTRACT(jsonPayload.code)"}
    assert re.search(r'log\.error\(\s*"track failed",\s*extra=\{[^}]*"code":', step_policy)


def test_triton_alert_fires_when_no_replica_is_scraped(modules: dict[str, TerraformDir]) -> None:
    policy = modules["monitoring"].resources("google_monitoring_alert_policy")["triton_unavailable"]
    query = first(_condition(policy)["condition_prometheus_query_language"])["query"]
    assert "absent(" in query and "< 1" in query
    assert 'job=\\"triton\\"' in modules["monitoring"].locals()["triton_up"]


def test_auth_failure_metric_counts_the_log_line_the_throttle_writes(modules: dict[str, TerraformDir]) -> None:
    metric = modules["monitoring"].resources("google_logging_metric")["auth_failures"]
    throttle = (REPO_ROOT / "shared" / "trackscan" / "api" / "throttle.py").read_text()
    assert 'jsonPayload.message=\\"authentication failed\\"' in metric["filter"]
    assert "severity=WARNING" in metric["filter"] and re.search(r'log\.warning\(\s*"authentication failed"', throttle)
    assert metric["label_extractors"] == {
        "kind": "EXTRACT(jsonPayload.kind)",
        "outcome": "EXTRACT(jsonPayload.outcome)",
    }
    policy = modules["monitoring"].resources("google_monitoring_alert_policy")["auth_throttled"]
    assert 'outcome = \\"throttled\\"' in first(_condition(policy)["condition_threshold"])["filter"]
