# The partner API behind a global external Application Load Balancer with Cloud Armor: a
# rate limit per client address (HTTP 429 beyond it), the Log4j lookup signatures denied, TLS 1.2+
# with a Google-managed certificate. The Cloud Run service then admits only traffic from the load
# balancer (ingress INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER, set by the caller), so Cloud Armor
# cannot be bypassed through the run.app URL. Cloud Run still checks each request's Google ID
# token (roles/run.invoker) behind the load balancer.

resource "google_compute_security_policy" "api" {
  project     = var.project_id
  name        = "${var.name}-api"
  description = "trackscan API edge: per-client rate limit, Log4j lookups denied."
  type        = "CLOUD_ARMOR"

  advanced_options_config {
    json_parsing = "STANDARD"
    log_level    = "NORMAL"
  }

  # Log4j JNDI lookups (CVE-2021-44228 and relatives): the API is Python, but the rule costs
  # nothing and stops scanners early.
  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4j lookup attempts"
    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  # Each client address may send rate_limit_per_minute requests a minute; beyond, 429 until the
  # window rolls. The app's own per-partner limit (429 with Retry-After) acts behind this one.
  rule {
    action      = "throttle"
    priority    = 1000
    description = "Per-client rate limit"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow (Cloud Run IAM authenticates every request)"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}

resource "google_compute_region_network_endpoint_group" "api" {
  project               = var.project_id
  name                  = "${var.name}-api"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = var.cloud_run_service_name
  }
}

resource "google_compute_backend_service" "api" {
  project               = var.project_id
  name                  = "${var.name}-api"
  description           = "The partner API's Cloud Run service, behind Cloud Armor."
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.api.id

  backend {
    group = google_compute_region_network_endpoint_group.api.id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "api" {
  project         = var.project_id
  name            = "${var.name}-api"
  description     = "Everything to the partner API."
  default_service = google_compute_backend_service.api.id
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project_id
  name    = "${var.name}-api"

  managed {
    domains = var.domains
  }
}

resource "google_compute_ssl_policy" "api" {
  project         = var.project_id
  name            = "${var.name}-api"
  description     = "TLS 1.2 or later, modern ciphers only."
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project_id
  name             = "${var.name}-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
  ssl_policy       = google_compute_ssl_policy.api.id
}

resource "google_compute_global_address" "api" {
  project = var.project_id
  name    = "${var.name}-api"
  labels  = var.labels
}

# HTTPS only: there is no port 80 listener to redirect from.
resource "google_compute_global_forwarding_rule" "api" {
  project               = var.project_id
  name                  = "${var.name}-api"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  ip_protocol           = "TCP"
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
  labels                = var.labels
}
