# One dashboard per environment: the flow through the steps, their errors and latency, and Triton.

locals {
  # An xy chart of one Cloud Monitoring filter, aligned and grouped as given.
  charts = [
    {
      title  = "Undelivered messages, per subscription"
      filter = "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND ${local.all_subscriptions}"
      align  = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MEAN", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.subscription_id"] }
    },
    {
      title  = "Oldest unacked message age (s), per subscription"
      filter = "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND ${local.all_subscriptions}"
      align  = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_MAX", groupByFields = ["resource.label.subscription_id"] }
    },
    {
      title  = "Dead-lettered messages"
      filter = "metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND ${local.all_subscriptions}"
      align  = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.subscription_id"] }
    },
    {
      title  = "Requests per second, by service and response class"
      filter = "metric.type = \"run.googleapis.com/request_count\" AND ${local.service_filter}"
      align  = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_RATE", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.service_name", "metric.label.response_code_class"] }
    },
    {
      title  = "Request latency p95 (ms), by service"
      filter = "metric.type = \"run.googleapis.com/request_latencies\" AND ${local.service_filter}"
      align  = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_95", groupByFields = ["resource.label.service_name"] }
    },
    {
      title  = "Instances, by service"
      filter = "metric.type = \"run.googleapis.com/container/instance_count\" AND ${local.service_filter}"
      align  = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["resource.label.service_name"] }
    },
    {
      title  = "Tracks FAILED, by code"
      filter = "metric.type = \"${local.tracks_failed_metric}\""
      align  = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.code"] }
    },
    {
      title  = "Events rejected"
      filter = "metric.type = \"${local.events_rejected_metric}\""
      align  = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", groupByFields = [] }
    },
    {
      title  = "Triton GPU duty cycle (%), per container"
      filter = "metric.type = \"kubernetes.io/container/accelerator/duty_cycle\" AND resource.type = \"k8s_container\" AND resource.label.cluster_name = \"${var.cluster_name}\" AND resource.label.namespace_name = \"${var.triton_namespace}\""
      align  = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MEAN", crossSeriesReducer = "REDUCE_MEAN", groupByFields = ["resource.label.pod_name"] }
    },
  ]

  chart_tiles = [
    for index, chart in local.charts : {
      xPos   = (index % 2) * 24
      yPos   = floor(index / 2) * 16
      width  = 24
      height = 16
      widget = {
        title = chart.title
        xyChart = {
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = { filter = chart.filter, aggregation = chart.align }
            }
          }]
        }
      }
    }
  ]

  # Triton's own view (Managed Prometheus): time requests wait in its queue before a batch runs.
  queue_tile = {
    xPos   = (length(local.charts) % 2) * 24
    yPos   = floor(length(local.charts) / 2) * 16
    width  = 24
    height = 16
    widget = {
      title = "Triton queue time per request (ms)"
      xyChart = {
        dataSets = [{
          plotType = "LINE"
          timeSeriesQuery = {
            prometheusQuery = "sum(rate(nv_inference_queue_duration_us{cluster=\"${var.cluster_name}\", namespace=\"${var.triton_namespace}\"}[5m])) / sum(rate(nv_inference_request_success{cluster=\"${var.cluster_name}\", namespace=\"${var.triton_namespace}\"}[5m])) / 1000"
          }
        }]
      }
    }
  }
}

resource "google_monitoring_dashboard" "this" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName  = "${var.name_prefix}: pipeline"
    mosaicLayout = { columns = 48, tiles = concat(local.chart_tiles, [local.queue_tile]) }
  })
}
