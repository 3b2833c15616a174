"""The `api` HTTP function of functions/main.py through functions-framework: the public API
description, and an authenticated submit that records the track and asks ingest for it."""

from __future__ import annotations

import uuid

import pytest
import yaml

from tests.functions.conftest import API_KEY, PARTNER, Taps
from trackscan.adapters.firestore_store import FirestoreTrackStore
from trackscan.domain.config import Config
from trackscan.domain.messages import UploadReceived, from_json
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState
from trackscan.pipeline.steps import topic_name

pytestmark = pytest.mark.integration  # the emulators, fake GCS and Triton of a dev stack


@pytest.fixture
def tracks(cloud_env: Config) -> FirestoreTrackStore:
    from google.cloud import firestore

    return FirestoreTrackStore(firestore.Client(project=cloud_env.project_id), cloud_env.tracks_collection)


@pytest.fixture
def partner_object(cloud_env: Config) -> tuple[str, str, int]:
    """An object in the test partner's ingest prefix: its URI, generation and size."""
    from google.cloud import storage

    blob = storage.Client().bucket(cloud_env.ingest_bucket_name).blob(f"{PARTNER}/{uuid.uuid4().hex[:8]}.ogg")
    blob.upload_from_string(b"OggS" + bytes(2044))
    return f"gs://{cloud_env.ingest_bucket_name}/{blob.name}", str(blob.generation), 2048


def test_api_serves_openapi_yaml_when_called_without_credentials(function_client):
    response = function_client("api").get("/openapi.yaml")
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    description = yaml.safe_load(response.get_data(as_text=True))
    assert description["openapi"].startswith("3.")
    assert {"/v1/tracks", "/v1/tracks/{track_id}"} <= set(description["paths"])


def test_api_records_track_and_publishes_upload_when_submit_authenticated(
    function_client, cloud_env: Config, taps: Taps, tracks: FirestoreTrackStore, partner_object: tuple[str, str, int]
):
    uri, generation, size = partner_object
    client = function_client("api")
    response = client.post("/v1/tracks", json={"source_uri": uri}, headers={"X-API-Key": API_KEY})
    assert response.status_code == 202, response.get_data(as_text=True)
    track_id = track_id_for(uri, generation)
    assert response.get_json() == {"track_id": track_id, "state": "RECEIVED"}
    assert response.headers["Location"] == f"/v1/tracks/{track_id}"
    record = tracks.get(track_id)
    assert record is not None
    assert (record.state, record.partner, record.source_uri) == (TrackState.RECEIVED, PARTNER, uri)
    (submitted,) = taps.pull(
        topic_name(cloud_env.topic_prefix, "ingest"), 1, lambda m: m.attributes.get("kind") == UploadReceived.kind
    )
    assert from_json(submitted.data) == UploadReceived(uri, generation, size, PARTNER)
    shown = client.get(f"/v1/tracks/{track_id}", headers={"X-API-Key": API_KEY})
    assert shown.status_code == 200 and shown.get_json()["partner"] == PARTNER


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-the-key"}], ids=["no key", "wrong key"])
def test_api_refuses_submit_when_api_key_missing_or_wrong(
    headers: dict[str, str], function_client, tracks: FirestoreTrackStore, partner_object: tuple[str, str, int]
):
    uri, generation, _ = partner_object
    response = function_client("api").post("/v1/tracks", json={"source_uri": uri}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHENTICATED"
    assert tracks.get(track_id_for(uri, generation)) is None
