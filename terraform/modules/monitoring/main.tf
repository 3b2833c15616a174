# Alerts and a dashboard for one trackscan environment: dead letters, Pub/Sub backlog age, Cloud Run
# 5xx, Triton's availability and FAILED tracks (a log-based metric on the "track failed" log line).
# Every alert goes to the notification channels given, plus an e-mail channel when alert_email is set.

locals {
  quoted_services      = join(", ", [for name in var.service_names : "\"${name}\""])
  quoted_subscriptions = join(", ", [for name in var.subscription_names : "\"${name}\""])
  quoted_dead_letters  = join(", ", [for name in var.dead_letter_subscription_names : "\"${name}\""])

  service_filter      = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = one_of(${local.quoted_services})"
  subscription_filter = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = one_of(${local.quoted_subscriptions})"
  all_subscriptions   = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = one_of(${local.quoted_subscriptions}, ${local.quoted_dead_letters})"

  # Log lines of trackscan's own workloads: its Cloud Run services and its GKE pull workers.
  workload_logs = "(resource.type=\"cloud_run_revision\" AND resource.labels.service_name=~\"^${var.name_prefix}-\") OR (resource.type=\"k8s_container\" AND resource.labels.namespace_name=\"${var.worker_namespace}\")"

  channels = concat(var.notification_channels, google_monitoring_notification_channel.email[*].id)

  tracks_failed_metric   = "logging.googleapis.com/user/${google_logging_metric.tracks_failed.name}"
  events_rejected_metric = "logging.googleapis.com/user/${google_logging_metric.events_rejected.name}"
  auth_failures_metric   = "logging.googleapis.com/user/${google_logging_metric.auth_failures.name}"
  triton_up              = "up{cluster=\"${var.cluster_name}\", namespace=\"${var.triton_namespace}\", job=\"triton\"}"
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == null ? 0 : 1

  project      = var.project_id
  display_name = "${var.name_prefix} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

# One count per track recorded FAILED by a step (trackscan.pipeline.step_policy logs "track failed"
# at ERROR with the failure code), labelled by that code.
resource "google_logging_metric" "tracks_failed" {
  project     = var.project_id
  name        = "${var.name_prefix}-tracks-failed"
  description = "Tracks recorded FAILED by a step (log line \"track failed\"), by failure code."
  filter      = "(${local.workload_logs}) AND severity=ERROR AND jsonPayload.message=\"track failed\""

  label_extractors = {
    code = "EXTRACT(jsonPayload.code)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name_prefix} tracks FAILED"

    labels {
      key         = "code"
      value_type  = "STRING"
      description = "Failure code (UNSUPPORTED_FORMAT, TRUNCATED, ...)."
    }
  }
}

# Events refused at the door (trackscan.pipeline.deliveries logs "rejected event"): another bucket, no
# partner prefix, an unknown partner, a malformed message. Not labelled by reason: free text.
resource "google_logging_metric" "events_rejected" {
  project     = var.project_id
  name        = "${var.name_prefix}-events-rejected"
  description = "Upload events and messages refused and recorded as rejected (log line \"rejected event\")."
  filter      = "(${local.workload_logs}) AND severity=ERROR AND jsonPayload.message=\"rejected event\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name_prefix} events rejected"
  }
}

# Failed sign-ins to the API and the console (trackscan.api.throttle logs "authentication
# failed" at WARNING), by kind (api, console) and outcome (refused: 401 or a wrong console key;
# throttled: 429 after too many failures from one source address or key prefix).
resource "google_logging_metric" "auth_failures" {
  project     = var.project_id
  name        = "${var.name_prefix}-auth-failures"
  description = "Failed sign-ins to the API and console (log line \"authentication failed\"), by kind and outcome."
  filter      = "(${local.workload_logs}) AND severity=WARNING AND jsonPayload.message=\"authentication failed\""

  label_extractors = {
    kind    = "EXTRACT(jsonPayload.kind)"
    outcome = "EXTRACT(jsonPayload.outcome)"
  }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "${var.name_prefix} failed sign-ins"

    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "api (API key or ID token) or console (a console login key)."
    }
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "refused (401, wrong key) or throttled (429 with Retry-After)."
    }
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: messages dead-lettered"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.channels

  conditions {
    display_name = "A subscription forwarded a message to its dead-letter topic"
    condition_threshold {
      filter          = "metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND ${local.all_subscriptions}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name_prefix}: a message exhausted its retries"
    content   = "A step message failed every delivery and went to its dead-letter topic: the dead-letter service records its track FAILED (RETRIES_EXHAUSTED). Find the step's `step failed` log lines for the track. A dead-letter subscription's own dead letters land on `${var.name_prefix}-dead-letter-parked` (see terraform/README.md, Dead letters), as do the result events BigQuery refused (`${var.name_prefix}-results-bigquery`: see terraform/README.md, Results delivery; the subscription's `bigquery_config.state` says why)."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "oldest_unacked" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: oldest unacked message too old"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels

  conditions {
    display_name = "Oldest unacked message older than ${var.oldest_unacked_age_threshold_s} s, per subscription"
    condition_threshold {
      filter          = "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND ${local.subscription_filter}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.oldest_unacked_age_threshold_s
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name_prefix}: a step is not keeping up or keeps failing"
    content   = "A subscription holds a message older than ${var.oldest_unacked_age_threshold_s} s: its step fails and retries (see its `step failed` log lines and `trackscan status TRACK_ID`), or it is out of instances (max_instances) or Triton."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "server_errors" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: 5xx rate"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels

  conditions {
    display_name = "More than ${var.error_ratio_threshold * 100}% of a service's requests answered 5xx"
    condition_threshold {
      filter             = "metric.type = \"run.googleapis.com/request_count\" AND ${local.service_filter} AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "metric.type = \"run.googleapis.com/request_count\" AND ${local.service_filter}"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_ratio_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name_prefix}: a service answers 5xx"
    content   = "A step answers 5xx when it fails in a way worth retrying (Pub/Sub redelivers): Triton down, a timeout, a quota. The step's `step failed` log lines carry the error and the track id."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "triton_unavailable" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: Triton unavailable"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.channels

  conditions {
    display_name = "No Triton replica answers Managed Prometheus for 5 minutes"
    condition_prometheus_query_language {
      query               = "sum(${local.triton_up}) < 1 or absent(${local.triton_up})"
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name_prefix}: Triton is down"
    content   = "No Triton pod in `${var.triton_namespace}` answered a metrics scrape for 5 minutes: spot GPU capacity gone (the pool scales back when capacity returns), or pods failing (kubectl -n ${var.triton_namespace} describe pods). Infer retries meanwhile; messages dead-letter after max_delivery_attempts (about an hour)."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "tracks_failed" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: FAILED tracks per hour"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels

  conditions {
    display_name = "More than ${var.failed_tracks_per_hour_threshold} tracks FAILED in an hour"
    condition_threshold {
      filter          = "metric.type = \"${local.tracks_failed_metric}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.failed_tracks_per_hour_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name_prefix}: many tracks FAILED"
    content   = "Tracks recorded FAILED in the last hour, by code on the dashboard. A burst of one code (UNSUPPORTED_FORMAT, TRUNCATED) points at one partner's files; spread codes point at the pipeline."
  }

  alert_strategy {
    auto_close = "3600s"
  }
}

resource "google_monitoring_alert_policy" "auth_throttled" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: sign-ins throttled per hour"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels

  conditions {
    display_name = "More than ${var.auth_throttled_per_hour_threshold} sign-ins answered 429 for repeated failures in an hour"
    condition_threshold {
      filter          = "metric.type = \"${local.auth_failures_metric}\" AND metric.labels.outcome = \"throttled\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.auth_throttled_per_hour_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "${var.name_prefix}: many failed sign-ins"
    content   = "Someone keeps presenting wrong API keys, ID tokens or console keys. The `authentication failed` log lines name the source address (never the key). One address: block it at Cloud Armor; many addresses on one key prefix: rotate that partner's key."
  }

  alert_strategy {
    auto_close = "3600s"
  }
}

# Cloud Run writes a request log entry for every request. A step's request is one Pub/Sub push,
# and the step's own "step finished" line already says what it did, so the entries of successful
# pushes are kept out of Cloud Logging (excluded entries are not billed; `trackscan cost` prices
# none). Errors (status 400 and up) are kept, and Cloud Run's request metrics, which the alerts
# read, do not come from logs.
resource "google_logging_project_exclusion" "step_request_logs" {
  project     = var.project_id
  name        = "${var.name_prefix}-step-request-logs"
  description = "Successful Pub/Sub pushes to the step services: their step finished lines say the same."
  filter      = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = one_of(${join(", ", [for name in var.step_service_names : "\"${name}\""])}) AND log_id(\"run.googleapis.com/requests\") AND httpRequest.status < 400"
}
