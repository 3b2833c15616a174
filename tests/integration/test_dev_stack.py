"""The dev stack: every server answers, fake GCS announces uploads, Triton infers like
onnxruntime, pushes reach the functions, and `dev down` leaves nothing behind."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from trackscan.dev import DevPorts, DevStack, processes, services
from trackscan.dev.layout import (
    ACK_DEADLINE_S,
    FUNCTIONS,
    MAX_DELIVERY_ATTEMPTS,
    PARKED_TOPIC,
    PushSubscription,
    free_ports,
    push_endpoint,
    step_topics,
    subscriptions,
)
from trackscan.dev.provision import create_subscriptions, create_topics
from trackscan.pipeline.steps import topic_name

OUTPUTS = ("mtt_scores", "msd_scores", "embedding")
# Stand-ins for functions/main.py: record each CloudEvent they get, as functions-framework made it.
STUB_FUNCTIONS = """
import json, os
import functions_framework

def _record(target, event):
    with open(os.environ["STUB_EVENTS"], "a") as out:
        record = {"target": target, "source": event["source"], "type": event["type"], "data": event.data}
        out.write(json.dumps(record) + "\\n")

@functions_framework.cloud_event
def ingest(event):
    _record("ingest", event)
"""


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s} s")


def test_dev_stack_servers_answer_when_started(dev_stack: DevStack, stack_env: dict[str, str]):
    from google.cloud import firestore

    silent = [service.name for service in dev_stack.services if not services.answers(service)]
    assert not silent
    client = firestore.Client(project=dev_stack.config.project_id)
    document = client.collection("probe").document(uuid.uuid4().hex)
    document.set({"answered": True})
    assert document.get().to_dict() == {"answered": True}


def test_fake_gcs_publishes_object_finalize_when_ingest_object_uploaded(dev_stack: DevStack, stack_env: dict[str, str]):
    from google.cloud import pubsub_v1, storage

    config = dev_stack.config
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(config.project_id, f"probe-{uuid.uuid4().hex[:8]}")
    topic = f"projects/{config.project_id}/topics/{topic_name(config.topic_prefix, 'ingest')}"
    subscriber.create_subscription(name=subscription, topic=topic)
    try:
        client = storage.Client()
        name = f"{stack_env['TRACKSCAN_DEV_PARTNER']}/{uuid.uuid4().hex}.ogg"
        client.bucket(config.work_bucket_name).blob(name).upload_from_string(b"not announced")
        blob = client.bucket(config.ingest_bucket_name).blob(name)
        blob.upload_from_string(b"OggS announced")
        pulled: list[dict[str, str]] = []

        def finalized():
            response = subscriber.pull(subscription=subscription, max_messages=10, timeout=5)
            pulled.extend(dict(m.message.attributes) for m in response.received_messages)
            return next((a for a in pulled if a.get("objectId") == name), None)

        attributes = _wait_for(finalized, 20, f"OBJECT_FINALIZE for {name}")
    finally:
        subscriber.delete_subscription(subscription=subscription)
    assert attributes["eventType"] == "OBJECT_FINALIZE"
    assert attributes["bucketId"] == config.ingest_bucket_name
    assert attributes["objectGeneration"] == str(blob.generation)
    assert all(a.get("bucketId") == config.ingest_bucket_name for a in pulled)


def test_triton_infers_like_onnxruntime_when_given_patches(dev_stack: DevStack, triton_skip_reason: str):
    if triton_skip_reason:
        pytest.skip(triton_skip_reason)
    import onnxruntime as ort
    import tritonclient.grpc as triton

    patches = np.random.default_rng(7).standard_normal((3, 187, 96)).astype(np.float16)
    client = triton.InferenceServerClient(dev_stack.env["TRITON_GRPC_URL"])
    inputs = [triton.InferInput("patches", list(patches.shape), "FP16")]
    inputs[0].set_data_from_numpy(patches)
    result = client.infer(
        dev_stack.config.triton_model_name, inputs, outputs=[triton.InferRequestedOutput(name) for name in OUTPUTS]
    )
    session = ort.InferenceSession(dev_stack.config.model_path, providers=["CPUExecutionProvider"])
    expected = dict(zip(OUTPUTS, session.run(list(OUTPUTS), {"patches": patches}), strict=True))
    for name in OUTPUTS:
        np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=0, atol=1e-5)


def test_push_subscriptions_have_dead_letter_and_retry_policy_when_provisioned(
    dev_stack: DevStack, stack_env: dict[str, str]
):
    from google.cloud import pubsub_v1

    with pubsub_v1.SubscriberClient() as subscriber:
        for planned in subscriptions(dev_stack.config, dev_stack.ports):
            found = subscriber.get_subscription(
                subscription=subscriber.subscription_path(dev_stack.config.project_id, planned.name)
            )
            assert found.push_config.push_endpoint == planned.push_endpoint
            assert found.dead_letter_policy.dead_letter_topic.endswith(f"/topics/{planned.dead_letter_topic}")
            assert found.dead_letter_policy.max_delivery_attempts == MAX_DELIVERY_ATTEMPTS
            assert found.ack_deadline_seconds == ACK_DEADLINE_S
            assert found.retry_policy.maximum_backoff.total_seconds() > 0


def test_push_subscription_delivers_cloud_event_to_function_when_published(
    dev_stack: DevStack, stack_env: dict[str, str], tmp_path: Path
):
    from google.cloud import pubsub_v1

    config, topic, marker = dev_stack.config, f"probe-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    source, events = tmp_path / "stub_main.py", tmp_path / "events.jsonl"
    source.write_text(STUB_FUNCTIONS)
    # The stack's own wiring, on a topic and a port of this test's own, so the real functions
    # (when functions/main.py exists) neither see the probe nor stand in the way.
    ports = dev_stack.ports.with_function("ingest", free_ports(1)[0])
    endpoint = push_endpoint(ports, "ingest", config.project_id, topic)
    probe = PushSubscription(topic, topic, endpoint, PARKED_TOPIC)
    probe_subscription = f"projects/{config.project_id}/subscriptions/{topic}"
    create_topics(config.project_id, [topic])
    create_subscriptions(config.project_id, [probe])
    stub = _start_stub(dev_stack, services.function(FUNCTIONS[0], ports, source), events)
    try:
        publisher = pubsub_v1.PublisherClient()
        publisher.publish(publisher.topic_path(config.project_id, topic), b"{}", marker=marker).result()
        event = _wait_for(lambda: _recorded(events, marker), 30, "push to the stub function")
    finally:
        processes.stop_children([stub], grace_s=5)
        with pubsub_v1.SubscriberClient() as subscriber:
            subscriber.delete_subscription(subscription=probe_subscription)
        publisher.delete_topic(topic=publisher.topic_path(config.project_id, topic))
    assert event["source"] == f"//pubsub.googleapis.com/projects/{config.project_id}/topics/{topic}"
    assert event["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert base64.b64decode(event["data"]["message"]["data"]) == b"{}"


def _start_stub(stack: DevStack, service: services.Service, events: Path) -> processes.ChildProcess:
    env = {**os.environ, **stack.function_env(), **service.env, "STUB_EVENTS": str(events)}
    child, popen = processes.start_child(service.name, service.argv, env, events.parent / "logs")
    try:
        services.wait_ready(service, lambda: popen.poll() is None, timeout_s=60)
    except RuntimeError:
        processes.stop_children([child], {child.name: popen}, grace_s=5)
        raise
    return child


def _recorded(events: Path, marker: str) -> dict | None:
    lines = events.read_text().splitlines() if events.exists() else []
    mine = (e for e in map(json.loads, lines) if e["data"]["message"]["attributes"].get("marker") == marker)
    return next(mine, None)


def _group_members(pgids: set[int]) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids:
            members.append(int(stat.parent.name))
    return members


def test_dev_down_leaves_no_process_when_stack_was_up(emulator_tools: None, tmp_path: Path):
    env = {**os.environ, "TRACKSCAN_HOME": str(tmp_path / "home")}
    dev = [sys.executable, "-c", "from trackscan.dev.cli import dev; dev()"]
    up = subprocess.run(
        [*dev, "up", "--free-ports", "--no-triton", "--no-functions", "--env-file", str(tmp_path / ".dev.env")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    state_path = tmp_path / "home" / "dev" / "processes.json"
    recorded = json.loads(state_path.read_text())["processes"] if state_path.exists() else []
    pgids = {child["pid"] for child in recorded}
    env_file = (tmp_path / ".dev.env").read_text() if (tmp_path / ".dev.env").exists() else ""
    down = subprocess.run([*dev, "down"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert all(name in down.stdout for name in ("pubsub", "firestore", "storage")), down.stdout
    assert "PUBSUB_EMULATOR_HOST=127.0.0.1:" in env_file
    assert not (tmp_path / ".dev.env").exists()  # stale variables would point at servers that are gone
    assert not state_path.exists()
    assert _group_members(pgids) == []


def test_dev_subscriptions_give_each_step_a_dead_letter_path_when_planned(stack_config):
    plan = {s.name: s for s in subscriptions(stack_config, DevPorts())}
    steps = [s for s in plan.values() if not s.name.endswith("-dead-letter")]
    assert {s.topic for s in steps} == set(step_topics(stack_config))
    for step in steps:
        dead_letter = plan[step.dead_letter_topic]
        assert dead_letter.topic == step.dead_letter_topic
        assert dead_letter.push_endpoint.startswith(f"http://127.0.0.1:{DevPorts().of('dead_letter')}/")
        assert dead_letter.dead_letter_topic == PARKED_TOPIC


def test_every_function_runs_gunicorns_threaded_worker_with_its_concurrency_when_planned(tmp_path: Path):
    # gunicorn's sync worker (what functions-framework picks for one thread) holds each answered
    # connection up to 2 s for the client to close it; the Pub/Sub emulator never does. The
    # settings, the threaded worker among them, are the image's: trackscan.api.serving.
    from trackscan.api import serving

    assert serving.worker_class == "trackscan.api.serving.QueueTimedWorker"  # gthread, marking queue times
    for spec in FUNCTIONS:
        service = services.function(spec, DevPorts(), tmp_path / "main.py")
        argv = service.argv
        options = dict(zip(argv[3:-1:2], argv[4:-1:2], strict=True))
        assert argv[1:3] == ("-m", "gunicorn") and options["--config"] == "python:trackscan.api.serving", argv
        assert int(service.env["THREADS"]) == spec.concurrency, spec.target  # read by serving, as in the image
        assert f"target={spec.target!r}" in argv[-1]


def test_dev_stack_workers_lane_tags_an_upload_whole_with_pull_workers(
    emulator_tools: None, stack_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`trackscan dev up --lane workers`: no step function, no Triton; workers pull and tag."""
    from google.cloud import storage

    from tests.audio_fixtures import music_like, write_audio
    from tests.integration.conftest import FUNCTIONS_SOURCE
    from trackscan.domain.config import Config
    from trackscan.domain.track_ids import track_id_for
    from trackscan.runtimes.bootstrap import track_store

    song = write_audio(tmp_path / "song.flac", music_like(12.0))
    stack = DevStack(
        config=stack_config,
        ports=DevPorts.free(),
        state_dir=tmp_path / "dev",
        functions_source=FUNCTIONS_SOURCE,
        with_triton=False,
        lane="workers",
    )
    with stack:
        for name, value in stack.env.items():
            monkeypatch.setenv(name, value)
        names = {service.name for service in stack.services}
        bucket = storage.Client().bucket(stack_config.ingest_bucket_name)
        blob = bucket.blob(f"{stack.env['TRACKSCAN_DEV_PARTNER']}/song.flac")
        blob.upload_from_filename(str(song))
        store = track_store(Config.from_env(), cloud=True)
        track_id = track_id_for(f"gs://{stack_config.ingest_bucket_name}/{blob.name}", str(blob.generation))
        record = _wait_for(
            lambda: (r := store.get(track_id)) is not None and r.state.is_final and r, 120, "the track to finish"
        )
    assert {f"worker-{step}" for step in ("ingest", "features", "infer", "finalize")} <= names
    assert not {"ingest", "features", "infer", "finalize", "triton"} & names
    assert record.state.value == "DONE"
    assert [event.state for event in record.timeline] == ["RECEIVED", "DONE"]
