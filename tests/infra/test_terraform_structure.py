"""Structural checks of terraform/ with python-hcl2: what `terraform validate` cannot tell us
offline (no provider download here), and the pipeline's own rules."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT, TerraformDir, first, reference

# The services that are not steps, and the function each serves (env FUNCTION_TARGET); a step's
# service serves the step's entrypoint, which is the step's name.
OTHER_FUNCTION_TARGETS = {"dead_letter": "dead_letter", "api": "api", "reconcile": "reconcile"}
# The settings of a step in terraform/steps.json: the contract with the Python registry's export.
STEP_SETTINGS = {
    "ack_deadline_s",
    "bucket_roles",
    "concurrency",
    "cpu",
    "description",
    "entrypoint",
    "internet",
    "max_delivery_attempts",
    "memory",
    "publishes_to",
    "timeout_s",
    "topic",
    "triton",
}
# Steps whose topic is not named after them.
STEP_TOPICS = {"deliver": "results"}
OVER_STEPS = "${local.steps}"
INTERNAL = "INGRESS_TRAFFIC_INTERNAL_ONLY"
SCHEDULER_ACCOUNT = "google_service_account.scheduler"
CFT_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each", "__comments__"}


def _cloud_run_calls(dev: TerraformDir) -> dict[str, dict]:
    return {
        name: body for name, body in dev.module_calls().items() if body["source"] == "../../modules/cloud_run_service"
    }


def _subscription_calls(dev: TerraformDir) -> dict[str, dict]:
    return {
        name: body for name, body in dev.module_calls().items() if body["source"] == "../../modules/push_subscription"
    }


def _step_calls(dev: TerraformDir) -> dict[str, dict]:
    """The module calls made once per step of the registry."""
    return {name: body for name, body in dev.module_calls().items() if body.get("for_each") == OVER_STEPS}


def _services(dev: TerraformDir, steps: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Every Cloud Run service, by step name or module name: its name and function target."""
    services = {}
    for call_name, body in _cloud_run_calls(dev).items():
        if body.get("for_each") == OVER_STEPS:
            assert body["function_target"] == "${each.value.entrypoint}", call_name
            for step, settings in steps.items():
                name = body["name"].replace("${each.key}", step)
                services[step] = {"name": name, "function_target": settings["entrypoint"]}
        else:
            services[call_name] = {"name": body["name"], "function_target": body["function_target"]}
    return services


def _mentions(body: Any, name: str) -> bool:
    """Whether a parsed block refers to name anywhere in its arguments (comments excluded)."""

    def without_comments(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_comments(v) for k, v in value.items() if k != "__comments__"}
        if isinstance(value, list):
            return [without_comments(v) for v in value]
        return value

    return re.search(rf"\b{re.escape(name)}\b", json.dumps(without_comments(body))) is not None


def _push_configs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A subscription's push_config blocks, written out or as the content of a dynamic block."""
    written = body.get("push_config", [])
    dynamic = [first(d["push_config"]["content"]) for d in body.get("dynamic", []) if "push_config" in d]
    return [*written, *dynamic]


def test_modules_have_cft_layout_when_listed(modules: dict[str, TerraformDir]) -> None:
    assert modules, "no modules found under terraform/modules"
    for module in modules.values():
        missing = [f for f in CFT_FILES if not (module.path / f).is_file()]
        assert not missing, f"module {module.name} lacks {missing}"


def test_variables_are_typed_and_described_when_declared(
    modules: dict[str, TerraformDir], environments: dict[str, TerraformDir]
) -> None:
    for directory in [*modules.values(), *environments.values()]:
        for name, body in directory.variables().items():
            assert "type" in body, f"{directory.name}: variable {name} has no type"
            assert body.get("description"), f"{directory.name}: variable {name} has no description"


def test_outputs_are_described_when_declared(
    modules: dict[str, TerraformDir], environments: dict[str, TerraformDir]
) -> None:
    for directory in [*modules.values(), *environments.values()]:
        for name, body in directory.outputs().items():
            assert body.get("description"), f"{directory.name}: output {name} has no description"


def test_module_calls_match_module_interfaces_when_called(
    modules: dict[str, TerraformDir], environments: dict[str, TerraformDir]
) -> None:
    for environment in environments.values():
        for call_name, body in environment.module_calls().items():
            module = modules[body["source"].rsplit("/", 1)[-1]]
            declared = module.variables()
            arguments = set(body) - META_ARGUMENTS
            unknown = arguments - set(declared)
            assert not unknown, f"module.{call_name} passes undeclared variables {sorted(unknown)}"
            required = {name for name, var in declared.items() if "default" not in var}
            assert required <= arguments, f"module.{call_name} misses {sorted(required - arguments)}"
        for call_name, output in set(re.findall(r"module\.(\w+)(?:\[[^\]]*\])?\.(\w+)", environment.text)):
            source = environment.module_calls()[call_name]["source"].rsplit("/", 1)[-1]
            assert output in modules[source].outputs(), f"module.{call_name}.{output} is not an output"


def test_references_resolve_to_declarations_when_used(
    modules: dict[str, TerraformDir], environments: dict[str, TerraformDir]
) -> None:
    for directory in [*modules.values(), *environments.values()]:
        code = re.sub(r"#.*", "", directory.text)
        for name in set(re.findall(r"\bvar\.(\w+)", code)):
            assert name in directory.variables(), f"{directory.name}: var.{name} is not declared"
        for name in set(re.findall(r"\blocal\.(\w+)", code)):
            assert name in directory.locals(), f"{directory.name}: local.{name} is not defined"


def test_every_subscription_has_dead_letter_topic_and_retry_policy(modules: dict[str, TerraformDir]) -> None:
    subscriptions = [
        (module, name, body)
        for module in modules.values()
        for name, body in module.resources("google_pubsub_subscription").items()
    ]
    assert subscriptions, "no google_pubsub_subscription found"
    for module, name, body in subscriptions:
        where = f"{module.name}.google_pubsub_subscription.{name}"
        dead_letter = first(body.get("dead_letter_policy"))
        assert dead_letter.get("dead_letter_topic"), f"{where} has no dead-letter topic"
        attempts = module.resolve(dead_letter["max_delivery_attempts"])
        assert attempts >= 10, f"{where}: {attempts} attempts let preemption NACKs dead-letter a message"
        retry = first(body.get("retry_policy"))
        assert retry.get("minimum_backoff") and retry.get("maximum_backoff"), f"{where}: retry incomplete"
        ack_deadline = module.resolve(body["ack_deadline_seconds"])
        assert 30 <= ack_deadline <= 600, f"{where}: ack deadline {ack_deadline} s"
        assert first(body.get("expiration_policy"))["ttl"] == "", f"{where} would expire after 31 idle days"
        for push in _push_configs(body):
            assert first(push.get("oidc_token")), f"{where} pushes without OIDC auth"


def test_every_dead_letter_topic_has_a_subscription_to_the_dead_letter_service(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    push = modules["push_subscription"]
    subscriptions = push.resources("google_pubsub_subscription")
    feeds = [reference(body["topic"]) for body in subscriptions.values()]
    assert "google_pubsub_topic.dead_letter.id" in feeds
    for name, body in _subscription_calls(dev).items():
        assert reference(body["dead_letter_endpoint"]) == "module.dead_letter.uri", name
    grants = push.resources("google_pubsub_topic_iam_member")
    assert any(g["role"] == "roles/pubsub.publisher" for g in grants.values())
    subscriber_grants = push.resources("google_pubsub_subscription_iam_member")
    assert any(g["role"] == "roles/pubsub.subscriber" for g in subscriber_grants.values())


def test_each_step_topic_is_pushed_to_its_service(dev: TerraformDir) -> None:
    subscriptions = _subscription_calls(dev)
    assert set(subscriptions) == {"step_subscription"}, "one push subscription module call, over the registry"
    body = subscriptions["step_subscription"]
    assert body["for_each"] == OVER_STEPS
    assert reference(body["topic_id"]) == "module.messaging.topic_ids[each.key]"
    # Pushed to the step's service, unless the step runs on pull workers (then pulled, same subscription).
    assert reference(body["push_endpoint"]) == (
        "contains(local.worker_steps, each.key) ? null : module.step_service[each.key].uri"
    )
    assert dev.module_calls()["step_service"]["for_each"] == OVER_STEPS
    messaging = dev.module_calls()["messaging"]
    assert reference(messaging["topics"]) == "{for step, settings in local.steps : step => settings.topic}"


def test_step_registry_export_holds_what_terraform_reads(steps: dict[str, dict[str, Any]]) -> None:
    assert set(steps) == {"ingest", "features", "infer", "finalize", "deliver"}
    for step, settings in steps.items():
        assert set(settings) == STEP_SETTINGS, f"{step}: {sorted(set(settings) ^ STEP_SETTINGS)}"
        # One name per step: its entrypoint and service are the step's name, and so is its topic,
        # but for deliver's, results (<prefix>-results: the topic is what the events are).
        assert settings["entrypoint"] == step
        assert settings["topic"] == STEP_TOPICS.get(step, step)
        assert set(settings["publishes_to"]) <= set(steps), f"{step} publishes to an unknown step"
        assert set(settings["bucket_roles"]) <= {"ingest", "work"}, f"{step}: unknown bucket key"
        assert settings["description"] and "\n" not in settings["description"]


def test_infer_step_sends_its_longest_segment_in_one_call_inside_the_step_budget(dev: TerraformDir) -> None:
    from trackscan.audio.front_end import HOP_LENGTH, PATCH_FRAMES, SAMPLE_RATE
    from trackscan.pipeline.segment_plan import MIN_LAST_SEGMENT_S

    defaults = {name: body["default"] for name, body in dev.variables().items() if "default" in body}
    # The last segment absorbs a remainder under MIN_LAST_SEGMENT_S; frames are centred (1 + n // hop).
    longest_frames = 1 + int((defaults["segment_s"] + MIN_LAST_SEGMENT_S) * SAMPLE_RATE) // HOP_LENGTH
    calls = -(-(longest_frames // PATCH_FRAMES) // defaults["infer_batch_patches"])
    # Each Triton call has its own deadline, so a healthy step waits at most their sum. The tagger's
    # retries of a failing call are not bounded by the step (FAULTS.md: 21.8 s under a stalled network).
    assert calls * defaults["infer_timeout_s"] < 10, (calls, defaults["infer_timeout_s"])


def test_step_registry_delivery_settings_keep_healthy_messages_alive(steps: dict[str, dict[str, Any]]) -> None:
    for step, settings in steps.items():
        # Preemption NACKs count as delivery attempts: fewer than 10 could dead-letter a healthy message.
        assert 10 <= settings["max_delivery_attempts"] <= 100, step
        # For push the ack deadline is the request timeout: it must outlast the service's timeout.
        assert 10 <= settings["ack_deadline_s"] <= 600, step
        assert settings["timeout_s"] < settings["ack_deadline_s"], step


def test_step_modules_read_only_settings_the_registry_has(dev: TerraformDir) -> None:
    calls = _step_calls(dev)
    assert set(calls) == {"step_service", "step_subscription"}
    used = set(re.findall(r"\beach\.value\.(\w+)", json.dumps(calls)))
    assert used, "the step modules read nothing from the registry"
    assert used <= STEP_SETTINGS, f"not in terraform/steps.json: {sorted(used - STEP_SETTINGS)}"
    assert reference(dev.locals()["steps"]) == 'jsondecode(file("${path.module}/../../steps.json")).steps'


def test_no_module_call_is_left_per_step(dev: TerraformDir, steps: dict[str, dict[str, Any]]) -> None:
    # A step is a key of the registry, not a hand-written block: adding one adds no Terraform.
    assert not set(dev.module_calls()) & set(steps)
    assert not [name for name in dev.module_calls() if name.endswith("_subscription") and name != "step_subscription"]


def test_max_instances_keys_name_steps_or_services_when_set(
    modules: dict[str, TerraformDir], dev: TerraformDir, steps: dict[str, dict[str, Any]]
) -> None:
    default = dev.variables()["max_instances"]["default"]
    # A key left behind by a renamed step would silently stop capping it; reconcile runs on one
    # instance whatever the variable says.
    assert set(default) <= set(steps) | {"dead_letter", "api"}, sorted(set(default) - set(steps))
    assert {"dead_letter", "api"} <= set(default)
    call = dev.module_calls()["step_service"]
    assert reference(call["max_instances"]) == "lookup(var.max_instances, each.key, null)"
    # null (no entry) must mean the module's default, not "no limit".
    assert modules["cloud_run_service"].variables()["max_instances"]["nullable"] is False


def test_work_bucket_deletes_leftovers_by_lifecycle_rule(modules: dict[str, TerraformDir]) -> None:
    buckets = modules["buckets"]
    work = buckets.resources("google_storage_bucket")["work"]
    delete_rules = [rule for rule in work["lifecycle_rule"] if first(rule["action"])["type"] == "Delete"]
    assert delete_rules, "the work bucket has no lifecycle Delete rule"
    age_days = buckets.resolve(first(delete_rules[0]["condition"])["age"])
    assert 1 <= age_days <= 7


def test_ingest_notification_publishes_finalize_events_with_agent_right(
    modules: dict[str, TerraformDir],
) -> None:
    buckets = modules["buckets"]
    notification = buckets.resources("google_storage_notification")["ingest_finalized"]
    assert notification["event_types"] == ["OBJECT_FINALIZE"]
    assert "google_pubsub_topic_iam_member.gcs_publisher" in notification["depends_on"][0]


def test_gpu_pool_is_spot_tainted_and_scales_from_zero(modules: dict[str, TerraformDir]) -> None:
    pool = modules["gke"].resources("google_container_node_pool")["gpu_spot"]
    node = first(pool["node_config"])
    assert node["spot"] is True
    taints = {(t["key"], t["effect"]) for t in node["taint"]}
    assert {("nvidia.com/gpu", "NO_SCHEDULE"), ("cloud.google.com/gke-spot", "NO_SCHEDULE")} <= taints
    accelerator = first(node["guest_accelerator"])
    assert first(accelerator["gpu_driver_installation_config"]).get("gpu_driver_version")
    assert first(pool["autoscaling"])["total_min_node_count"] == 0
    assert first(node["workload_metadata_config"])["mode"] == "GKE_METADATA"


def test_cluster_is_private_with_workload_identity_and_network_policy(
    modules: dict[str, TerraformDir],
) -> None:
    cluster = modules["gke"].resources("google_container_cluster")["this"]
    assert first(cluster["private_cluster_config"])["enable_private_nodes"] is True
    assert first(cluster["workload_identity_config"])["workload_pool"]
    assert cluster["enable_shielded_nodes"] is True
    assert first(cluster["release_channel"])["channel"]
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert cluster.get("resource_labels")


def test_every_cloud_run_service_has_its_own_service_account(
    modules: dict[str, TerraformDir], dev: TerraformDir, steps: dict[str, dict[str, Any]]
) -> None:
    for module in modules.values():
        accounts = module.resources("google_service_account")
        for name, service in module.resources("google_cloud_run_v2_service").items():
            account = reference(first(service["template"])["service_account"])
            assert account and account.startswith("google_service_account."), f"{module.name}.{name}"
            assert account.split(".")[1] in accounts, f"{module.name}.{name} uses an account from elsewhere"
    services = _services(dev, steps)
    names = [service["name"] for service in services.values()]
    assert len(set(names)) == len(names) == len(steps) + len(OTHER_FUNCTION_TARGETS), names


def test_every_cloud_run_service_runs_a_thread_per_request_it_may_be_sent(modules: dict[str, TerraformDir]) -> None:
    service = modules["cloud_run_service"].resources("google_cloud_run_v2_service")["this"]
    env = {e["name"]: e["value"] for e in first(first(service["template"])["containers"])["env"]}
    assert env["THREADS"] == "${tostring(var.concurrency)}"


def test_each_service_serves_its_function_target(dev: TerraformDir, steps: dict[str, dict[str, Any]]) -> None:
    targets = {key: service["function_target"] for key, service in _services(dev, steps).items()}
    assert targets == {**{step: step for step in steps}, **OTHER_FUNCTION_TARGETS}
    names = {key: service["name"] for key, service in _services(dev, steps).items()}
    assert names["infer"] == "${local.name}-infer" and names["dead_letter"] == "${local.name}-dead-letter"


def test_workers_are_internal_and_cpu_bound_steps_take_one_request(
    dev: TerraformDir, steps: dict[str, dict[str, Any]]
) -> None:
    calls = _cloud_run_calls(dev)
    for name, body in calls.items():
        if name != "api":
            assert body.get("ingress", INTERNAL) == INTERNAL, f"worker {name} must not be public"
    assert steps["features"]["concurrency"] == 1
    assert steps["infer"]["concurrency"] == 1
    assert steps["infer"]["triton"] is True, "infer needs Direct VPC egress to reach Triton"
    assert [step for step, settings in steps.items() if settings["triton"]] == ["infer"]
    egress = reference(calls["step_service"]["vpc_egress_subnetwork"])
    assert egress == "each.value.triton ? module.network.run_egress_subnetwork_name : null"
    assert calls["api"]["min_instances"] >= 1
    # Two overlapping reconcile passes would replay the same tracks twice.
    assert calls["reconcile"]["max_instances"] == 1
    assert calls["reconcile"]["concurrency"] == 1


def test_every_cloud_scope_setting_is_set_by_terraform(dev: TerraformDir) -> None:
    sys.path.insert(0, str(REPO_ROOT / "shared"))
    config = pytest.importorskip("trackscan.domain.config")
    expected = set(config.env_names("cloud"))
    service_env = dev.locals()["service_env"]
    # Secrets reach the services that need them from Secret Manager, never as plain values: the
    # explicit services name theirs, the step services look theirs up in local.step_secret_env.
    calls = _cloud_run_calls(dev)
    explicit = [body for call_name, body in calls.items() if call_name != "step_service"]
    secret_env = {name for body in explicit for name in body.get("secret_env", {})}
    assert reference(calls["step_service"]["secret_env"]) == "lookup(local.step_secret_env, each.key, {})"
    secret_env |= {name for step_env in dev.locals()["step_secret_env"].values() for name in step_env}
    missing = expected - set(service_env) - secret_env
    assert not missing, f"add to local.service_env in terraform/environments/dev/main.tf: {sorted(missing)}"
    assert not secret_env & set(service_env), "a secret is also set as a plain value"
    unread = set(service_env) - expected
    assert not unread, f"local.service_env sets what trackscan.domain.config does not read: {sorted(unread)}"
    for name, body in _cloud_run_calls(dev).items():
        assert "local.service_env" in body["env"], f"module.{name} does not receive local.service_env"


def test_api_reads_its_secrets_from_secret_manager_and_may_read_only_those(
    dev: TerraformDir, modules: dict[str, TerraformDir]
) -> None:
    api = _cloud_run_calls(dev)["api"]
    assert api["secret_env"] == {
        "TRACKSCAN_CONSOLE_SECRET": "${google_secret_manager_secret.console_session.id}",
        "TRACKSCAN_WEBHOOK_KEY": "${google_secret_manager_secret.webhook_key.id}",
    }
    version = dev.resources("google_secret_manager_secret_version")["console_session"]
    assert "secret_data_wo" in version and "secret_data" not in version, "the secret must stay out of the state"
    reader = modules["cloud_run_service"].resources("google_secret_manager_secret_iam_member")["reader"]
    assert reader["role"] == "roles/secretmanager.secretAccessor" and reader["for_each"] == "${var.secret_env}"


def test_firestore_indexes_cover_the_api_queries(modules: dict[str, TerraformDir]) -> None:
    indexes = {
        tuple((field, order) for field, order in fields)
        for fields in modules["firestore"].locals()["composite_indexes"].values()
    }
    # Every list ordered by updated_at reads `shard in [...]` (adapters/firestore_store.py).
    shard, newest = ("shard", "ASCENDING"), ("updated_at", "DESCENDING")
    required = {
        (("partner", "ASCENDING"), ("state", "ASCENDING"), shard, newest),
        (("partner", "ASCENDING"), shard, newest),
        (shard, newest),
        (("state", "ASCENDING"), shard, newest),
    }
    assert required <= indexes
    index = modules["firestore"].resources("google_firestore_index")["composite"]
    assert index["query_scope"] == "COLLECTION"


def test_vector_index_has_the_size_of_the_search_vector(modules: dict[str, TerraformDir]) -> None:
    from trackscan.adapters.firestore_store import SEARCH_VECTOR_FIELD
    from trackscan.domain.similarity import SEARCH_DIMENSIONS

    firestore = modules["firestore"]
    index = firestore.resources("google_firestore_index")["search_vector"]
    (field,) = [f for f in index["fields"] if "vector_config" in f]
    assert field["field_path"] == SEARCH_VECTOR_FIELD
    assert firestore.variables()["search_vector_dimensions"]["default"] == SEARCH_DIMENSIONS


def test_webhook_attempts_have_their_queries_indexes_and_expire(modules: dict[str, TerraformDir]) -> None:
    # adapters/firestore_webhooks.py: partner == P [and undelivered == true], order by at descending.
    firestore = modules["firestore"]
    indexes = {tuple(map(tuple, fields)) for fields in firestore.locals()["webhook_attempt_indexes"].values()}
    assert indexes == {
        (("partner", "ASCENDING"), ("at", "DESCENDING")),
        (("partner", "ASCENDING"), ("undelivered", "ASCENDING"), ("at", "DESCENDING")),
    }
    for_each = firestore.resources("google_firestore_index")["composite"]["for_each"]
    assert "local.webhook_attempt_indexes" in for_each and "local.composite_indexes" in for_each
    expiry = firestore.resources("google_firestore_field")["webhook_attempts_expire_at"]
    assert expiry["field"] == "expire_at" and "ttl_config" in expiry


def test_firestore_index_serves_the_reconcile_query(modules: dict[str, TerraformDir]) -> None:
    # where state == X and shard in [...] and updated_at <= cutoff, order by updated_at ascending.
    indexes = {
        tuple((field, order) for field, order in fields)
        for fields in modules["firestore"].locals()["composite_indexes"].values()
    }
    assert (("state", "ASCENDING"), ("shard", "ASCENDING"), ("updated_at", "ASCENDING")) in indexes
    assert all(("updated_at", "ASCENDING") not in fields or ("shard", "ASCENDING") in fields for fields in indexes)


def test_reconcile_schedule_posts_to_the_reconcile_service_with_an_oidc_token(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    jobs = dev.resources("google_cloud_scheduler_job")
    assert "reconcile" in jobs, "no google_cloud_scheduler_job.reconcile in the dev environment"
    job = jobs["reconcile"]
    target = first(job.get("http_target"))
    assert target["http_method"] == "POST"
    assert reference(target["uri"]) == "module.reconcile.uri"
    oidc = first(target.get("oidc_token"))
    assert reference(oidc["service_account_email"]) == f"{SCHEDULER_ACCOUNT}.email"
    # Cloud Run checks the token's audience against the service URL.
    assert reference(oidc["audience"]) == "module.reconcile.uri"
    assert dev.resolve(job["schedule"]) == "* * * * *"
    assert job.get("attempt_deadline"), "without a deadline the scheduler waits 3 minutes"
    retry = first(job.get("retry_config"))
    assert retry["retry_count"] == 0, "passes run every minute: a retry would only overlap the next pass"
    services = modules["project_services"].variables()["services"]["default"]
    assert "cloudscheduler.googleapis.com" in services


def test_reconcile_service_has_its_own_account_with_only_its_grants(dev: TerraformDir) -> None:
    call = _cloud_run_calls(dev).get("reconcile")
    assert call, "no module.reconcile (cloud_run_service) in the dev environment"
    # The module creates the runtime account; the scheduler's identity only calls the service.
    assert not _mentions({k: v for k, v in call.items() if k != "invoker_members"}, SCHEDULER_ACCOUNT)
    assert reference(call["firestore_database"]) == "module.firestore.database_resource_name"
    assert [(reference(g["bucket"]), g["role"]) for g in call["bucket_roles"]] == [
        ("module.buckets.ingest_bucket_name", "roles/storage.objectViewer")
    ]
    # Replays on ingest; a track it records FAILED (SOURCE_GONE) is announced on results (deliver's).
    assert [reference(t) for t in call["publish_topic_names"]] == [
        'module.messaging.topic_names["ingest"]',
        'module.messaging.topic_names["deliver"]',
    ]
    assert not call.get("sign_urls"), "reconcile signs no URLs"
    # Cloud Build rolls the service to new images, so it must be allowed to act as its account.
    runtime_accounts = reference(dev.module_calls()["deployer"]["runtime_service_account_names"]) or ""
    assert "reconcile = module.reconcile.service_account_name" in runtime_accounts


def test_deployer_may_act_as_every_service_account(dev: TerraformDir) -> None:
    # Cloud Build rolls every service to a new image, which needs actAs on its runtime account.
    runtime_accounts = reference(dev.module_calls()["deployer"]["runtime_service_account_names"]) or ""
    for name, body in _cloud_run_calls(dev).items():
        if body.get("for_each") == OVER_STEPS:
            expected = f"{{for step, service in module.{name} : step => service.service_account_name}}"
        else:
            expected = f"{name} = module.{name}.service_account_name"
        assert expected in runtime_accounts, f"the deployer cannot deploy module.{name}"


def test_scheduler_account_is_invoker_on_the_reconcile_service_only(dev: TerraformDir) -> None:
    assert "scheduler" in dev.resources("google_service_account")
    for name, call in _cloud_run_calls(dev).items():
        invokers = call.get("invoker_members", {})
        if name == "reconcile":
            assert invokers == {"scheduler": f"serviceAccount:${{{SCHEDULER_ACCOUNT}.email}}"}, invokers
        else:
            assert not _mentions(invokers, SCHEDULER_ACCOUNT), f"the scheduler may invoke module.{name}"
    # No other grant anywhere: only the reconcile call and the job itself name the account.
    users = {
        f"{resource_type}.{name}"
        for entry in dev.blocks.get("resource", [])
        for resource_type, resources in entry.items()
        for name, body in resources.items()
        if _mentions(body, SCHEDULER_ACCOUNT)
    }
    users |= {f"module.{name}" for name, body in dev.module_calls().items() if _mentions(body, SCHEDULER_ACCOUNT)}
    assert users == {"google_cloud_scheduler_job.reconcile", "module.reconcile"}, users
