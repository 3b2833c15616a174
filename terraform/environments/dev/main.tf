# trackscan, dev environment: the whole pipeline in one project.
#
#   gs://<ingest>/<partner>/... --OBJECT_FINALIZE--> ingest topic --push--> ingest
#     --> features topic --push--> features
#     --> infer topic --push--> infer --gRPC--> Triton on GKE spot GPUs
#     --> finalize topic --push--> finalize --> Firestore
#   a track DONE or FAILED (any step, dead_letter, reconcile) --> results topic (schema:
#     terraform/schemas/track_finished.proto) --push--> deliver --HTTPS--> the partner's webhook
#                                                 --BigQuery subscription--> <dataset>.track_finished
#   every step's dead letters --push--> dead-letter (dead_letter); partners call api (api).
#   Cloud Scheduler (every minute by default) --POST--> reconcile (reconcile): replays tracks
#   whose last message was lost.
#   Optional: the API behind a load balancer with Cloud Armor (api_domains); steps pulled by
#   workers on GKE spot CPU nodes (worker_steps). Alerts and a dashboard (module monitoring).
#   Releases: a Cloud Build trigger runs cloudbuild.yaml as the deployer (module deployer).
#
# The steps are the step registry (terraform/steps.json, exported from the Python registry in
# shared/trackscan/pipeline/steps.py): one name per step for its Cloud Run service, entrypoint
# (FUNCTION_TARGET), push subscription and dead-letter topic; its topic is the registry's `topic`
# (the step's name, but results for deliver). Every step resource below is a for_each over it, so
# adding a step adds no Terraform.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Step name => its settings: what it publishes to, its bucket grants, its Cloud Run sizing,
  # its Pub/Sub delivery settings, and whether it calls Triton.
  steps = jsondecode(file("${path.module}/../../steps.json")).steps

  name          = var.name_prefix
  bucket_prefix = coalesce(var.bucket_prefix, "${var.project_id}-${var.name_prefix}")
  labels        = merge({ app = "trackscan", env = var.environment }, var.labels)
  api_edge      = length(var.api_domains) > 0

  # Kubernetes namespaces (inference/k8s): Triton, and the pull workers on spot CPU nodes.
  triton_namespace = "trackscan-inference"
  worker_namespace = "trackscan-workers"

  pubsub_service_agent_email = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # The API maps the verified e-mail of a caller's ID token to its partner; the format is the
  # one trackscan.api.auth.parse_identities reads: "email=partner,email2=partner2".
  partner_identities = join(",", sort(flatten([
    for partner_id, members in var.partners : [
      for member in members : "${lower(replace(member, "/^[a-zA-Z]+:/", ""))}=${partner_id}"
    ]
  ])))
  # Support staff of the console (trackscan.api.console_auth): "email=scope", scope "*" or a partner.
  console_identities = join(",", sort([for email, scope in var.console_staff : "${lower(email)}=${scope}"]))
  # Cloud Run's deterministic URL of the API service: the audience partners mint ID tokens for.
  api_url = "https://${var.name_prefix}-api-${data.google_project.this.number}.${var.region}.run.app"

  partner_members = { for member in distinct(flatten(values(var.partners))) : member => member }

  # The cheapest spot family with AMX per region; c3-standard-4 elsewhere.
  amx_worker_machine = { us-central1 = "c3-standard-4", europe-west4 = "n4-standard-4" }

  # Both lanes keep the fixed base small by default, as `trackscan cost` prices it (shared/trackscan/
  # costs/lanes.toml; tests/infra compares the two): a zonal cluster (its fee is the free tier's
  # credit) whose GPU pool may still span zones (gpu_node_locations), and a small spot system node.
  gke_location        = coalesce(var.gke_location, "${var.region}-b")
  worker_machine_type = coalesce(var.worker_machine_type, lookup(local.amx_worker_machine, var.region, "c3-standard-4"))
  # Steps that stay on Cloud Run in every lane (the registry's `internet`): deliver POSTs to
  # partners' webhooks on the internet, which Cloud Run reaches directly, while the GKE nodes
  # are private with no route out (module network); and it reads its signing secrets from Secret
  # Manager, which the workers' environment (a ConfigMap) does not carry. var.worker_steps
  # refuses them too.
  cloud_run_only_steps = [for step, settings in local.steps : step if settings.internet]
  # The workers lane runs every other step on pull workers (a long track's segments too).
  worker_steps = var.lane == "workers" ? sort(setsubtract(keys(local.steps), local.cloud_run_only_steps)) : sort(var.worker_steps)

  # Partners' webhooks as trackscan.domain.webhooks reads them: "partner=https://...,..." ("*": every
  # partner without its own). Their signing secrets are in Secret Manager (webhook_secrets below).
  webhooks = join(",", [for partner in sort(keys(var.partner_webhooks)) : "${partner}=${var.partner_webhooks[partner]}"])
  # Secrets a step's service reads from Secret Manager, by step: only deliver signs webhooks.
  step_secret_env = {
    deliver = {
      TRACKSCAN_WEBHOOK_SECRETS = google_secret_manager_secret.webhook_secrets.id
      TRACKSCAN_WEBHOOK_KEY     = google_secret_manager_secret.webhook_key.id
    }
  }

  # Every cloud-scope setting of trackscan.domain.config (shared/trackscan/domain/config.py), set on every
  # service so that none silently runs on a local default. tests/infra checks this list
  # against the config, so a new setting fails CI until it is added here.
  service_env = {
    GOOGLE_CLOUD_PROJECT         = var.project_id
    TRACKSCAN_INGEST_BUCKET      = module.buckets.ingest_bucket_name
    TRACKSCAN_WORK_BUCKET        = module.buckets.work_bucket_name
    TRACKSCAN_TOPIC_PREFIX       = local.name
    TRACKSCAN_TRACKS_COLLECTION  = module.firestore.tracks_collection
    TRACKSCAN_FIRESTORE_DATABASE = module.firestore.database_name
    TRITON_GRPC_URL              = module.gke.triton_grpc_url
    TRACKSCAN_TRITON_MODEL       = var.triton_model_name
    TRACKSCAN_MODEL_SHA256       = var.model_sha256
    TRACKSCAN_PARTNER_IDENTITIES = local.partner_identities
    TRACKSCAN_PARTNERS           = join(",", sort(keys(var.partners)))
    TRACKSCAN_API_AUDIENCE       = local.api_url
    TRACKSCAN_API_RATE_PER_S     = tostring(var.api_rate_per_s)
    TRACKSCAN_API_BURST          = tostring(var.api_burst)
    # The API's client is this many X-Forwarded-For entries from the end: Cloud Run's front end
    # appends it (1); an external Application Load Balancer appends it and its own address (2).
    TRACKSCAN_API_TRUSTED_PROXY_HOPS = local.api_edge ? "2" : "1"
    # How long one request's body may take to arrive (shared/trackscan/api/request_guard.py).
    TRACKSCAN_API_BODY_TIMEOUT_S = "60"
    # Requests other than uploads at work at once; one that waits 0.25 s for a thread and a slot
    # is answered 503 (shared/trackscan/api/in_flight.py). 0: three quarters of the service's
    # THREADS (the API: 15 of 20).
    TRACKSCAN_API_MAX_IN_FLIGHT  = "0"
    TRACKSCAN_CONSOLE_IDENTITIES = local.console_identities
    TRACKSCAN_SEGMENT_S          = tostring(var.segment_s)
    # The Cloud Run lane: every track through the segment chain, the model on Triton.
    TRACKSCAN_WHOLE_TRACK_MAX_S   = "0"
    TRACKSCAN_TAGGER              = "triton"
    TRACKSCAN_MAX_DURATION_S      = tostring(var.max_duration_s)
    TRACKSCAN_MAX_FILE_BYTES      = tostring(var.max_file_bytes)
    TRACKSCAN_INFER_BATCH_PATCHES = tostring(var.infer_batch_patches)
    TRACKSCAN_INFER_TIMEOUT_S     = tostring(var.infer_timeout_s)
    # One deadline per step: every backend call inside a step ends by it (the architecture's 10 s).
    TRACKSCAN_STEP_BUDGET_S = "10"
    # The decoder sandbox's limits: the defaults of shared/trackscan/domain/config.py, which explains them.
    TRACKSCAN_DECODE_TIMEOUT_S    = "6"
    TRACKSCAN_DECODE_MEMORY_BYTES = tostring(1536 * 1024 * 1024)
    TRACKSCAN_LOG_LEVEL           = var.log_level
    TRACKSCAN_RECONCILE_AFTER_S   = tostring(var.reconcile_after_s)
    TRACKSCAN_RECONCILE_BATCH     = tostring(var.reconcile_batch)
    # The inventory sweep run by each reconcile pass: the defaults of shared/trackscan/domain/config.py.
    TRACKSCAN_SWEEP_AFTER_S  = "600"
    TRACKSCAN_SWEEP_PAGE     = "1000"
    TRACKSCAN_SWEEP_BUDGET_S = "3"

    # Failed sign-ins per source address or key prefix before 429: the defaults of shared/trackscan/domain/config.py.
    TRACKSCAN_AUTH_MAX_FAILURES     = "10"
    TRACKSCAN_AUTH_FAILURE_WINDOW_S = "300"

    # Result events (the results topic, partners' webhooks, BigQuery). The embedding makes every
    # event 1.7 times larger (6.2 KB to 10.5 KB); off unless results_embedding is set.
    TRACKSCAN_RESULTS_EMBEDDING = tostring(var.results_embedding)
    TRACKSCAN_WEBHOOKS          = local.webhooks
    # How long the dead-letter service sends an undelivered event round again, from its made_at:
    # the default of shared/trackscan/domain/config.py (a day). TRACKSCAN_WEBHOOK_SECRETS reaches
    # the deliver service alone, from Secret Manager (local.step_secret_env).
    TRACKSCAN_WEBHOOK_RETRY_S = "86400"
    # The deliver service writes its send attempts (GET /v1/webhook) a batch per partner at most
    # this often, not one write per event: the default of shared/trackscan/domain/config.py.
    TRACKSCAN_WEBHOOK_ATTEMPTS_FLUSH_S = "120"
  }

  # The registry's bucket keys (a step's bucket_roles) => bucket names.
  bucket_names = {
    ingest = module.buckets.ingest_bucket_name
    work   = module.buckets.work_bucket_name
  }

  push_invoker = { pubsub_push = "serviceAccount:${google_service_account.push.email}" }

  # What cloudbuild.yaml needs to know about this environment (the trigger passes it; by hand:
  # terraform output cloudbuild_substitutions).
  cloudbuild_substitutions = {
    _REGION         = var.region
    _AR_REPOSITORY  = module.artifact_registry.repository_id
    _MODEL_BUCKET   = module.buckets.models_bucket_name
    _GKE_CLUSTER    = module.gke.cluster_name
    _GKE_LOCATION   = module.gke.cluster_location
    _SERVICE_PREFIX = local.name
    _TRITON_ADDRESS = module.gke.triton_ilb_address_name
    # Comma-separated steps whose pull workers Cloud Build deploys (empty: none).
    _WORKER_STEPS = join(",", local.worker_steps)
    # The workers lane: Cloud Build deploys no Triton and gives the workers the model in process.
    _LANE              = var.lane
    _WHOLE_TRACK_MAX_S = tostring(var.whole_track_max_s)
    _WORKER_MAX_PODS   = tostring(var.worker_max_pods)
  }

  # The scheduler waits longer than Cloud Run lets a pass run, so it never retries while the
  # attempt it gave up on is still running on the single instance.
  reconcile_timeout_s          = 30
  reconcile_attempt_deadline_s = local.reconcile_timeout_s + 15
}

module "project_services" {
  source     = "../../modules/project_services"
  project_id = var.project_id
}

module "network" {
  source          = "../../modules/network"
  project_id      = var.project_id
  region          = var.region
  name            = local.name
  run_egress_cidr = var.run_egress_cidr

  depends_on = [module.project_services]
}

module "artifact_registry" {
  source        = "../../modules/artifact_registry"
  project_id    = var.project_id
  location      = var.region
  repository_id = local.name
  labels        = local.labels

  depends_on = [module.project_services]
}

module "messaging" {
  source      = "../../modules/messaging"
  project_id  = var.project_id
  name_prefix = local.name
  topics      = { for step, settings in local.steps : step => settings.topic }
  # The results topic (the deliver step's) refuses an event that does not match its schema.
  schemas                    = { deliver = file("${path.module}/../../schemas/track_finished.proto") }
  pubsub_service_agent_email = local.pubsub_service_agent_email
  labels                     = local.labels

  depends_on = [module.project_services]
}

module "buckets" {
  source              = "../../modules/buckets"
  project_id          = var.project_id
  name_prefix         = local.bucket_prefix
  location            = var.region
  ingest_topic_id     = module.messaging.topic_ids["ingest"]
  partner_uploaders   = var.partners
  work_retention_days = var.work_retention_days
  labels              = local.labels

  depends_on = [module.project_services]
}

module "firestore" {
  source            = "../../modules/firestore"
  project_id        = var.project_id
  database_id       = local.name
  location_id       = coalesce(var.firestore_location, var.region)
  delete_protection = var.deletion_protection

  depends_on = [module.project_services]
}

module "gke" {
  source                       = "../../modules/gke"
  project_id                   = var.project_id
  region                       = var.region
  location                     = local.gke_location
  name                         = local.name
  network_id                   = module.network.network_id
  subnetwork_id                = module.network.gke_subnetwork_id
  pods_range_name              = module.network.gke_pods_range_name
  services_range_name          = module.network.gke_services_range_name
  gpu_machine_type             = var.gpu_machine_type
  gpu_type                     = var.gpu_type
  gpu_max_nodes                = var.gpu_max_nodes
  gpu_node_locations           = var.gpu_node_locations
  artifact_registry_location   = module.artifact_registry.location
  artifact_registry_repository = module.artifact_registry.repository_id
  models_bucket_name           = module.buckets.models_bucket_name
  triton_namespace             = local.triton_namespace
  gpu_pool                     = var.lane == "cloud-run"
  system_machine_type          = var.system_machine_type
  system_spot                  = var.system_spot
  worker_machine_type          = local.worker_machine_type
  worker_max_nodes             = var.worker_max_nodes
  deletion_protection          = var.deletion_protection
  labels                       = local.labels

  depends_on = [module.project_services]
}

# The identity Pub/Sub signs push requests with (OIDC). It can invoke the step services and the
# dead-letter service, and nothing else.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${local.name}-pubsub-push"
  display_name = "Pub/Sub push to trackscan workers"
  description  = "OIDC identity of the push subscriptions; holds roles/run.invoker on the worker services only."

  depends_on = [module.project_services]
}

# Projects created before 8 April 2021 need the Pub/Sub service agent to mint tokens for the
# push identity; granting it on this one account is harmless elsewhere.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_service_agent_email}"
}

# ---------------------------------------------------------------------------------------
# Cloud Run services: one image, FUNCTION_TARGET picks the entrypoint, one service account
# each with only the grants listed.
# ---------------------------------------------------------------------------------------

# One service per step of the registry.
module "step_service" {
  source   = "../../modules/cloud_run_service"
  for_each = local.steps

  project_id      = var.project_id
  region          = var.region
  name            = "${local.name}-${each.key}"
  description     = each.value.description
  function_target = each.value.entrypoint
  image           = var.bootstrap_image
  env             = local.service_env
  # 1 for the CPU-bound steps (features, infer), so one message owns the instance's CPU.
  concurrency = each.value.concurrency
  timeout_s   = each.value.timeout_s
  # A step without an entry (a new one) gets the module's default until it is given its own cap.
  max_instances = lookup(var.max_instances, each.key, null)
  cpu           = each.value.cpu
  memory        = each.value.memory
  # Direct VPC egress for the steps that call Triton: its internal load balancer is only
  # reachable from the VPC, and PRIVATE_RANGES_ONLY (module cloud_run_service) sends nothing else
  # through it. Every other step, deliver among them, has no VPC access at all: Cloud Run sends its
  # traffic straight to the internet, which is how deliver reaches partners' HTTPS webhooks, with
  # no Cloud NAT (the VPC has no route out; see local.cloud_run_only_steps for the workers lane).
  vpc_egress_subnetwork = each.value.triton ? module.network.run_egress_subnetwork_name : null
  invoker_members       = local.push_invoker
  firestore_database    = module.firestore.database_resource_name
  # deliver reads the webhook signing secrets; no other step reads a secret.
  secret_env = lookup(local.step_secret_env, each.key, {})
  bucket_roles = [
    for bucket, role in each.value.bucket_roles : { bucket = local.bucket_names[bucket], role = role }
  ]
  publish_topic_names = [for step in each.value.publishes_to : module.messaging.topic_names[step]]
  deletion_protection = var.deletion_protection
  labels              = local.labels

  # The secret must have a version before a revision of deliver reads "latest".
  depends_on = [
    module.project_services,
    google_secret_manager_secret_version.webhook_secrets,
    google_secret_manager_secret_version.webhook_key,
  ]
}

# The three services that are not steps: each is invoked by someone else (Pub/Sub dead letters,
# partners, Cloud Scheduler) and holds different grants.

module "dead_letter" {
  source             = "../../modules/cloud_run_service"
  project_id         = var.project_id
  region             = var.region
  name               = "${local.name}-dead-letter"
  description        = "Marks a track FAILED (RETRIES_EXHAUSTED) when a step's message ran out of retries; sends a result event whose webhook retries ran out round again."
  function_target    = "dead_letter"
  image              = var.bootstrap_image
  env                = local.service_env
  concurrency        = 8
  max_instances      = var.max_instances["dead_letter"]
  memory             = "512Mi"
  invoker_members    = local.push_invoker
  firestore_database = module.firestore.database_resource_name
  # A track it records FAILED is announced on the results topic; an event whose webhook retries
  # ran out (deliver's dead letters) is sent round again there until TRACKSCAN_WEBHOOK_RETRY_S.
  publish_topic_names = [module.messaging.topic_names["deliver"]]
  deletion_protection = var.deletion_protection
  labels              = local.labels

  depends_on = [module.project_services]
}

module "api" {
  # checkov:skip=CKV_TSC_2:Partners call the API from the internet; Cloud Run IAM admits only the listed partner identities (roles/run.invoker), and the app maps each to its partner.
  source          = "../../modules/cloud_run_service"
  project_id      = var.project_id
  region          = var.region
  name            = "${local.name}-api"
  description     = "HTTP API for partners: submit audio, look up and retry tracks."
  function_target = "api"
  image           = var.bootstrap_image
  env             = local.service_env
  # Partners call from the internet; every request still needs a Google-signed identity
  # token of a listed partner (roles/run.invoker), checked by Cloud Run before the app runs.
  # Behind the load balancer (api_domains set), only it may reach the service, so Cloud Armor's
  # rate limit cannot be bypassed through the run.app URL.
  ingress            = local.api_edge ? "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" : "INGRESS_TRAFFIC_ALL"
  concurrency        = 20
  min_instances      = 1
  max_instances      = var.max_instances["api"]
  memory             = "1Gi"
  invoker_members    = local.partner_members
  firestore_database = module.firestore.database_resource_name
  # Shared by every instance, so a session or a form token from one is good on the others.
  # The webhook key: PUT /v1/webhook and :rotate show the secret derived from it.
  secret_env = {
    TRACKSCAN_CONSOLE_SECRET = google_secret_manager_secret.console_session.id
    TRACKSCAN_WEBHOOK_KEY    = google_secret_manager_secret.webhook_key.id
  }
  # Stores uploaded bodies (create only, never overwrite) and stats submitted objects; writes
  # and reads the console's revoked-session markers in the work bucket (its lifecycle rule
  # deletes them, long after the 10 h sessions they revoke have expired).
  bucket_roles = [
    { bucket = module.buckets.ingest_bucket_name, role = "roles/storage.objectCreator" },
    { bucket = module.buckets.ingest_bucket_name, role = "roles/storage.objectViewer" },
    { bucket = module.buckets.work_bucket_name, role = "roles/storage.objectCreator" },
    { bucket = module.buckets.work_bucket_name, role = "roles/storage.objectViewer" },
  ]
  # A submission is announced on the ingest topic, like the bucket's notifications (ingest is
  # idempotent, so the duplicate for an object the API wrote itself is harmless); a redelivered
  # result event (POST /v1/tracks/{id}:redeliver) on the results topic.
  publish_topic_names = [module.messaging.topic_names["ingest"], module.messaging.topic_names["deliver"]]
  deletion_protection = var.deletion_protection
  labels              = local.labels

  # The secret must have a version before a revision reads "latest".
  depends_on = [
    module.project_services,
    google_secret_manager_secret_version.console_session,
    google_secret_manager_secret_version.webhook_key,
  ]
}

# The console's session secret: made once by Terraform (the write-only value never enters the state)
# and read by the API at start-up (module api grants itself access). Bump console_session_secret_version to rotate it, which signs
# every staff member out.
resource "google_secret_manager_secret" "console_session" {
  project   = var.project_id
  secret_id = "${local.name}-console-session"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [module.project_services]
}

resource "google_secret_manager_secret_version" "console_session" {
  secret                 = google_secret_manager_secret.console_session.id
  secret_data_wo         = "${uuid()}${uuid()}"
  secret_data_wo_version = var.console_session_secret_version
}

# Partners' webhook signing secrets (TRACKSCAN_WEBHOOK_SECRETS: "partner=whsec_..." entries,
# comma-separated), read by the deliver service alone (local.step_secret_env). Unlike the console's,
# this value is the operator's, not generated: each partner is given its own secret, and a rotation
# adds the new one beside the old (both sign every event) until the partner has switched, which a
# secret regenerated for all partners at once could not do. Terraform writes one placeholder
# version without entries, so that deliver can start before the first secret exists; the operator
# adds versions (terraform/README.md, Results delivery). A placeholder never overwrites them: it is
# write-only, never read back or rewritten.
resource "google_secret_manager_secret" "webhook_secrets" {
  project   = var.project_id
  secret_id = "${local.name}-webhook-secrets"
  labels    = local.labels

  replication {
    auto {}
  }

  lifecycle {
    precondition {
      condition     = length(setsubtract(keys(var.partner_webhooks), concat(keys(var.partners), ["*"]))) == 0
      error_message = "Every key of partner_webhooks must be a partner (a key of partners) or \"*\"."
    }
  }

  depends_on = [module.project_services]
}

resource "google_secret_manager_secret_version" "webhook_secrets" {
  secret = google_secret_manager_secret.webhook_secrets.id
  # No "partner=" entry: deliver never sends unsigned, so a partner's secret comes before its webhook.
  secret_data_wo         = "none yet: add a version with each partner's whsec_ secret (terraform/README.md)"
  secret_data_wo_version = 1
}

# The key that the secrets of webhooks partners register through the API derive from
# (TRACKSCAN_WEBHOOK_KEY, base64; trackscan.domain.webhooks): read by the API, which shows a secret
# when a webhook is registered or rotated, and by deliver, which signs with it. No secret is stored
# anywhere else. Made once by Terraform (write-only, never in the state); replacing it would change
# every registered partner's secret at once, so it has no version variable to bump.
resource "google_secret_manager_secret" "webhook_key" {
  project   = var.project_id
  secret_id = "${local.name}-webhook-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [module.project_services]
}

resource "google_secret_manager_secret_version" "webhook_key" {
  secret                 = google_secret_manager_secret.webhook_key.id
  secret_data_wo         = base64encode("${uuid()}${uuid()}")
  secret_data_wo_version = 1
}

# The API behind an external HTTPS load balancer with Cloud Armor (a rate limit per client), when
# api_domains names the domains to serve it on.
module "api_edge" {
  source = "../../modules/api_edge"
  count  = local.api_edge ? 1 : 0

  project_id             = var.project_id
  name                   = local.name
  region                 = var.region
  cloud_run_service_name = module.api.name
  domains                = var.api_domains
  rate_limit_per_minute  = var.api_rate_limit_per_minute
  labels                 = local.labels

  depends_on = [module.project_services]
}

module "reconcile" {
  source          = "../../modules/cloud_run_service"
  project_id      = var.project_id
  region          = var.region
  name            = "${local.name}-reconcile"
  description     = "Replays the upload event of tracks stalled in RECEIVED, EXTRACTING or INFERRING; marks those whose object is gone FAILED."
  function_target = "reconcile"
  image           = var.bootstrap_image
  env             = local.service_env
  # Internal ingress (the module default) is enough: Cloud Scheduler jobs in the same project
  # count as internal sources for Cloud Run ingress (cloud.google.com/run/docs/securing/ingress).
  # One pass at a time: two overlapping passes would replay the same tracks twice.
  concurrency        = 1
  max_instances      = 1
  timeout_s          = local.reconcile_timeout_s
  memory             = "512Mi"
  invoker_members    = { scheduler = "serviceAccount:${google_service_account.scheduler.email}" }
  firestore_database = module.firestore.database_resource_name
  # Stats a stalled track's object version (is it still there?) before replaying it.
  bucket_roles = [{ bucket = module.buckets.ingest_bucket_name, role = "roles/storage.objectViewer" }]
  # Replays upload events on ingest; a track it records FAILED (SOURCE_GONE) is announced on results.
  publish_topic_names = [module.messaging.topic_names["ingest"], module.messaging.topic_names["deliver"]]
  deletion_protection = var.deletion_protection
  labels              = local.labels

  depends_on = [module.project_services]
}

# ---------------------------------------------------------------------------------------
# Reconcile schedule: a lost Pub/Sub message leaves a track stuck; each call is one bounded
# pass (at most TRACKSCAN_RECONCILE_BATCH tracks) that replays what has not moved for
# TRACKSCAN_RECONCILE_AFTER_S.
# ---------------------------------------------------------------------------------------

# The identity Cloud Scheduler signs its requests with (OIDC). It can invoke the reconcile
# service and nothing else.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${local.name}-scheduler"
  display_name = "Cloud Scheduler to trackscan reconcile"
  description  = "OIDC identity of the reconcile schedule; holds roles/run.invoker on the reconcile service only."

  depends_on = [module.project_services]
}

resource "google_cloud_scheduler_job" "reconcile" {
  project          = var.project_id
  region           = coalesce(var.scheduler_region, var.region)
  name             = "${local.name}-reconcile"
  description      = "One reconcile pass: replays tracks stalled by a lost message."
  schedule         = var.reconcile_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${local.reconcile_attempt_deadline_s}s"

  # A failed pass (cold start, a transient Firestore or Pub/Sub error) is not retried: the next
  # scheduled pass, a minute later, does the same work. Said explicitly, as 0 is the default.
  retry_config {
    retry_count = 0
  }

  # POST with an empty body: the function takes no input.
  http_target {
    http_method = "POST"
    uri         = module.reconcile.uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = module.reconcile.uri
    }
  }

  depends_on = [module.project_services]
}

# ---------------------------------------------------------------------------------------
# Push subscriptions: each step's topic to its service, with its own dead-letter topic whose
# subscription feeds the dead-letter service.
# ---------------------------------------------------------------------------------------

module "step_subscription" {
  source   = "../../modules/push_subscription"
  for_each = local.steps

  project_id = var.project_id
  name       = "${local.name}-${each.key}"
  topic_id   = module.messaging.topic_ids[each.key]
  # A step run by pull workers on GKE (worker_steps) keeps the same subscription, pulled instead.
  push_endpoint              = contains(local.worker_steps, each.key) ? null : module.step_service[each.key].uri
  dead_letter_endpoint       = module.dead_letter.uri
  push_service_account_email = google_service_account.push.email
  pubsub_service_agent_email = local.pubsub_service_agent_email
  parked_topic_id            = module.messaging.parked_topic_id
  ack_deadline_seconds       = each.value.ack_deadline_s
  max_delivery_attempts      = each.value.max_delivery_attempts
  labels                     = local.labels

  depends_on = [module.project_services]
}

# The results topic's events in BigQuery (<dataset>.track_finished), written by a BigQuery
# subscription; an event BigQuery keeps refusing is parked, never sent back to the webhooks.
module "results_bigquery" {
  source                     = "../../modules/results_bigquery"
  project_id                 = var.project_id
  location                   = var.region
  dataset_id                 = "${replace(local.name, "-", "_")}_results"
  topic_id                   = module.messaging.topic_ids["deliver"]
  topic_name                 = module.messaging.topic_names["deliver"]
  subscription_name          = "${local.name}-results-bigquery"
  dead_letter_topic_id       = module.messaging.parked_topic_id
  pubsub_service_agent_email = local.pubsub_service_agent_email
  deletion_protection        = var.deletion_protection
  labels                     = local.labels

  depends_on = [module.project_services]
}

# Steps run by pull workers on the spot CPU pool (inference/k8s/workers, deployed by Cloud Build):
# each worker's Kubernetes account gets its step's grants, and may pull the step's subscription.
module "pull_workers" {
  source           = "../../modules/pull_workers"
  project_id       = var.project_id
  principal_prefix = module.gke.workload_identity_principal_prefix
  namespace        = local.worker_namespace
  steps = {
    for step in local.worker_steps : step => {
      subscription_name   = module.step_subscription[step].subscription_name
      publish_topic_names = [for target in local.steps[step].publishes_to : module.messaging.topic_names[target]]
      bucket_roles = concat(
        [for bucket, role in local.steps[step].bucket_roles : { bucket = local.bucket_names[bucket], role = role }],
        # The workers lane's workers fetch the release's model themselves.
        var.lane == "workers" ? [{ bucket = module.buckets.models_bucket_name, role = "roles/storage.objectViewer" }] : [],
      )
    }
  }
  firestore_database = module.firestore.database_resource_name

  depends_on = [module.project_services]
}

module "deployer" {
  source      = "../../modules/deployer"
  project_id  = var.project_id
  name_prefix = local.name
  region      = var.region
  service_names = merge(
    { for step, service in module.step_service : step => service.name },
    {
      dead_letter = module.dead_letter.name
      api         = module.api.name
      reconcile   = module.reconcile.name
    },
  )
  runtime_service_account_names = merge(
    { for step, service in module.step_service : step => service.service_account_name },
    {
      dead_letter = module.dead_letter.service_account_name
      api         = module.api.service_account_name
      reconcile   = module.reconcile.service_account_name
    },
  )
  artifact_registry_location   = module.artifact_registry.location
  artifact_registry_repository = module.artifact_registry.repository_id
  models_bucket_name           = module.buckets.models_bucket_name
  release_source               = var.release_source
  release_branch               = var.release_branch
  substitutions                = local.cloudbuild_substitutions

  depends_on = [module.project_services]
}

# Alerts (dead letters, backlog age, 5xx, Triton, FAILED tracks) and a dashboard.
module "monitoring" {
  source      = "../../modules/monitoring"
  project_id  = var.project_id
  name_prefix = local.name
  # A step that calls the internet (deliver) waits on partners' receivers: one down for hours is
  # the partner's outage, not the pipeline's, so its 5xx, backlog and dead letters page no one (its
  # `webhook failed` lines and the track's last failed attempt say what happens).
  service_names = concat(
    [for step, service in module.step_service : service.name if !local.steps[step].internet],
    [module.dead_letter.name, module.api.name, module.reconcile.name],
  )
  step_service_names = [for service in module.step_service : service.name]
  subscription_names = concat(
    [for step, subscription in module.step_subscription : subscription.subscription_name if !local.steps[step].internet],
    [module.results_bigquery.subscription_name],
  )
  dead_letter_subscription_names = [for subscription in module.step_subscription : subscription.dead_letter_subscription_name]
  cluster_name                   = module.gke.cluster_name
  triton_namespace               = local.triton_namespace
  worker_namespace               = local.worker_namespace
  notification_channels          = var.notification_channels
  alert_email                    = var.alert_email

  depends_on = [module.project_services]
}
