"""WebhookRegistry: partners' registered webhooks, on SQLite and on the Firestore emulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from trackscan.adapters.sqlite_webhooks import SqliteWebhookRegistry
from trackscan.domain.ports import WebhookRegistry
from trackscan.domain.webhooks import DELIVERED, UNDELIVERED, WebhookAttempt, WebhookRegistration

PROJECT = "trackscan-contracts"


@pytest.fixture(
    params=[pytest.param("sqlite", marks=pytest.mark.unit), pytest.param("firestore", marks=pytest.mark.emulator)]
)
def new_registry(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], WebhookRegistry]:
    """Opens another handle on the same registry, as another process would."""
    if request.param == "sqlite":
        path = str(tmp_path / "state.sqlite")
        return lambda: SqliteWebhookRegistry(path)
    from google.cloud import firestore

    from trackscan.adapters.firestore_webhooks import FirestoreWebhookRegistry

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", request.getfixturevalue("firestore_emulator"))
    collection = f"tracks-{uuid.uuid4().hex[:10]}"
    return lambda: FirestoreWebhookRegistry(firestore.Client(project=PROJECT), collection)


def test_a_registration_reads_back_as_saved_and_is_replaced_whole(new_registry):
    registry = new_registry()
    assert registry.webhook("acme") is None
    first = WebhookRegistration("acme", "https://acme.example/hook", 1, "2026-12-07T10:00:00.000+00:00")
    registry.save_webhook(first)
    rotated = replace(first, generation=2, rotated_at="2026-12-07T11:00:00.000+00:00", previous_until="2026-12-08")
    new_registry().save_webhook(rotated)
    assert new_registry().webhook("acme") == rotated
    assert registry.webhook("beta") is None


def test_deleting_says_whether_there_was_a_registration(new_registry):
    registry = new_registry()
    registry.save_webhook(WebhookRegistration("acme", "https://acme.example/hook", 1, "2026-12-07"))
    registry.save_webhook(WebhookRegistration("beta", "https://beta.example/hook", 3, "2026-12-07"))
    assert registry.delete_webhook("acme") is True
    assert registry.delete_webhook("acme") is False
    assert registry.webhook("acme") is None and new_registry().webhook("beta").generation == 3


def _attempt(second: int, outcome: str = DELIVERED, event_id: str = "e1") -> WebhookAttempt:
    at = f"2026-12-07T10:00:{second:02d}.000+00:00"
    return WebhookAttempt(at, event_id, "track.done", "t1", 1, outcome, 200, 0.1)


def test_attempts_read_back_newest_first_across_batches_and_partners_apart(new_registry):
    registry = new_registry()
    registry.add_attempts("acme", [_attempt(1), _attempt(3)])
    registry.add_attempts("acme", [_attempt(2, UNDELIVERED, "e2"), _attempt(4)])
    registry.add_attempts("beta", [_attempt(5)])
    registry.add_attempts("acme", [])  # nothing to keep: no write
    other = new_registry()
    assert [a.at[17:19] for a in other.attempts("acme", 10)] == ["04", "03", "02", "01"]
    assert [a.at[17:19] for a in other.attempts("acme", 2)] == ["04", "03"]
    assert [(a.event_id, a.outcome) for a in other.attempts("acme", 10, undelivered=True)] == [("e2", UNDELIVERED)]
    assert other.attempts("acme", 10)[0] == _attempt(4)  # every field as written
    assert [a.at[17:19] for a in other.attempts("beta", 10)] == ["05"]
    assert other.attempts("gamma", 10) == []
