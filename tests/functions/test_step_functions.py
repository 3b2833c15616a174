"""The step functions of functions/main.py with real CloudEvents: a real fake-gcs notification
starts a track, each function's published message is pushed to the next, and the error policy
shows in the HTTP status Pub/Sub sees (2xx acknowledges, anything else redelivers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.functions.conftest import (
    PARTNER,
    Taps,
    envelope,
    envelope_of,
    post_cloud_event,
    post_raw_push,
)
from trackscan.adapters.firestore_store import FirestoreTrackStore
from trackscan.adapters.gcs_blobs import GcsBlobStore
from trackscan.audio.descriptors import segment_descriptors
from trackscan.dev.layout import free_ports
from trackscan.domain.config import Config
from trackscan.domain.messages import FeaturesReady, SegmentPlanned, TrackInferred, UploadReceived, from_json, to_json
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackRecord, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.blob_codec import SegmentFeatures, encode_features
from trackscan.pipeline.steps import STEP_NAMES, topic_name

pytestmark = pytest.mark.integration  # the emulators, fake GCS and Triton of a dev stack

# 12 s in 5 s segments: two segments (the 2 s remainder joins the second), so infer must wait
# for both before it announces the track.
SONG_S = 12.0
SEGMENT_S = "5"


@pytest.fixture(scope="session")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("audio") / "song.ogg", music_like(SONG_S))


@pytest.fixture
def tracks(cloud_env: Config) -> FirestoreTrackStore:
    from google.cloud import firestore

    return FirestoreTrackStore(firestore.Client(project=cloud_env.project_id), cloud_env.tracks_collection)


@pytest.fixture
def blobs(cloud_env: Config) -> GcsBlobStore:
    from google.cloud import storage

    return GcsBlobStore(storage.Client(project=cloud_env.project_id))


def _of_track(track_id: str) -> Callable[[Any], bool]:
    return lambda message: message.attributes.get("track_id") == track_id


def _upload(config: Config, path: Path) -> tuple[str, str]:
    """Uploads a file as the test partner; returns its URI and generation."""
    from google.cloud import storage

    blob = storage.Client().bucket(config.ingest_bucket_name).blob(f"{PARTNER}/{uuid.uuid4().hex[:8]}.ogg")
    blob.upload_from_filename(str(path))
    return f"gs://{config.ingest_bucket_name}/{blob.name}", str(blob.generation)


def _state(tracks: FirestoreTrackStore, track_id: str) -> TrackRecord:
    record = tracks.get(track_id)
    assert record is not None, f"no track {track_id}"
    return record


def _deliver(client: Any, config: Config, taps: Taps, topic: str, message: Any) -> int:
    """Pushes a pulled message to a function as Eventarc would; returns the HTTP status."""
    response = post_cloud_event(client, config, topic, envelope_of(message, taps.subscription(topic)))
    return response.status_code


def test_step_functions_take_track_to_done_when_each_output_is_pushed_to_the_next(
    function_client,
    cloud_env: Config,
    taps: Taps,
    song: Path,
    tracks: FirestoreTrackStore,
    blobs: GcsBlobStore,
    monkeypatch: pytest.MonkeyPatch,
    needs_triton: None,
):
    monkeypatch.setenv("TRACKSCAN_SEGMENT_S", SEGMENT_S)
    config = Config.from_env()
    uri, generation = _upload(config, song)
    track_id = track_id_for(uri, generation)
    topics = {step: topic_name(config.topic_prefix, step) for step in STEP_NAMES}
    (notification,) = taps.pull(topics["ingest"], 1, lambda m: uri.endswith(m.attributes.get("objectId", "")))
    assert notification.attributes["eventType"] == "OBJECT_FINALIZE"

    # ingest: the raw push fake GCS's notification reaches the ingest function through the dev stack.
    upload_push = envelope_of(notification, taps.subscription(topics["ingest"]))
    assert post_raw_push(function_client("ingest"), config, topics["ingest"], upload_push).status_code == 200
    record = _state(tracks, track_id)
    assert (record.state, record.partner, record.segments_total) == (TrackState.EXTRACTING, PARTNER, 2)
    segments = taps.pull(topics["features"], 2, _of_track(track_id))
    planned = sorted((from_json(m.data) for m in segments), key=lambda s: s.segment_index)
    assert [(s.start_s, s.duration_s) for s in planned] == [(0.0, 5.0), (5.0, pytest.approx(7.0, abs=0.05))]
    assert all(s.source_uri == f"{uri}#{generation}" for s in planned)

    # features: one features blob and one features-ready message per segment.
    features = function_client("features")
    assert [_deliver(features, config, taps, topics["features"], m) for m in segments] == [200, 200]
    ready = taps.pull(topics["infer"], 2, _of_track(track_id))
    assert sorted(blobs.list_uris(f"gs://{config.work_bucket_name}/{track_id}/features/")) == sorted(
        from_json(m.data).features_uri for m in ready
    )
    assert _state(tracks, track_id).state is TrackState.EXTRACTING

    # infer: the first segment moves the track on; only the last announces it.
    infer = function_client("infer")
    assert _deliver(infer, config, taps, topics["infer"], ready[0]) == 200
    assert _state(tracks, track_id).state is TrackState.INFERRING
    assert taps.pull(topics["finalize"], 0, _of_track(track_id), timeout_s=5) == []
    assert _deliver(infer, config, taps, topics["infer"], ready[1]) == 200
    (inferred,) = taps.pull(topics["finalize"], 1, _of_track(track_id))
    assert from_json(inferred.data) == TrackInferred(track_id, 2)

    # finalize: the result is committed and the work blobs are gone.
    assert _deliver(function_client("finalize"), config, taps, topics["finalize"], inferred) == 200
    done = _state(tracks, track_id)
    assert done.state is TrackState.DONE and done.result is not None and done.error is None
    assert [e.state for e in done.timeline] == ["RECEIVED", "EXTRACTING", "INFERRING", "DONE"]
    assert (len(done.result.tags["mtt"]), len(done.result.tags["msd"]), len(done.result.embedding)) == (50, 50, 200)
    assert done.result.duration_s == pytest.approx(SONG_S, abs=0.05)
    assert blobs.list_uris(f"gs://{config.work_bucket_name}/{track_id}/") == []


MALFORMED = {
    "not a push": ("features", {"hello": "world"}),
    "data not JSON": ("features", envelope(b"\x00not json", {})),
    "unknown kind": ("infer", envelope(b'{"kind": "no-such-kind"}', {})),
    "unknown track": ("finalize", envelope(to_json(TrackInferred("t-unknown", 1)).encode(), {})),
    "notification without generation": (
        "ingest",
        envelope(
            b"{}", {"eventType": "OBJECT_FINALIZE", "bucketId": "trackscan-ingest", "objectId": f"{PARTNER}/a.ogg"}
        ),
    ),
    "dead letter of garbage": ("dead_letter", envelope(b"[1, 2]", {})),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_step_function_acknowledges_when_envelope_malformed(case: str, function_client, cloud_env: Config):
    target, body = MALFORMED[case]
    if "message" in body:
        response = post_raw_push(function_client(target), cloud_env, "some-topic", body)
    else:  # not a Pub/Sub push at all: only a binary CloudEvent can carry it
        headers = {
            "ce-id": "1",
            "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-specversion": "1.0",
        }
        response = function_client(target).post("/", json=body, headers=headers)
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)


def _decoding_track(tracks: FirestoreTrackStore, config: Config) -> TrackRecord:
    record = tracks.create_if_absent(
        new_record(f"gs://{config.ingest_bucket_name}/{PARTNER}/{uuid.uuid4().hex}.ogg", "1", PARTNER, "ingest")
    )
    moved = tracks.apply(record.track_id, Transition(TrackState.EXTRACTING, "ingest", segments_total=1))
    assert moved is not None
    return moved


def _features_blob() -> bytes:
    silence = np.zeros(3 * 16_000, np.float32)
    descriptors = segment_descriptors(silence[None, :], 16_000, silence)
    patches = np.zeros((1, 187, 96), np.float32)
    return encode_features(SegmentFeatures(patches=patches, descriptors=descriptors))


def test_infer_answers_non_2xx_and_records_the_attempt_when_triton_unreachable(
    function_client,
    cloud_env: Config,
    tracks: FirestoreTrackStore,
    blobs: GcsBlobStore,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TRITON_GRPC_URL", f"127.0.0.1:{free_ports(1)[0]}")
    record = _decoding_track(tracks, cloud_env)
    features_uri = f"gs://{cloud_env.work_bucket_name}/{record.track_id}/features/00000.npz"
    blobs.write_if_absent(features_uri, _features_blob())
    message = FeaturesReady(record.track_id, 0, 1, features_uri)
    body = envelope(to_json(message).encode(), {"kind": message.kind, "track_id": record.track_id})
    response = post_cloud_event(function_client("infer"), cloud_env, topic_name(cloud_env.topic_prefix, "infer"), body)
    assert not 200 <= response.status_code < 300
    # Not FAILED: the redelivery will try again. The record names the step in hand and why it failed.
    stuck = _state(tracks, record.track_id)
    assert stuck.state is TrackState.INFERRING and stuck.error is None
    assert stuck.last_failed_attempt is not None and stuck.last_failed_attempt.step == "infer"
    assert "Triton at 127.0.0.1" in stuck.last_failed_attempt.error
    assert blobs.list_uris(f"gs://{cloud_env.work_bucket_name}/{record.track_id}/predictions/") == []


def test_dead_letter_marks_track_failed_when_retries_exhausted(
    function_client, cloud_env: Config, tracks: FirestoreTrackStore, blobs: GcsBlobStore
):
    record = _decoding_track(tracks, cloud_env)
    work_prefix = f"gs://{cloud_env.work_bucket_name}/{record.track_id}/"
    blobs.write_if_absent(f"{work_prefix}features/00000.npz", _features_blob())
    message = SegmentPlanned(record.track_id, f"{record.source_uri}#1", 0, 1, 0.0, 3.0)
    source = f"projects/{cloud_env.project_id}/subscriptions/trackscan-features"
    # The attributes Pub/Sub adds to a message it forwards to a dead-letter topic.
    attributes = {
        "kind": message.kind,
        "track_id": record.track_id,
        "CloudPubSubDeadLetterSourceDeliveryCount": "10",
        "CloudPubSubDeadLetterSourceSubscription": source,
        "CloudPubSubDeadLetterSourceSubscriptionProject": cloud_env.project_id,
    }
    body = envelope(to_json(message).encode(), attributes)
    response = post_raw_push(function_client("dead_letter"), cloud_env, "trackscan-features-dead-letter", body)
    assert response.status_code == 200
    failed = _state(tracks, record.track_id)
    assert failed.state is TrackState.FAILED and failed.error is not None
    assert (failed.error.code, failed.error.step) == ("RETRIES_EXHAUSTED", "features")
    assert "10 times" in failed.error.message and source in failed.error.message
    assert failed.timeline[-1].attempt == 10
    assert blobs.list_uris(work_prefix) == []


def _stalled_record(tracks: FirestoreTrackStore, source_uri: str, generation: str) -> TrackRecord:
    """A EXTRACTING track last updated a year ago: its next message was lost."""
    old = "2025-11-26T00:00:00.000+00:00"
    record = replace(
        new_record(source_uri, generation, PARTNER, "ingest"),
        state=TrackState.EXTRACTING,
        created_at=old,
        updated_at=old,
    )
    return tracks.create_if_absent(record)


def test_reconcile_replays_a_stalled_track_and_fails_one_whose_source_is_gone(
    function_client,
    cloud_env: Config,
    tracks: FirestoreTrackStore,
    taps: Taps,
    song: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TRACKSCAN_RECONCILE_AFTER_S", "3600")  # leaves other tests' fresh records alone
    uri, generation = _upload(cloud_env, song)
    stalled = _stalled_record(tracks, uri, generation)
    gone = _stalled_record(tracks, f"gs://{cloud_env.ingest_bucket_name}/{PARTNER}/{uuid.uuid4().hex}.ogg", "7")

    response = function_client("reconcile").post("/")
    assert response.status_code == 200
    assert response.get_json()["replayed"] >= 1 and response.get_json()["source_gone"] >= 1
    (replayed,) = taps.pull(
        topic_name(cloud_env.topic_prefix, "ingest"),
        1,
        lambda m: m.attributes.get("kind") == UploadReceived.kind and from_json(m.data).source_uri == uri,
    )
    assert from_json(replayed.data) == UploadReceived(uri, generation, song.stat().st_size, PARTNER)
    assert _state(tracks, stalled.track_id).state is TrackState.EXTRACTING  # ingest moves it on, not reconcile
    failed = _state(tracks, gone.track_id)
    assert failed.state is TrackState.FAILED and failed.error is not None
    assert (failed.error.code, failed.error.step) == ("SOURCE_GONE", "reconcile")
