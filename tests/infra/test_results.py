"""Results delivery (terraform/README.md, "Results delivery"): the results topic checks every event
against terraform/schemas/track_finished.proto, the BigQuery table's columns are that file's
fields plus the metadata Pub/Sub writes, the BigQuery subscription writes them with a dead letter,
the services that end tracks may publish results, and only deliver reads the webhook secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.infra.conftest import TERRAFORM_DIR, TerraformDir, first, reference

PROTO_FILE = TERRAFORM_DIR / "schemas" / "track_finished.proto"
EVENT_MESSAGE = "TrackFinished"
RESULTS_STEP = "deliver"
PUBSUB_AGENT = "serviceAccount:${var.pubsub_service_agent_email}"
# What a BigQuery subscription with write_metadata writes beside the message's fields, with the
# types it accepts (cloud.google.com/pubsub/docs/bigquery, "Write metadata"); attributes may be
# STRING or JSON. No data column: with use_topic_schema the fields have their own columns.
METADATA_COLUMNS = [
    {"name": "subscription_name", "type": "STRING", "mode": "NULLABLE"},
    {"name": "message_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "publish_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "attributes", "type": "JSON", "mode": "NULLABLE"},
]
# Protocol Buffer scalar types => the BigQuery (legacy SQL) column type Pub/Sub writes them to.
PROTO_TO_BIGQUERY = {
    "string": "STRING",
    "bytes": "BYTES",
    "bool": "BOOLEAN",
    "double": "FLOAT",
    "float": "FLOAT",
    "int32": "INTEGER",
    "int64": "INTEGER",
    "uint32": "INTEGER",
    "sint32": "INTEGER",
    "sint64": "INTEGER",
}
_MESSAGE = re.compile(r"^message\s+(\w+)\s*\{(.*?)^\}", re.MULTILINE | re.DOTALL)
_FIELD = re.compile(r"^\s*(?:(optional|repeated)\s+)?(\w+)\s+(\w+)\s*=\s*\d+\s*;", re.MULTILINE)


def _proto_messages(text: str) -> dict[str, list[tuple[str | None, str, str]]]:
    """Message name => its fields as (label, type, name), in order; comments dropped."""
    code = re.sub(r"//.*", "", text)
    return {name: _FIELD.findall(body) for name, body in _MESSAGE.findall(code)}


def _columns_of(message: str, messages: dict[str, list[tuple[str | None, str, str]]]) -> list[dict[str, Any]]:
    """The BigQuery columns a message's fields map to: repeated is REPEATED, the rest NULLABLE
    (proto3 fields without `optional` may be absent too), a message field a RECORD."""
    columns = []
    for label, field_type, name in messages[message]:
        column: dict[str, Any] = {"name": name, "mode": "REPEATED" if label == "repeated" else "NULLABLE"}
        if field_type in messages:
            column |= {"type": "RECORD", "fields": _columns_of(field_type, messages)}
        else:
            column["type"] = PROTO_TO_BIGQUERY[field_type]
        columns.append(column)
    return columns


def _without_descriptions(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: _without_descriptions(v) if k == "fields" else v for k, v in column.items() if k != "description"}
        for column in columns
    ]


def _module_file(module: TerraformDir, expression: str | None) -> Path:
    """The file a `file("${path.module}/...")` argument reads."""
    match = re.fullmatch(r'file\("\$\{path\.module\}/([^"]+)"\)', expression or "")
    assert match, f"not a file() of the module: {expression!r}"
    return module.path / match[1]


def test_results_topic_is_deliver_s_and_named_results(steps: dict[str, dict[str, Any]], dev: TerraformDir) -> None:
    # <prefix>-results: the messaging module names each topic after the registry's `topic`.
    assert steps[RESULTS_STEP]["topic"] == "results"
    assert reference(dev.module_calls()["messaging"]["topics"]) == (
        "{for step, settings in local.steps : step => settings.topic}"
    )
    # Every other step may end a track, and an ended track's event goes to results.
    for step, settings in steps.items():
        if step != RESULTS_STEP:
            assert RESULTS_STEP in settings["publishes_to"], f"{step} cannot announce the tracks it ends"
    assert steps[RESULTS_STEP]["publishes_to"] == []


def test_results_topic_carries_the_schema_of_the_repository_s_proto(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    schemas = dev.module_calls()["messaging"]["schemas"]
    assert set(schemas) == {RESULTS_STEP}, "only the results topic has a schema"
    proto = _module_file(dev, reference(schemas[RESULTS_STEP]))
    assert proto.resolve() == PROTO_FILE.resolve()
    assert EVENT_MESSAGE in _proto_messages(PROTO_FILE.read_text())
    messaging = modules["messaging"]
    schema = messaging.resources("google_pubsub_schema")["topic"]
    assert schema["for_each"] == "${var.schemas}"
    assert schema["type"] == "PROTOCOL_BUFFER" and schema["definition"] == "${each.value}"
    topic = messaging.resources("google_pubsub_topic")["step"]
    (settings,) = [d["schema_settings"] for d in topic["dynamic"] if "schema_settings" in d]
    # Only the topic of a step given a schema gets schema_settings, with that step's schema.
    assert reference(settings["for_each"]) == (
        "[for step, schema in google_pubsub_schema.topic : schema.id if step == each.key]"
    )
    content = first(settings["content"])
    assert content == {"schema": "${schema_settings.value}", "encoding": "JSON"}


def test_results_table_columns_are_the_proto_fields_then_the_metadata(modules: dict[str, TerraformDir]) -> None:
    module = modules["results_bigquery"]
    table = module.resources("google_bigquery_table")["track_finished"]
    columns = json.loads(_module_file(module, reference(table["schema"])).read_text())
    expected = _columns_of(EVENT_MESSAGE, _proto_messages(PROTO_FILE.read_text())) + METADATA_COLUMNS
    assert _without_descriptions(columns) == expected
    # The ones spelled out in the brief, in case the mapping above were wrong the same way twice.
    by_name = {column["name"]: column for column in columns}
    assert by_name["tags"]["mode"] == "REPEATED" and by_name["tags"]["type"] == "RECORD"
    assert [(f["name"], f["type"]) for f in by_name["tags"]["fields"]] == [("tag", "STRING"), ("score", "FLOAT")]
    assert (by_name["top_tags"]["type"], by_name["top_tags"]["mode"]) == ("STRING", "REPEATED")
    assert (by_name["embedding"]["type"], by_name["embedding"]["mode"]) == ("FLOAT", "REPEATED")
    assert (by_name["error_code"]["type"], by_name["error_code"]["mode"]) == ("STRING", "NULLABLE")
    assert all(column.get("description") for column in columns), "every column says what it holds"


def test_results_table_is_partitioned_by_publish_day_and_clustered_by_partner(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    table = modules["results_bigquery"].resources("google_bigquery_table")["track_finished"]
    assert first(table["time_partitioning"]) == {"type": "DAY", "field": "publish_time"}
    assert table["clustering"] == ["partner"]
    assert table["deletion_protection"] == "${var.deletion_protection}"
    call = dev.module_calls()["results_bigquery"]
    assert call["deletion_protection"] == "${var.deletion_protection}"
    # BigQuery dataset ids take no hyphens; name_prefix may have some.
    assert call["dataset_id"] == '${replace(local.name, "-", "_")}_results'
    dataset = modules["results_bigquery"].resources("google_bigquery_dataset")["this"]
    assert dataset["delete_contents_on_destroy"] is False


def test_bigquery_subscription_writes_metadata_with_the_topic_schema_and_has_a_dead_letter(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    module = modules["results_bigquery"]
    subscription = module.resources("google_pubsub_subscription")["bigquery"]
    config = first(subscription["bigquery_config"])
    assert config["use_topic_schema"] is True and config["write_metadata"] is True
    assert "use_table_schema" not in config, "use_topic_schema and use_table_schema exclude each other"
    table = "google_bigquery_table.track_finished"
    assert config["table"] == f"${{{table}.project}}.${{{table}.dataset_id}}.${{{table}.table_id}}"
    dead_letter = first(subscription["dead_letter_policy"])
    assert dead_letter["dead_letter_topic"] == "${var.dead_letter_topic_id}"
    assert 10 <= dead_letter["max_delivery_attempts"] <= 100
    assert first(subscription["expiration_policy"])["ttl"] == ""
    call = dev.module_calls()["results_bigquery"]
    assert reference(call["topic_id"]) == f'module.messaging.topic_ids["{RESULTS_STEP}"]'
    # Parked, never pushed to the dead-letter service: it would send the event round to the webhook again.
    assert reference(call["dead_letter_topic_id"]) == "module.messaging.parked_topic_id"
    assert reference(call["pubsub_service_agent_email"]) == "local.pubsub_service_agent_email"


def test_pubsub_service_agent_may_write_the_table_and_move_dead_letters(modules: dict[str, TerraformDir]) -> None:
    module = modules["results_bigquery"]
    writers = list(module.resources("google_bigquery_table_iam_member").values())
    assert [(w["role"], w["member"], w["table_id"]) for w in writers] == [
        ("roles/bigquery.dataEditor", PUBSUB_AGENT, "${google_bigquery_table.track_finished.table_id}")
    ]
    assert not module.resources("google_bigquery_dataset_iam_member"), "the table is enough"
    subscription = module.resources("google_pubsub_subscription")["bigquery"]
    assert "google_bigquery_table_iam_member.pubsub_writer" in subscription["depends_on"][0]
    subscribers = module.resources("google_pubsub_subscription_iam_member").values()
    assert [(s["role"], s["member"], s["subscription"]) for s in subscribers] == [
        ("roles/pubsub.subscriber", PUBSUB_AGENT, "${google_pubsub_subscription.bigquery.name}")
    ]
    # The parked topic already lets the agent publish there (the dead-letter subscriptions use it).
    parked = modules["messaging"].resources("google_pubsub_topic_iam_member")["parked_publisher"]
    assert parked["role"] == "roles/pubsub.publisher" and "pubsub_service_agent_email" in parked["member"]


def test_bigquery_api_is_enabled_and_the_subscription_is_watched(
    modules: dict[str, TerraformDir], dev: TerraformDir
) -> None:
    assert "bigquery.googleapis.com" in modules["project_services"].variables()["services"]["default"]
    watched = reference(dev.module_calls()["monitoring"]["subscription_names"]) or ""
    assert "module.results_bigquery.subscription_name" in watched


def test_services_that_end_tracks_may_publish_results(dev: TerraformDir) -> None:
    calls = dev.module_calls()
    results = f'module.messaging.topic_names["{RESULTS_STEP}"]'
    # The steps publish to what the registry says (publishes_to names deliver, whose topic is results).
    step_topics = reference(calls["step_service"]["publish_topic_names"])
    assert step_topics == "[for step in each.value.publishes_to : module.messaging.topic_names[step]]"
    # The dead-letter service records tracks FAILED and sends undelivered events round again;
    # reconcile records tracks whose object is gone FAILED; the API redelivers a track's event.
    for name in ("dead_letter", "reconcile", "api"):
        assert results in [reference(t) for t in calls[name]["publish_topic_names"]], name


def test_only_the_deliver_service_reads_the_webhook_secrets(dev: TerraformDir) -> None:
    secret = "${google_secret_manager_secret.webhook_secrets.id}"
    key = "${google_secret_manager_secret.webhook_key.id}"
    assert dev.locals()["step_secret_env"] == {
        RESULTS_STEP: {"TRACKSCAN_WEBHOOK_SECRETS": secret, "TRACKSCAN_WEBHOOK_KEY": key}
    }
    calls = {name: body for name, body in dev.module_calls().items() if body["source"].endswith("/cloud_run_service")}
    assert reference(calls["step_service"]["secret_env"]) == "lookup(local.step_secret_env, each.key, {})"
    for name, body in calls.items():
        if name != "step_service":
            assert "webhook_secrets" not in json.dumps(body.get("secret_env", {})), f"module.{name} reads them"
    assert "TRACKSCAN_WEBHOOK_SECRETS" not in dev.locals()["service_env"]
    # Nothing else names the secret but its version, the grant above and the operators' output.
    users = {
        f"{resource_type}.{name}"
        for entry in dev.blocks.get("resource", [])
        for resource_type, resources in entry.items()
        for name, body in resources.items()
        if "google_secret_manager_secret.webhook_secrets" in json.dumps(body)
    }
    assert users == {"google_secret_manager_secret_version.webhook_secrets"}, users
    version = dev.resources("google_secret_manager_secret_version")["webhook_secrets"]
    assert "secret_data_wo" in version and "secret_data" not in version, "the value must stay out of the state"
    # The placeholder must parse to no partner entry (trackscan.domain.webhooks splits on , and =).
    assert not set(",=") & set(version["secret_data_wo"])


def test_the_webhook_key_reaches_the_api_and_deliver_alone_and_stays_out_of_the_state(dev: TerraformDir) -> None:
    key = "${google_secret_manager_secret.webhook_key.id}"
    calls = {name: body for name, body in dev.module_calls().items() if body["source"].endswith("/cloud_run_service")}
    assert calls["api"]["secret_env"]["TRACKSCAN_WEBHOOK_KEY"] == key  # shows a secret on PUT and :rotate
    assert dev.locals()["step_secret_env"][RESULTS_STEP]["TRACKSCAN_WEBHOOK_KEY"] == key  # signs
    for name, body in calls.items():
        if name not in ("api", "step_service"):
            assert "webhook_key" not in json.dumps(body.get("secret_env", {})), f"module.{name} reads it"
    assert "TRACKSCAN_WEBHOOK_KEY" not in dev.locals()["service_env"]
    version = dev.resources("google_secret_manager_secret_version")["webhook_key"]
    assert "secret_data_wo" in version and "secret_data" not in version, "the key must stay out of the state"
    assert version["secret_data_wo"].startswith("${base64encode(")  # TRACKSCAN_WEBHOOK_KEY is base64


def test_webhooks_come_from_the_partner_webhooks_variable(dev: TerraformDir) -> None:
    variable = dev.variables()["partner_webhooks"]
    assert variable["type"] == "${map(string)}" and variable["default"] == {}
    assert dev.locals()["service_env"]["TRACKSCAN_WEBHOOKS"] == "${local.webhooks}"
    webhooks = reference(dev.locals()["webhooks"]) or ""
    assert '"${partner}=${var.partner_webhooks[partner]}"' in webhooks and webhooks.startswith('join(",",')
    secret = dev.resources("google_secret_manager_secret")["webhook_secrets"]
    condition = first(first(secret["lifecycle"])["precondition"])["condition"]
    assert "keys(var.partner_webhooks)" in condition and "keys(var.partners)" in condition


def test_deliver_reaches_the_internet_from_cloud_run(
    modules: dict[str, TerraformDir], dev: TerraformDir, steps: dict[str, dict[str, Any]]
) -> None:
    # No VPC access for deliver (only Triton's callers get it), so Cloud Run sends its requests
    # straight to the internet; the Triton callers' VPC egress takes only private ranges.
    assert steps[RESULTS_STEP]["triton"] is False
    egress = reference(dev.module_calls()["step_service"]["vpc_egress_subnetwork"])
    assert egress == "each.value.triton ? module.network.run_egress_subnetwork_name : null"
    service = modules["cloud_run_service"].resources("google_cloud_run_v2_service")["this"]
    (vpc_access,) = [d["vpc_access"] for d in first(service["template"])["dynamic"] if "vpc_access" in d]
    assert first(vpc_access["content"])["egress"] == "PRIVATE_RANGES_ONLY"
    # The GKE nodes have no route out: deliver is never a pull worker.
    assert steps[RESULTS_STEP]["internet"] is True
    assert "if settings.internet" in dev.locals()["cloud_run_only_steps"]
    validation = first(dev.variables()["worker_steps"]["validation"])
    assert f'!contains(var.worker_steps, "{RESULTS_STEP}")' in validation["condition"]


def test_a_partners_dead_receiver_pages_no_one(dev: TerraformDir) -> None:
    # deliver's 5xx and backlog follow partners' receivers, not the pipeline: kept out of the alerts.
    monitoring = dev.module_calls()["monitoring"]
    for watched in (monitoring["service_names"], monitoring["subscription_names"]):
        assert "if !local.steps[step].internet" in reference(watched)
