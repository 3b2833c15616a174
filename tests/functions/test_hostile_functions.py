"""Hostile input through the functions of functions/main.py on the dev stack: object names with URI
syntax from a real fake-gcs notification to decoded features, a forced upload published by someone
else, and a large file uploaded through the resumable session the API opened."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.functions.conftest import API_KEY, PARTNER, Taps, envelope, envelope_of, post_cloud_event, post_raw_push
from trackscan.adapters.firestore_store import FirestoreTrackStore
from trackscan.domain.config import Config
from trackscan.domain.messages import SegmentPlanned, UploadReceived, from_json, split_pinned_uri, to_json
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import ErrorInfo, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.steps import topic_name

pytestmark = pytest.mark.integration  # the emulators and fake GCS of a dev stack

# The 1,024-byte name is GCS's longest: "fn-partner/" and 1,013 bytes.
ODD_NAMES = [
    "take #1.ogg",
    "what?.ogg",
    "100% live.ogg",
    "Sigur Rós – Hoppípolla 🎧.ogg",
    "mix.ogg#17",
    "é" * 504 + "x.ogg",
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_audio(tmp_path_factory.mktemp("audio") / "clip.ogg", music_like(3.0)).read_bytes()


@pytest.fixture
def tracks(cloud_env: Config) -> FirestoreTrackStore:
    from google.cloud import firestore

    return FirestoreTrackStore(firestore.Client(project=cloud_env.project_id), cloud_env.tracks_collection)


def _of_track(track_id: str) -> Callable[[Any], bool]:
    return lambda message: message.attributes.get("track_id") == track_id


def _object_name(name: str) -> str:
    # In a folder of its own, but the long name: exactly 1,024 bytes (each stack starts empty).
    return f"{PARTNER}/{name}" if len(name.encode()) > 900 else f"{PARTNER}/{uuid.uuid4().hex[:8]}/{name}"


@pytest.mark.parametrize("name", ODD_NAMES, ids=[*ODD_NAMES[:-1], "1024-bytes"])
def test_ingest_and_features_read_the_pinned_object_when_its_name_holds_uri_syntax(
    name: str, function_client, cloud_env: Config, taps: Taps, tracks: FirestoreTrackStore, clip: bytes
):
    from google.cloud import storage

    blob = storage.Client().bucket(cloud_env.ingest_bucket_name).blob(_object_name(name))
    assert len(name.encode()) < 900 or len(blob.name.encode()) == 1024
    blob.upload_from_string(clip)
    uri, generation = f"gs://{cloud_env.ingest_bucket_name}/{blob.name}", str(blob.generation)
    topics = {step: topic_name(cloud_env.topic_prefix, step) for step in ("ingest", "features", "infer")}
    (notification,) = taps.pull(topics["ingest"], 1, lambda m: m.attributes.get("objectId") == blob.name)

    delivery = envelope_of(notification, taps.subscription(topics["ingest"]))
    assert post_raw_push(function_client("ingest"), cloud_env, topics["ingest"], delivery).status_code == 200
    track_id = track_id_for(uri, generation)
    record = tracks.get(track_id)
    assert record is not None and (record.source_uri, record.state) == (uri, TrackState.EXTRACTING)
    (planned,) = taps.pull(topics["features"], 1, _of_track(track_id))
    segment = from_json(planned.data)
    assert isinstance(segment, SegmentPlanned)
    assert split_pinned_uri(segment.source_uri) == (uri, generation)

    features = post_cloud_event(
        function_client("features"),
        cloud_env,
        topics["features"],
        envelope_of(planned, taps.subscription(topics["features"])),
    )
    assert features.status_code == 200, features.get_data(as_text=True)
    (ready,) = taps.pull(topics["infer"], 1, _of_track(track_id))
    assert from_json(ready.data).track_id == track_id
    assert tracks.get(track_id).error is None


def test_ingest_refuses_and_records_a_forced_upload_when_someone_publishes_one(
    function_client, cloud_env: Config, taps: Taps, tracks: FirestoreTrackStore, clip: bytes
):
    from google.cloud import firestore, storage
    from google.cloud.firestore_v1.base_query import FieldFilter

    blob = storage.Client().bucket(cloud_env.ingest_bucket_name).blob(f"{PARTNER}/{uuid.uuid4().hex[:8]}.ogg")
    blob.upload_from_string(clip)
    uri, generation = f"gs://{cloud_env.ingest_bucket_name}/{blob.name}", str(blob.generation)
    record = tracks.create_if_absent(new_record(uri, generation, PARTNER, "ingest"))
    failed = tracks.apply(
        record.track_id, Transition(TrackState.FAILED, "ingest", error=ErrorInfo("CORRUPT", "Not audio.", "ingest"))
    )
    forced = UploadReceived(uri, generation, len(clip), PARTNER, force=True)
    message_id = uuid.uuid4().hex[:16]
    body = envelope(to_json(forced).encode(), {"kind": forced.kind}, message_id=message_id)
    topic = topic_name(cloud_env.topic_prefix, "ingest")
    response = post_cloud_event(function_client("ingest"), cloud_env, topic, body)

    assert response.status_code == 200  # acknowledged: redelivering it would never help
    assert tracks.get(record.track_id) == failed  # not restarted, its work not deleted
    assert taps.pull(topic_name(cloud_env.topic_prefix, "features"), 0, _of_track(record.track_id), timeout_s=4) == []
    rejected = firestore.Client(project=cloud_env.project_id).collection(f"{cloud_env.tracks_collection}-rejected")
    kept = [d.to_dict() for d in rejected.where(filter=FieldFilter("message_id", "==", message_id)).stream()]
    assert len(kept) == 1 and "force is refused" in kept[0]["reason"]


def test_api_upload_session_takes_a_file_into_the_partner_prefix_and_ingest_picks_it_up(
    function_client, cloud_env: Config, taps: Taps, tracks: FirestoreTrackStore, clip: bytes
):
    import requests

    client = function_client("api")
    filename = f"sessions/{uuid.uuid4().hex[:8]} take #1.ogg"
    wanted = {"filename": filename, "size_bytes": len(clip), "content_type": "audio/ogg"}
    started = client.post("/v1/uploads", json=wanted, headers={"X-API-Key": API_KEY})
    assert started.status_code == 201, started.get_data(as_text=True)
    uri = f"gs://{cloud_env.ingest_bucket_name}/{PARTNER}/{filename}"
    assert started.get_json()["source_uri"] == uri

    # The partner needs no credentials for the upload itself: the session URL is the credential.
    put = requests.put(started.get_json()["upload_url"], data=clip, headers={"Content-Type": "audio/ogg"}, timeout=30)
    assert put.status_code in (200, 201), put.text
    topic = topic_name(cloud_env.topic_prefix, "ingest")
    (notification,) = taps.pull(topic, 1, lambda m: m.attributes.get("objectId") == f"{PARTNER}/{filename}")
    assert (
        post_raw_push(
            function_client("ingest"), cloud_env, topic, envelope_of(notification, taps.subscription(topic))
        ).status_code
        == 200
    )

    listed = client.get(started.get_json()["tracks_url"], headers={"X-API-Key": API_KEY}).get_json()
    (track,) = listed["tracks"]
    assert (track["source_uri"], track["partner"], track["state"]) == (uri, PARTNER, "EXTRACTING")
    assert track["track_id"] == track_id_for(uri, notification.attributes["objectGeneration"])
    again = client.post("/v1/uploads", json=wanted, headers={"X-API-Key": API_KEY})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "ALREADY_EXISTS"
