"""The partner API through Flask's test client, over the local adapters.

gs:// objects live in DictBlobStore, a BlobStore double with GCS-like generations; tracks are in
the real SQLite store. One test serves the API over the local folder adapter and runs the real
pipeline on what it published. Google ID tokens are real JWTs signed by a throw-away key whose
certificate a fake transport serves, so the verifier runs google-auth's checks without network.
"""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import yaml

from tests.api_fixtures import ACME, BUCKET, OPENAPI, api_deps
from tests.api_fixtures import assert_error as _assert_error
from tests.api_fixtures import schema_errors as _schema_errors
from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import make_deps, run_to_completion
from trackscan.api import create_app
from trackscan.api.google_identity import google_id_token_verifier
from trackscan.cli.output import track_json
from trackscan.domain.audio_features import audio_features
from trackscan.domain.errors import RetryableError
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import UploadReceived
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import ErrorInfo, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.deps import features_uri, store_ports

AUDIENCE = "https://api.trackscan.test"
ACME_EMAIL = "uploader@acme.iam.gserviceaccount.com"
RESULT_FIELDS = (
    "tags",
    "top_tags",
    "tempo_bpm",
    "key",
    "loudness_lufs",
    "duration_s",
    "embedding",
    "tempo_confidence",
    "time_signature",
    "key_confidence",
    "loudness_range_lu",
    "true_peak_dbtp",
)


class BrokenTrackStore:
    """Wraps a store so that every read of a record or a list raises the given exception."""

    def __init__(self, inner, error: Exception) -> None:
        self._inner, self._error = inner, error

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def get(self, track_id):
        raise self._error

    def query(self, *args):
        raise self._error


@pytest.fixture
def deps(tmp_path):
    return api_deps(tmp_path, partner_identities=f"{ACME_EMAIL}=acme")


@pytest.fixture
def client(deps):
    return create_app(deps).test_client()


def _uri(partner: str, name: str) -> str:
    return f"gs://{BUCKET}/{partner}/{name}"


def _submit(client, uri: str, headers=ACME):
    return client.post("/v1/tracks", json={"source_uri": uri}, headers=headers)


def _track(deps, partner: str, name: str, state: TrackState = TrackState.FAILED):
    """A stored track of a stored object, moved to ``state`` by the pipeline's own transitions."""
    uri = deps.blobs.put(_uri(partner, name))
    record = deps.tracks.create_if_absent(new_record(uri, deps.blobs.stat(uri).generation, partner, "ingest"))
    if state is TrackState.FAILED:
        error = ErrorInfo("CORRUPT", "The file is not audio.", "ingest")
        return deps.tracks.apply(record.track_id, Transition(state, "ingest", error=error))
    result = TrackResult(
        {"mtt": {"guitar": 0.9}, "msd": {"rock": 0.8}},
        ["guitar", "rock"],
        120.0,
        "C major",
        -14.2,
        25.0,
        [0.1, 0.2],
        tempo_confidence=0.8,
        time_signature=4,
        key_confidence=0.7,
        loudness_range_lu=6.5,
        true_peak_dbtp=-0.8,
    )
    return deps.tracks.apply(
        record.track_id, Transition(state, "finalize", result=result, model=ModelInfo("musicnn", "ab" * 32))
    )


def _result_of(track: dict) -> dict:
    """The result fields of an API track or a `trackscan run --json` object."""
    result = track.get("result", track)
    return {name: result[name] for name in RESULT_FIELDS}


def test_submit_accepts_and_publishes_the_upload_when_the_object_is_under_the_partner_prefix(client, deps):
    uri = deps.blobs.put(_uri("acme", "album/01.flac"))
    response = _submit(client, uri)
    info = deps.blobs.stat(uri)
    assert response.status_code == 202 and not _schema_errors("Accepted", response.json)
    assert response.json == {"track_id": track_id_for(uri, info.generation), "state": "RECEIVED"}
    assert response.headers["Location"] == f"/v1/tracks/{response.json['track_id']}"
    assert deps.publisher.messages == [UploadReceived(uri, info.generation, info.size_bytes, "acme")]
    assert deps.tracks.get(response.json["track_id"]).partner == "acme"


def test_submit_returns_the_same_track_id_when_the_same_generation_is_submitted_twice(client, deps):
    uri = deps.blobs.put(_uri("acme", "song.flac"))
    first, second = _submit(client, uri), _submit(client, uri)
    assert first.json["track_id"] == second.json["track_id"]
    assert len(deps.queries.query("acme", None, 10, None)) == 1


def test_submit_returns_a_new_track_id_when_the_object_was_overwritten(client, deps):
    uri = deps.blobs.put(_uri("acme", "song.flac"))
    first = _submit(client, uri)
    deps.blobs.put(uri, b"new take")
    assert _submit(client, uri).json["track_id"] != first.json["track_id"]


@pytest.mark.parametrize(
    "uri", [_uri("beta", "song.flac"), "gs://other-bucket/acme/song.flac", f"gs://{BUCKET}/acme-evil/song.flac"]
)
def test_submit_answers_403_when_the_uri_is_outside_the_partner_prefix(client, deps, uri):
    deps.blobs.put(uri)
    _assert_error(_submit(client, uri), 403, "PERMISSION_DENIED")
    assert deps.publisher.messages == [] and deps.queries.query(None, None, 10, None) == []


def test_submit_answers_404_when_the_object_does_not_exist(client):
    _assert_error(_submit(client, _uri("acme", "missing.flac")), 404, "NOT_FOUND")


def test_submit_stores_and_submits_the_body_when_audio_is_uploaded(client, deps):
    response = client.post(
        "/v1/tracks?filename=take-1.flac", data=b"fLaC" + b"\1" * 200, headers={**ACME, "Content-Type": "audio/flac"}
    )
    uri = _uri("acme", "take-1.flac")
    assert response.status_code == 202
    assert deps.blobs.objects[uri][0] == b"fLaC" + b"\1" * 200
    assert response.json["track_id"] == track_id_for(uri, deps.blobs.stat(uri).generation)
    assert [m.source_uri for m in deps.publisher.messages] == [uri]


def test_submit_answers_409_when_the_upload_filename_is_taken(client, deps):
    deps.blobs.put(_uri("acme", "take-1.flac"), b"first")
    response = client.post(
        "/v1/tracks?filename=take-1.flac", data=b"second", headers={**ACME, "Content-Type": "application/octet-stream"}
    )
    _assert_error(response, 409, "ALREADY_EXISTS")
    assert deps.blobs.objects[_uri("acme", "take-1.flac")][0] == b"first"


def test_submit_answers_413_when_the_upload_exceeds_max_file_bytes(client, deps):
    response = client.post(
        "/v1/tracks?filename=big.wav", data=b"\0" * 5000, headers={**ACME, "Content-Type": "audio/wav"}
    )
    _assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert deps.blobs.objects == {}


def test_submit_answers_413_when_a_chunked_upload_exceeds_max_file_bytes(client, deps):
    # No Content-Length: werkzeug can only stop reading at its limit, which must not truncate.
    response = client.post(
        "/v1/tracks?filename=big.wav",
        input_stream=io.BytesIO(b"\0" * 5000),
        headers={**ACME, "Content-Type": "audio/wav", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    _assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert deps.blobs.objects == {}


@pytest.mark.parametrize("size_bytes", [4095, 4096])
def test_submit_accepts_the_upload_when_it_is_within_max_file_bytes(client, deps, size_bytes):
    response = client.post(
        "/v1/tracks?filename=fits.wav", data=b"\1" * size_bytes, headers={**ACME, "Content-Type": "audio/wav"}
    )
    assert response.status_code == 202
    assert len(deps.blobs.objects[_uri("acme", "fits.wav")][0]) == size_bytes


def test_submit_answers_413_when_the_named_object_exceeds_max_file_bytes(client, deps):
    uri = deps.blobs.put(_uri("acme", "big.wav"), b"\0" * 5000)
    _assert_error(_submit(client, uri), 413, "PAYLOAD_TOO_LARGE")
    assert deps.queries.query(None, None, 10, None) == []


def test_get_returns_the_record_with_the_run_json_result_shapes_when_the_track_is_the_partners(client, deps):
    record = _track(deps, "acme", "song.flac", TrackState.DONE)
    body = client.get(f"/v1/tracks/{record.track_id}", headers=ACME).json
    assert not _schema_errors("Track", body)
    assert (body["track_id"], body["partner"], body["state"]) == (record.track_id, "acme", "DONE")
    assert [e["state"] for e in body["timeline"]] == ["RECEIVED", "DONE"]
    expected = track_json(record)
    assert _result_of(body) == _result_of(expected)
    assert body["model"] == expected["model"]


def test_get_audio_features_returns_our_features_when_the_track_is_done(client, deps):
    record = _track(deps, "acme", "song.flac", TrackState.DONE)
    response = client.get(f"/v1/tracks/{record.track_id}/audio-features", headers=ACME)
    assert response.status_code == 200 and not _schema_errors("AudioFeatures", response.json)
    assert response.json == asdict(audio_features(record))
    assert (response.json["key"], response.json["mode"], response.json["tempo"]) == (0, 1, 120.0)


def test_get_audio_features_answers_409_when_the_track_has_no_result(client, deps):
    record = _track(deps, "acme", "broken.flac", TrackState.FAILED)
    _assert_error(client.get(f"/v1/tracks/{record.track_id}/audio-features", headers=ACME), 409, "FAILED_PRECONDITION")


def test_get_audio_features_answers_404_when_the_track_belongs_to_another_partner(client, deps):
    record = _track(deps, "beta", "song.flac", TrackState.DONE)
    _assert_error(client.get(f"/v1/tracks/{record.track_id}/audio-features", headers=ACME), 404, "NOT_FOUND")


def test_get_answers_404_when_the_track_belongs_to_another_partner(client, deps):
    record = _track(deps, "beta", "song.flac")
    _assert_error(client.get(f"/v1/tracks/{record.track_id}", headers=ACME), 404, "NOT_FOUND")
    _assert_error(client.get(f"/v1/tracks/t{'0' * 24}", headers=ACME), 404, "NOT_FOUND")


def test_list_pages_through_failed_tracks_newest_first_when_pages_are_smaller_than_the_list(client, deps):
    failed = []
    for index in range(5):
        failed.append(_track(deps, "acme", f"bad-{index}.flac").track_id)
        _track(deps, "acme", f"good-{index}.flac", TrackState.DONE)
        _track(deps, "beta", f"bad-{index}.flac")
        time.sleep(0.002)  # distinct updated_at, so "newest first" has one answer
    seen, token, pages = [], None, 0
    while True:
        query = "state=FAILED&page_size=2" + (f"&page_token={token}" if token else "")
        body = client.get(f"/v1/tracks?{query}", headers=ACME).json
        assert not _schema_errors("TrackList", body)
        seen += [track["track_id"] for track in body["tracks"]]
        token, pages = body["next_page_token"], pages + 1
        if token is None:
            break
    assert seen == failed[::-1] and pages == 3


def test_list_filters_by_source_uri_or_file_name_within_the_partner_when_source_given(client, deps):
    mine = _track(deps, "acme", "album/01.flac")
    _track(deps, "acme", "album/02.flac")
    theirs = _track(deps, "beta", "album/01.flac")
    by_uri = client.get(f"/v1/tracks?source={mine.source_uri}", headers=ACME).json
    by_name = client.get("/v1/tracks?source=01.flac", headers=ACME).json
    assert not _schema_errors("TrackList", by_name)
    assert [t["track_id"] for t in by_uri["tracks"]] == [mine.track_id] == [t["track_id"] for t in by_name["tracks"]]
    assert by_name["next_page_token"] is None
    assert client.get(f"/v1/tracks?source={theirs.source_uri}", headers=ACME).json["tracks"] == []


def test_list_answers_400_when_the_page_token_is_another_partners_track(client, deps):
    foreign = _track(deps, "beta", "song.flac")
    _assert_error(client.get(f"/v1/tracks?page_token={foreign.track_id}", headers=ACME), 400)


def test_retry_restarts_and_republishes_the_track_when_it_failed(client, deps):
    record = _track(deps, "acme", "song.flac")
    deps.blobs.put(features_uri(deps, record.track_id, 0))
    response = client.post(f"/v1/tracks/{record.track_id}:retry", headers=ACME)
    assert response.status_code == 202 and response.json["state"] == "RECEIVED"
    stored = deps.tracks.get(record.track_id)
    assert stored.error is None and stored.timeline[-1].step == "retry"
    assert deps.blobs.stat(features_uri(deps, record.track_id, 0)) is None
    info = deps.blobs.stat(record.source_uri)
    expected = UploadReceived(record.source_uri, record.generation, info.size_bytes, "acme")
    assert deps.publisher.messages == [expected]


def test_retry_publishes_again_when_repeated_before_the_pipeline_resumed(client, deps):
    record = _track(deps, "acme", "song.flac")
    for _ in range(2):
        assert client.post(f"/v1/tracks/{record.track_id}:retry", headers=ACME).status_code == 202
    assert len(deps.publisher.messages) == 2
    assert [e.step for e in deps.tracks.get(record.track_id).timeline].count("retry") == 1


def test_retry_answers_409_when_the_track_is_done(client, deps):
    record = _track(deps, "acme", "song.flac", TrackState.DONE)
    response = client.post(f"/v1/tracks/{record.track_id}:retry", headers=ACME)
    _assert_error(response, 409, "FAILED_PRECONDITION")
    assert deps.publisher.messages == []


def test_retry_answers_409_when_the_object_was_overwritten_since(client, deps):
    record = _track(deps, "acme", "song.flac")
    deps.blobs.put(record.source_uri, b"new take")
    response = client.post(f"/v1/tracks/{record.track_id}:retry", headers=ACME)
    _assert_error(response, 409, "FAILED_PRECONDITION")


def test_retry_answers_404_when_the_track_belongs_to_another_partner(client, deps):
    record = _track(deps, "beta", "song.flac")
    _assert_error(client.post(f"/v1/tracks/{record.track_id}:retry", headers=ACME), 404, "NOT_FOUND")
    assert deps.tracks.get(record.track_id).state is TrackState.FAILED


def test_redeliver_publishes_the_tracks_latest_event_again_with_its_id_when_final(client, deps):
    done, failed = _track(deps, "acme", "a.flac", TrackState.DONE), _track(deps, "acme", "b.flac")
    for record, kind in ((done, "track.done"), (failed, "track.failed"), (done, "track.done")):
        response = client.post(f"/v1/tracks/{record.track_id}:redeliver", headers=ACME)
        assert response.status_code == 202 and not _schema_errors("Redelivered", response.json)
        assert response.json["type"] == kind and response.json["track_id"] == record.track_id
    first, second, again = deps.publisher.messages
    assert (first.track_id, first.type, first.tags) == (
        done.track_id,
        "track.done",
        [{"tag": "mtt.guitar", "score": 0.9}, {"tag": "msd.rock", "score": 0.8}],
    )
    assert second.error_code == "CORRUPT" and again == first  # one event id per state change


def test_redeliver_names_a_backfills_new_result_retagged_when_it_replaced_the_old(client, deps):
    record = _track(deps, "acme", "a.flac", TrackState.DONE)
    newer = Transition(
        TrackState.DONE, "backfill", result=record.result, model=ModelInfo("musicnn", "cd" * 32), supersede=True
    )
    deps.tracks.apply(record.track_id, newer)
    response = client.post(f"/v1/tracks/{record.track_id}:redeliver", headers=ACME)
    assert response.json["type"] == "track.retagged" and deps.publisher.messages[0].model_sha256 == "cd" * 32


def test_redeliver_answers_409_until_the_track_is_final_and_404_for_another_partners(client, deps):
    uri = deps.blobs.put(_uri("acme", "c.flac"))
    running = deps.tracks.create_if_absent(new_record(uri, deps.blobs.stat(uri).generation, "acme", "ingest"))
    _assert_error(client.post(f"/v1/tracks/{running.track_id}:redeliver", headers=ACME), 409, "FAILED_PRECONDITION")
    theirs = _track(deps, "beta", "song.flac", TrackState.DONE)
    _assert_error(client.post(f"/v1/tracks/{theirs.track_id}:redeliver", headers=ACME), 404, "NOT_FOUND")
    assert deps.publisher.messages == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": ""},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWNtZTprZXk="},
        {"Authorization": "Bearer a.b.c"},
    ],
)
def test_api_answers_401_when_credentials_are_missing_or_invalid(client, headers):
    response = client.get("/v1/tracks", headers=headers)
    _assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_answers_400_json_when_the_body_is_malformed_json(client):
    headers = {**ACME, "Content-Type": "application/json"}
    response = client.post("/v1/tracks", data=b'{"source_uri": ', headers=headers)
    _assert_error(response, 400, "INVALID_ARGUMENT")


def test_api_answers_404_json_when_the_route_is_unknown(client):
    _assert_error(client.get("/v2/nothing", headers=ACME), 404, "NOT_FOUND")


def test_api_answers_405_json_with_allow_when_the_method_is_not_supported(client):
    response = client.delete("/v1/tracks", headers=ACME)
    _assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


BAD_REQUESTS = [
    ("post", "/v1/tracks", {"json": {}}),
    ("post", "/v1/tracks", {"json": []}),
    ("post", "/v1/tracks", {"json": None}),
    ("post", "/v1/tracks", {"json": {"source_uri": 42}}),
    ("post", "/v1/tracks", {"json": {"source_uri": _uri("acme", "a.flac"), "force": True}}),
    ("post", "/v1/tracks", {"json": {"source_uri": "/etc/passwd"}}),
    ("post", "/v1/tracks", {"json": {"source_uri": _uri("acme", "../beta/a.flac")}}),
    ("post", "/v1/tracks", {"json": {"source_uri": _uri("acme", "")}}),
    ("post", "/v1/tracks", {"json": {"source_uri": _uri("acme", "a\ud800.flac")}}),
    ("post", "/v1/tracks", {"json": {"source_uri": _uri("acme", "a" * 2000)}}),
    ("post", "/v1/tracks", {"data": b"\xff\xfe", "content_type": "application/json"}),
    ("post", "/v1/tracks", {"data": b"x", "content_type": "text/plain"}),
    ("post", "/v1/tracks", {"data": b"x"}),
    ("post", "/v1/tracks", {"data": b"x", "content_type": "audio/flac"}),
    ("post", "/v1/tracks?filename=../x.flac", {"data": b"x", "content_type": "audio/flac"}),
    ("post", "/v1/tracks?filename=a.flac", {"data": b"", "content_type": "audio/flac"}),
    ("get", "/v1/tracks?state=BOGUS", {}),
    ("get", "/v1/tracks?page_size=0", {}),
    ("get", "/v1/tracks?page_size=%C2%B2", {}),
    ("get", "/v1/tracks?page_size=100000", {}),
    ("get", "/v1/tracks?page_token=%00", {}),
    ("get", "/v1/tracks?limit=5", {}),
    ("get", "/v1/tracks/%00", {}),
    ("get", f"/v1/tracks/{'x' * 5000}", {}),
    ("post", "/v1/tracks/nope:retry", {}),
    ("get", "/v1/tracks/nope:retry", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), BAD_REQUESTS)
def test_api_answers_4xx_json_and_never_500_when_the_input_is_bad(client, method, path, kwargs):
    response = getattr(client, method)(path, headers=ACME, **kwargs)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    _assert_error(response, response.status_code)


def test_api_answers_503_with_retry_after_when_a_backing_service_is_briefly_unavailable(deps):
    broken = replace(deps, **store_ports(BrokenTrackStore(deps.tracks, RetryableError("firestore 503"))))
    response = create_app(broken).test_client().get("/v1/tracks", headers=ACME)
    _assert_error(response, 503, "UNAVAILABLE")
    assert int(response.headers["Retry-After"]) > 0


def test_api_answers_500_json_when_an_unexpected_error_occurs(deps):
    broken = replace(deps, **store_ports(BrokenTrackStore(deps.tracks, RuntimeError("bug"))))
    _assert_error(create_app(broken).test_client().get("/v1/tracks", headers=ACME), 500, "INTERNAL")


def test_create_app_fails_at_start_when_the_api_keys_are_malformed(deps):
    with pytest.raises(ValueError):
        create_app(replace(deps, config=replace(deps.config, api_keys="acme-without-key")))


def _self_signed(common_name: str):
    """A new RSA key and the PEM of a self-signed certificate for it, valid around now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number())
    cert = builder.not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def google_signer():
    """A throw-away key playing Google's signer, and the certificate map its endpoint would serve."""
    from google.auth import crypt

    key_pem, cert_pem = _self_signed("test-google-signer")
    return crypt.RSASigner.from_string(key_pem, key_id="k1"), {"k1": cert_pem}


def _id_token(signer, **changes) -> str:
    from google.auth import jwt

    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "sub": "1234",
        "email": ACME_EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        **changes,
    }
    return jwt.encode(signer, claims).decode()


def _google_client(deps, certs, status: int = 200):
    def certs_endpoint(url, method="GET", **kwargs):
        return SimpleNamespace(status=status, data=json.dumps(certs).encode(), headers={})

    return create_app(deps, verifier=google_id_token_verifier(AUDIENCE, request=certs_endpoint)).test_client()


def test_google_verifier_maps_the_verified_email_to_its_partner_when_the_token_is_valid(deps, google_signer):
    signer, certs = google_signer
    record = _track(deps, "acme", "song.flac")
    headers = {"Authorization": f"Bearer {_id_token(signer)}"}
    response = _google_client(deps, certs).get(f"/v1/tracks/{record.track_id}", headers=headers)
    assert response.status_code == 200 and response.json["partner"] == "acme"


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "https://another-service.test"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"email_verified": False},
        {"email": None},
    ],
)
def test_google_verifier_answers_401_when_a_claim_is_wrong(deps, google_signer, changes):
    signer, certs = google_signer
    headers = {"Authorization": f"Bearer {_id_token(signer, **changes)}"}
    _assert_error(_google_client(deps, certs).get("/v1/tracks", headers=headers), 401, "UNAUTHENTICATED")


def test_google_verifier_answers_401_without_naming_the_expected_audience_when_the_audience_is_wrong(
    deps, google_signer
):
    signer, certs = google_signer
    headers = {"Authorization": f"Bearer {_id_token(signer, aud='https://another-service.test')}"}
    response = _google_client(deps, certs).get("/v1/tracks", headers=headers)
    _assert_error(response, 401, "UNAUTHENTICATED")
    # google-auth's own reason names the audience it expected: the API's URL stays in the log.
    assert AUDIENCE not in response.get_data(as_text=True)
    assert "another-service" not in response.get_data(as_text=True)


def test_google_verifier_answers_401_when_the_token_is_signed_by_another_key(deps, google_signer):
    signer, _ = google_signer
    # A valid certificate of another key under the same kid: only the signature check can fail.
    impostor_certs = {"k1": _self_signed("impostor")[1]}
    headers = {"Authorization": f"Bearer {_id_token(signer)}"}
    _assert_error(_google_client(deps, impostor_certs).get("/v1/tracks", headers=headers), 401)


def test_google_verifier_answers_403_when_the_email_is_not_registered_to_a_partner(deps, google_signer):
    signer, certs = google_signer
    headers = {"Authorization": f"Bearer {_id_token(signer, email='someone@example.com')}"}
    _assert_error(_google_client(deps, certs).get("/v1/tracks", headers=headers), 403, "PERMISSION_DENIED")


def test_google_verifier_answers_503_when_the_certificates_cannot_be_fetched(deps, google_signer):
    signer, certs = google_signer
    headers = {"Authorization": f"Bearer {_id_token(signer)}"}
    response = _google_client(deps, certs, status=500).get("/v1/tracks", headers=headers)
    _assert_error(response, 503, "UNAVAILABLE")
    assert "Retry-After" in response.headers


def test_google_verifier_refuses_to_build_when_the_audience_is_empty():
    with pytest.raises(ValueError):
        google_id_token_verifier("")


def test_openapi_document_is_valid_openapi_3_1_when_parsed():
    from openapi_spec_validator import validate

    assert OPENAPI["openapi"].startswith("3.1")
    validate(OPENAPI)


def test_openapi_document_describes_exactly_the_app_routes_when_compared(client):
    implicit = {"HEAD", "OPTIONS"}  # Flask adds these to every route; they are not operations
    served = {
        (re.sub(r"<(?:\w+:)?raw_id>", "{track_id}", rule.rule), method.lower())
        for rule in client.application.url_map.iter_rules()
        for method in rule.methods - implicit
    }
    documented = {
        (path, method)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert served == documented


def test_openapi_document_is_served_without_credentials_when_requested(client):
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.get_data(as_text=True)) == OPENAPI


def test_api_tags_an_uploaded_song_end_to_end_when_served_over_the_local_folder(tmp_path):
    deps = make_deps(tmp_path / "home", api_keys="acme:key-acme")
    client = create_app(deps, ingest_root_uri=uri_of(tmp_path / "ingest")).test_client()
    song = write_audio(tmp_path / "song.flac", music_like(6.0))
    submitted = client.post(
        "/v1/tracks?filename=song.flac", data=song.read_bytes(), headers={**ACME, "Content-Type": "audio/flac"}
    )
    assert submitted.status_code == 202
    run_to_completion(deps, *deps.publisher.drain())  # type: ignore[attr-defined]
    body = client.get(submitted.headers["Location"], headers=ACME).json
    assert body["state"] == "DONE" and not _schema_errors("Track", body)
    expected = track_json(deps.tracks.get(body["track_id"]))
    assert _result_of(body) == _result_of(expected)
    assert body["source_uri"] == uri_of(tmp_path / "ingest" / "acme" / "song.flac")
