"""/v1/webhook: a partner registers its receiver, which then verifies every event with the secret shown."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.api_fixtures import ACME, BETA, api_deps
from tests.api_fixtures import assert_error as _assert_error
from tests.api_fixtures import schema_errors as _schema_errors
from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import make_deps, upload
from tests.webhook_receiver import receiver
from trackscan.api import create_app
from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import TrackFinished
from trackscan.pipeline import deliver
from trackscan.pipeline.step_policy import run_step


@pytest.fixture
def deps(tmp_path):
    return api_deps(tmp_path, webhook_allow_loopback=True)


@pytest.fixture
def client(deps):
    return create_app(deps).test_client()


@pytest.fixture
def event(tmp_path) -> TrackFinished:
    """The result event of one of acme's tracks, tagged by the pipeline on the API's store."""
    pipeline = make_deps(tmp_path / "home", webhook_allow_loopback=True)
    queue = [upload(write_audio(tmp_path / "song.flac", music_like(8.0)), partner="acme")]
    while queue:
        message = queue.pop(0)
        if isinstance(message, TrackFinished):
            return message
        run_step(message, pipeline)
        queue.extend(pipeline.publisher.drain())
    raise AssertionError("the track was not announced")


def _deliver(tmp_path: Path, event: TrackFinished) -> None:
    deliver.handle(event, make_deps(tmp_path / "home", webhook_allow_loopback=True))


def test_a_registered_receiver_verifies_events_with_the_secret_shown_once(client, deps, event, tmp_path):
    with receiver() as (url, got):
        response = client.put("/v1/webhook", json={"url": url}, headers=ACME)
        assert response.status_code == 200 and not _schema_errors("WebhookSecret", response.json)
        got.secrets.append(response.json["secret"])
        _deliver(tmp_path, event)
    assert got.unverified == 0 and [e["event_id"] for e in got.events] == [event.event_id]
    shown = client.get("/v1/webhook", headers=ACME)
    assert shown.status_code == 200 and not _schema_errors("Webhook", shown.json)
    assert shown.json["url"] == url and "secret" not in shown.json
    stored = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("state.sqlite*"))
    assert url.encode() in stored and response.json["secret"].encode() not in stored  # derived, never kept


def test_a_receiver_holding_either_secret_verifies_until_the_overlap_ends_when_rotated(client, deps, event, tmp_path):
    with receiver() as (url, old), receiver() as (_, new):
        old.secrets.append(client.put("/v1/webhook", json={"url": url}, headers=ACME).json["secret"])
        rotated = client.post("/v1/webhook:rotate", headers=ACME)
        assert rotated.status_code == 200 and rotated.json["previous_secret_until"]
        new.secrets.append(rotated.json["secret"])
        assert new.secrets != old.secrets
        _deliver(tmp_path, event)  # both signatures: the old receiver verifies
        registration = deps.webhook_registry.webhook("acme")
        deps.webhook_registry.save_webhook(replace(registration, previous_until="2000-01-01T00:00:00+00:00"))
        _deliver(tmp_path, event)  # the overlap is over: the new secret alone signs
        client.put("/v1/webhook", json={"url": url.replace("/hook", "/moved")}, headers=ACME)
        _deliver(tmp_path, event)
    assert len(old.events) == 1 and old.unverified == 2
    assert len(old.headers[0]["webhook-signature"].split()) == 2


def test_moving_the_webhook_keeps_its_secret_and_shows_none(client, deps, event, tmp_path):
    with receiver() as (first_url, _), receiver() as (url, got):
        got.secrets.append(client.put("/v1/webhook", json={"url": first_url}, headers=ACME).json["secret"])
        moved = client.put("/v1/webhook", json={"url": url}, headers=ACME)
        assert moved.status_code == 200 and moved.json == {"url": url}
        _deliver(tmp_path, event)
    assert got.unverified == 0 and len(got.events) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/computeMetadata/v1/",
        "https://metadata.google.internal/",
        "http://10.0.0.8/hook",
        "https://192.168.1.1/hook",
        "ftp://example.com/hook",
        "https://example.com:8443/hook",
    ],
)
def test_registration_refuses_what_sending_would_refuse(client, deps, url):
    _assert_error(client.put("/v1/webhook", json={"url": url}, headers=ACME), 400, "INVALID_ARGUMENT")
    assert deps.webhook_registry.webhook("acme") is None


@pytest.mark.parametrize("body", [{}, {"url": 5}, {"url": "https://example.com", "secret": "mine"}, [], {"url": ""}])
def test_registration_refuses_a_body_that_is_not_one_url(client, body):
    _assert_error(client.put("/v1/webhook", json=body, headers=ACME), 400, "INVALID_ARGUMENT")


def test_a_webhook_registered_again_after_its_removal_gets_a_new_secret(client):
    with receiver() as (url, _):
        first = client.put("/v1/webhook", json={"url": url}, headers=ACME).json["secret"]
        assert client.delete("/v1/webhook", headers=ACME).status_code == 204
        again = client.put("/v1/webhook", json={"url": url}, headers=ACME).json["secret"]
    assert first != again


def test_nothing_is_registered_when_the_deployment_has_no_webhook_key(tmp_path):
    deps = api_deps(tmp_path, webhook_allow_loopback=True)
    client = create_app(replace(deps, config=replace(deps.config, webhook_key=""))).test_client()
    with receiver() as (url, _):
        _assert_error(client.put("/v1/webhook", json={"url": url}, headers=ACME), 503, "UNAVAILABLE")
    assert deps.webhook_registry.webhook("acme") is None


def test_a_partner_sees_and_changes_only_its_own_webhook(client):
    with receiver() as (url, _):
        assert client.put("/v1/webhook", json={"url": url}, headers=ACME).status_code == 200
    for method, path in (("get", "/v1/webhook"), ("post", "/v1/webhook:rotate"), ("post", "/v1/webhook:test")):
        _assert_error(getattr(client, method)(path, headers=BETA), 404, "NOT_FOUND")
    _assert_error(client.delete("/v1/webhook", headers=BETA), 404, "NOT_FOUND")
    assert client.delete("/v1/webhook", headers=ACME).status_code == 204
    _assert_error(client.get("/v1/webhook", headers=ACME), 404, "NOT_FOUND")


def test_the_test_event_reports_what_the_receiver_answered(client):
    with receiver() as (url, got):
        got.secrets.append(client.put("/v1/webhook", json={"url": url}, headers=ACME).json["secret"])
        answered = client.post("/v1/webhook:test", headers=ACME)
        got.status = 500
        failing = client.post("/v1/webhook:test", headers=ACME)
    assert not _schema_errors("WebhookTest", answered.json)
    assert answered.json["delivered"] and answered.json["status"] == 200
    assert got.unverified == 0 and got.events[0]["type"] == "webhook.test"
    assert got.headers[0]["webhook-id"] == answered.json["event_id"]
    assert not failing.json["delivered"] and failing.json["status"] == 500
    dead = client.post("/v1/webhook:test", headers=ACME)  # the receiver is gone
    assert not dead.json["delivered"] and dead.json["status"] is None and dead.json["error"]


def test_get_lists_each_send_attempt_newest_first_and_the_undelivered_apart(client, deps, event, tmp_path):
    from trackscan.pipeline.deliveries import handling_attempt
    from trackscan.pipeline.step_policy import handle_dead_letter

    pipeline = make_deps(tmp_path / "home", webhook_allow_loopback=True, webhook_attempts_flush_s=0.0)
    with receiver() as (url, got):
        got.secrets.append(client.put("/v1/webhook", json={"url": url}, headers=ACME).json["secret"])
        got.status = 500
        with handling_attempt(1), pytest.raises(RetryableError):
            deliver.handle(event, pipeline)
        got.status = 200
        with handling_attempt(2):
            deliver.handle(event, pipeline)
        client.post("/v1/webhook:test", headers=ACME)
    old = replace(event, made_at="2020-01-01T00:00:00+00:00")  # past its retry age: not sent round again
    handle_dead_letter(old, "HTTP 500", pipeline, attempts=100)
    shown = client.get("/v1/webhook", headers=ACME).json
    assert not _schema_errors("Webhook", shown)
    outcomes = [(a["type"], a["attempt"], a["outcome"], a["status"]) for a in shown["attempts"]]
    assert outcomes == [
        ("track.done", 100, "undelivered", None),
        ("webhook.test", 1, "delivered", 200),
        ("track.done", 2, "delivered", 200),
        ("track.done", 1, "failed", 500),
    ]
    assert all(a["event_id"] == event.event_id for a in shown["attempts"] if a["type"] == "track.done")
    assert [(a["track_id"], a["error"]) for a in shown["undelivered"]] == [(event.track_id, "HTTP 500")]
    assert client.get("/v1/webhook", headers=BETA).status_code == 404  # beta sees none of acme's


def test_the_deliver_step_writes_its_attempts_in_one_batch_once_the_first_is_due(tmp_path, event):
    from trackscan.domain.webhooks import DELIVERED, WebhookAttempt
    from trackscan.pipeline.webhook_attempts import AttemptBatches

    registry = make_deps(tmp_path / "home").webhook_registry
    writes = []
    original = registry.add_attempts

    def counted(partner, attempts):
        original(partner, attempts)
        writes.append(len(attempts))

    registry.add_attempts = counted
    batches = AttemptBatches()
    for n in range(3):
        attempt = WebhookAttempt(f"2026-12-07T10:00:0{n}.000+00:00", "e", "track.done", "t", 1, DELIVERED, 200, 0.1)
        batches.add("acme", attempt, registry, flush_s=0.5)
    assert writes == []  # none due yet
    deadline = time.monotonic() + 10
    while not writes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writes == [3]
    assert [a.at[11:19] for a in registry.attempts("acme", 10)] == ["10:00:02", "10:00:01", "10:00:00"]
