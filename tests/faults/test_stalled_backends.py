"""Every backend a step calls, stalled: the real client against a port that accepts connections
and never answers (a black hole, as a frozen route or a hung server looks from the client). Each
call, its retries included, ends by the step's deadline with a RetryableError, where the
clients' own limits are 10 s (Pub/Sub), 3 x 8 s (Triton) and 60 s or more (GCS, Firestore); a
partner's webhook that never answers too. The decoder child's stall is in
tests/unit/test_sandbox.py; the stack-wide test, where tracks finish once a stall ends, in
test_emulator_stalls.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from trackscan.domain.config import Config
from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import TrackInferred
from trackscan.domain.step_deadline import step_deadline
from trackscan.domain.tracks import TrackState
from trackscan.domain.transitions import Transition

pytestmark = pytest.mark.faults
BUDGET_S = 2.0
# Scheduling and the clients' own threads on a busy 2-core machine; far below every client's own limit.
SLACK_S = 3.0


@pytest.fixture
def black_hole() -> Iterator[str]:
    """host:port of a listener that accepts every connection and never reads nor writes."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return  # closed

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in held:
        connection.close()


def _gcs_stat(address: str) -> None:
    import google.cloud.storage as storage
    from google.auth.credentials import AnonymousCredentials

    from trackscan.adapters.gcs_blobs import GcsBlobStore

    client = storage.Client(
        project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": f"http://{address}"}
    )
    GcsBlobStore(client).stat("gs://ingest/song.flac")


def _firestore_apply(address: str) -> None:
    from google.cloud import firestore

    from trackscan.adapters.firestore_store import FirestoreTrackStore

    store = FirestoreTrackStore(firestore.Client(project="p"), "tracks")
    store.apply("t1", Transition(TrackState.EXTRACTING, "features"))


def _pubsub_publish(address: str) -> None:
    import google.cloud.pubsub_v1 as pubsub_v1

    from trackscan.adapters.pubsub_publisher import PubSubPublisher

    PubSubPublisher(pubsub_v1.PublisherClient(), Config()).publish(TrackInferred("t1", 1))


def _triton_predict(address: str) -> None:
    from trackscan.adapters.triton_tagger import TritonTagger

    TritonTagger(address, "musicnn", 8.0, "ab" * 32).predict(np.zeros((1, 187, 96), np.float32))


@pytest.mark.parametrize(
    "call",
    [_gcs_stat, _firestore_apply, _pubsub_publish, _triton_predict],
    ids=["gcs", "firestore", "pubsub", "triton"],
)
def test_a_call_to_a_stalled_backend_ends_by_the_step_s_deadline_with_a_retryable_error(
    call: Callable[[str], None], black_hole: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", black_hole)  # the emulator hosts: no credentials
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", black_hole)
    started = time.monotonic()
    with step_deadline(BUDGET_S), pytest.raises(RetryableError):
        call(black_hole)
    assert time.monotonic() - started < BUDGET_S + SLACK_S


def test_a_webhook_send_to_a_receiver_that_never_answers_ends_by_the_step_s_deadline(black_hole: str):
    from trackscan.adapters.webhook_sender import SafeWebhookSender

    sender = SafeWebhookSender(allow_loopback=True, timeout_s=30.0)  # its own limit far past the deadline
    started = time.monotonic()
    with step_deadline(BUDGET_S), pytest.raises(TimeoutError):
        sender.post(f"http://{black_hole}/hook", b"{}", {})
    assert time.monotonic() - started < BUDGET_S + SLACK_S
