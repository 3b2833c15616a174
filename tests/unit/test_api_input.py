"""Hostile input to the partner API: object names, encoded paths, JSON, sizes, partners and request rates.

gs:// objects are in DictBlobStore (tests/api_fixtures.py); file:// tests serve the API over a
real folder. Every answer is checked against openapi.yaml's Error schema.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.api_fixtures import ACME, BETA, BUCKET, api_deps, assert_error
from tests.pipeline_fixtures import make_deps
from trackscan.api import create_app
from trackscan.api.rate_limit import RateLimiter
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import UploadReceived
from trackscan.domain.track_ids import track_id_for


@pytest.fixture
def deps(tmp_path):
    return api_deps(tmp_path)


@pytest.fixture
def client(deps):
    return create_app(deps).test_client()


def _submit(client, uri: str, headers=ACME):
    return client.post("/v1/tracks", json={"source_uri": uri}, headers=headers)


@pytest.mark.parametrize(
    "name",
    [
        "take #1.flac",
        "what?.flac",
        "100%.flac",
        "a%2F..%2Fb.flac",
        "two  spaces .flac",
        "Sigur Rós – Hoppípolla 🎧.flac",
        "mix.flac#17",
        "album/#/?/%.flac",
    ],
)
def test_submit_publishes_the_name_as_gcs_stores_it_when_it_holds_uri_syntax(client, deps, name):
    uri = deps.blobs.put(f"gs://{BUCKET}/acme/{name}")
    response = _submit(client, uri)
    assert response.status_code == 202, response.get_data(as_text=True)
    info = deps.blobs.stat(uri)
    assert deps.publisher.messages == [UploadReceived(uri, info.generation, info.size_bytes, "acme")]
    assert response.json["track_id"] == track_id_for(uri, info.generation)


def test_submit_accepts_a_1024_byte_object_name_and_refuses_a_longer_one(client, deps):
    fits = deps.blobs.put(f"gs://{BUCKET}/acme/{'é' * 509}x")  # "acme/" + 1,019 bytes
    over = deps.blobs.put(f"{fits}y")
    assert len(fits.removeprefix(f"gs://{BUCKET}/").encode()) == 1024
    assert _submit(client, fits).status_code == 202
    assert_error(_submit(client, over), 400, "INVALID_ARGUMENT")


@pytest.fixture
def folder(tmp_path):
    """A file:// deployment: acme's and beta's prefixes, each with a file, and a file outside both."""
    root = tmp_path / "ingest"
    for path in (root / "acme" / "mine.flac", root / "beta" / "secret.flac", tmp_path / "outside.flac"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"fLaC" + bytes(100))
    deps = make_deps(tmp_path / "home", api_keys="acme:key-acme")
    return deps, create_app(deps, ingest_root_uri=uri_of(root)).test_client(), uri_of(root) + "/acme/"


@pytest.mark.parametrize(
    "escape",
    [
        "%2e%2e/beta/secret.flac",
        "%2E%2E/beta/secret.flac",
        "..%2Fbeta%2Fsecret.flac",
        "%2e%2e%2f%2e%2e%2foutside.flac",
        "x/%2e%2e/%2e%2e/beta/secret.flac",
        "%2Fbeta/secret.flac",
        "./mine.flac",
        "x#/../../beta/secret.flac",
        "mine.flac?../../beta/secret.flac",
        "%00.flac",
        "%ff.flac",
    ],
)
def test_submit_answers_400_and_reads_nothing_when_a_file_uri_leaves_its_prefix_encoded(folder, escape):
    deps, client, prefix = folder
    assert_error(_submit(client, prefix + escape), 400, "INVALID_ARGUMENT")
    assert deps.publisher.messages == [] and deps.queries.query(None, None, 10, None) == []


def test_submit_answers_403_when_a_link_in_the_prefix_leads_outside_it(folder, tmp_path):
    deps, client, prefix = folder
    (tmp_path / "ingest" / "acme" / "shared").symlink_to(tmp_path / "ingest" / "beta")
    assert_error(_submit(client, prefix + "shared/secret.flac"), 403, "PERMISSION_DENIED")
    assert deps.publisher.messages == []


def test_submit_answers_the_canonical_uri_when_a_file_uri_is_encoded_differently(folder, tmp_path):
    deps, client, prefix = folder
    (tmp_path / "ingest" / "acme" / "a#b c.flac").write_bytes(b"fLaC" + bytes(100))
    first = _submit(client, prefix + "a%23b%20c.flac")
    second = _submit(client, prefix + "a%23b c.fl%61c")
    assert first.status_code == second.status_code == 202
    assert first.json["track_id"] == second.json["track_id"]
    canonical = uri_of(tmp_path / "ingest" / "acme" / "a#b c.flac")
    assert [m.source_uri for m in deps.publisher.messages] == [canonical, canonical]


@pytest.fixture
def roomy_client(tmp_path):
    """An API whose file size limit (1 MiB) lets any JSON body reach the JSON checks."""
    return create_app(api_deps(tmp_path, max_file_bytes=1 << 20), upload_sessions=RecordingSessions()).test_client()


@pytest.mark.parametrize("path", ["/v1/tracks", "/v1/uploads"])
@pytest.mark.parametrize(
    "body", [b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 8_000 + b"1" + b"}" * 8_000], ids=["arrays", "objects"]
)
def test_api_answers_400_when_the_json_body_nests_deeper_than_the_parser_goes(roomy_client, body, path):
    response = roomy_client.post(path, data=body, headers={**ACME, "Content-Type": "application/json"})
    assert_error(response, 400, "INVALID_ARGUMENT")


def test_api_answers_413_when_a_json_body_is_longer_than_a_submit_can_be(roomy_client):
    body = b'{"source_uri": "' + b"x" * (70 << 10) + b'"}'
    response = roomy_client.post("/v1/tracks", data=body, headers={**ACME, "Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "JSON body" in response.json["error"]["message"]


def test_api_answers_403_and_accepts_nothing_when_the_partner_is_not_registered_for_ingest(tmp_path):
    deps = api_deps(tmp_path, partners="beta")
    client = create_app(deps).test_client()
    uri = deps.blobs.put(f"gs://{BUCKET}/acme/song.flac")
    assert_error(_submit(client, uri), 403, "PERMISSION_DENIED")
    upload = client.post("/v1/tracks?filename=new.flac", data=b"fLaC", headers={**ACME, "Content-Type": "audio/flac"})
    assert_error(upload, 403, "PERMISSION_DENIED")
    assert deps.publisher.messages == [] and list(deps.blobs.objects) == [uri]
    assert client.get("/v1/tracks", headers=BETA).status_code == 200


def _big_upload(client, name: str, body: bytes):
    # The body as a stream of known length: the test client then copies nothing.
    return client.post(
        f"/v1/tracks?filename={name}",
        input_stream=io.BytesIO(body),
        headers={**ACME, "Content-Type": "audio/flac", "Content-Length": str(len(body))},
    )


def test_upload_streams_the_body_to_the_folder_when_it_is_large(tmp_path):
    deps = make_deps(tmp_path / "home", api_keys="acme:key-acme", max_file_bytes=64 << 20)
    client = create_app(deps, ingest_root_uri=uri_of(tmp_path / "ingest")).test_client()
    body = hashlib.sha256(b"seed").digest() * (1 << 20)  # 32 MiB
    tracemalloc.start()
    try:
        response = _big_upload(client, "big.flac", body)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 202, response.get_data(as_text=True)
    assert (tmp_path / "ingest" / "acme" / "big.flac").read_bytes() == body
    # Reading the body whole allocates it at least once (32 MiB; 64 MiB measured with bytes(...)
    # of it); streamed in 1 MiB chunks the peak was 5 MiB.
    assert peak_bytes < len(body) // 2, f"the upload allocated {peak_bytes >> 20} MiB at its peak"


def test_upload_answers_413_and_leaves_no_file_when_a_chunked_body_exceeds_the_limit(tmp_path):
    deps = make_deps(tmp_path / "home", api_keys="acme:key-acme", max_file_bytes=4096)
    client = create_app(deps, ingest_root_uri=uri_of(tmp_path / "ingest")).test_client()
    response = client.post(
        "/v1/tracks?filename=big.wav",
        input_stream=io.BytesIO(b"\0" * (3 << 20)),
        headers={**ACME, "Content-Type": "audio/wav", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert [p for p in (tmp_path / "ingest").rglob("*") if p.is_file()] == []
    assert deps.publisher.messages == []


class _Unreadable(io.BytesIO):
    """A request body that fails the test when read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readinto = read1 = readline = read


def test_upload_answers_409_without_reading_the_body_when_the_filename_is_taken(client, deps):
    deps.blobs.put(f"gs://{BUCKET}/acme/taken.flac", b"first")
    response = client.post(
        "/v1/tracks?filename=taken.flac",
        input_stream=_Unreadable(bytes(3000)),
        headers={**ACME, "Content-Type": "audio/flac", "Content-Length": "3000"},
    )
    assert_error(response, 409, "ALREADY_EXISTS")
    assert deps.blobs.objects[f"gs://{BUCKET}/acme/taken.flac"][0] == b"first"


class RecordingSessions:
    """Stands in for GCS's resumable upload sessions: remembers what it was asked for."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int, str, str | None]] = []

    def __call__(self, uri: str, size_bytes: int, content_type: str, origin: str | None) -> str:
        self.started.append((uri, size_bytes, content_type, origin))
        return f"https://storage.example/upload?upload_id={len(self.started)}"


@pytest.fixture
def sessions() -> RecordingSessions:
    return RecordingSessions()


@pytest.fixture
def session_client(deps, sessions):
    return create_app(deps, upload_sessions=sessions).test_client()


def _start(client, body, headers=ACME):
    return client.post("/v1/uploads", json=body, headers=headers)


def test_start_upload_answers_the_session_url_for_a_new_object_when_asked(session_client, sessions):
    response = _start(
        session_client, {"filename": "album/take #1.flac", "size_bytes": 4000, "content_type": "audio/flac"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    uri = f"gs://{BUCKET}/acme/album/take #1.flac"
    assert response.json == {
        "source_uri": uri,
        "upload_url": "https://storage.example/upload?upload_id=1",
        "tracks_url": f"/v1/tracks?source={quote(uri, safe='')}",
    }
    assert sessions.started == [(uri, 4000, "audio/flac", None)]
    listed = session_client.get(response.json["tracks_url"], headers=ACME)
    assert listed.status_code == 200 and listed.json["tracks"] == []


def test_start_upload_answers_409_and_opens_no_session_when_the_object_exists(session_client, deps, sessions):
    deps.blobs.put(f"gs://{BUCKET}/acme/taken.flac")
    assert_error(_start(session_client, {"filename": "taken.flac", "size_bytes": 10}), 409, "ALREADY_EXISTS")
    assert sessions.started == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filename": "big.flac", "size_bytes": 4097}, 413),
        ({"filename": "a.flac"}, 400),
        ({"filename": "a.flac", "size_bytes": "10"}, 400),
        ({"filename": "a.flac", "size_bytes": True}, 400),
        ({"filename": "a.flac", "size_bytes": 0}, 400),
        ({"filename": "../beta/a.flac", "size_bytes": 10}, 400),
        ({"filename": "", "size_bytes": 10}, 400),
        ({"filename": "a\nb.flac", "size_bytes": 10}, 400),
        ({"filename": "a.pdf", "size_bytes": 10, "content_type": "application/pdf"}, 400),
        ({"filename": "a.flac", "size_bytes": 10, "force": True}, 400),
        ([], 400),
    ],
)
def test_start_upload_answers_4xx_and_opens_no_session_when_the_request_is_bad(session_client, sessions, body, status):
    assert_error(_start(session_client, body), status)
    assert sessions.started == []


def test_start_upload_answers_501_when_the_deployment_has_no_upload_sessions(client):
    assert_error(_start(client, {"filename": "a.flac", "size_bytes": 10}), 501, "UNIMPLEMENTED")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_api_answers_429_with_retry_after_when_a_partner_exceeds_its_rate(tmp_path):
    clock = Clock()
    client = create_app(api_deps(tmp_path, api_rate_per_s=0.5, api_burst=2), clock=clock).test_client()
    assert [client.get("/v1/tracks", headers=ACME).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/v1/tracks", headers=ACME)
    assert_error(refused, 429, "RESOURCE_EXHAUSTED")
    assert refused.headers["Retry-After"] == "2"  # one token at 0.5 a second
    assert client.get("/v1/tracks", headers=BETA).status_code == 200  # another partner's bucket
    assert client.get("/openapi.yaml").status_code == 200  # public, not counted
    clock.now_s += 2
    assert client.get("/v1/tracks", headers=ACME).status_code == 200


def test_rate_limiter_allows_at_most_the_burst_when_a_partner_was_quiet_for_long():
    clock = Clock()
    limiter = RateLimiter(rate_per_s=10.0, burst=3, clock=clock)
    clock.now_s += 3600
    assert [limiter.wait_s("acme") for _ in range(4)] == [0, 0, 0, 1]
    clock.now_s += 0.1  # one token back at 10 a second
    assert [limiter.wait_s("acme") for _ in range(2)] == [0, 1]


def test_rate_limiter_never_refuses_when_the_rate_is_zero():
    limiter = RateLimiter(rate_per_s=0.0, burst=0, clock=Clock())
    assert all(limiter.wait_s("acme") == 0 for _ in range(1000))


def test_api_counts_no_request_against_a_partner_when_credentials_are_missing(tmp_path):
    client = create_app(api_deps(tmp_path, api_rate_per_s=1.0, api_burst=1), clock=Clock()).test_client()
    assert all(client.get("/v1/tracks").status_code == 401 for _ in range(3))
    assert client.get("/v1/tracks", headers=ACME).status_code == 200


def test_upload_answers_400_when_the_filename_is_no_object_name(client, deps):
    for name in ("a/../b.flac", "a//b.flac", "%2E", quote("a\rb.flac")):
        response = client.post(
            f"/v1/tracks?filename={name}", data=b"fLaC", headers={**ACME, "Content-Type": "audio/flac"}
        )
        assert_error(response, 400, "INVALID_ARGUMENT")
    assert deps.blobs.objects == {}


def test_upload_stores_the_name_as_given_when_it_holds_uri_syntax(client, deps):
    name = "live/100% #1?.flac"
    response = client.post(
        f"/v1/tracks?filename={quote(name, safe='')}", data=b"fLaC", headers={**ACME, "Content-Type": "audio/flac"}
    )
    assert response.status_code == 202
    assert list(deps.blobs.objects) == [f"gs://{BUCKET}/acme/{name}"]


def test_api_answers_413_before_storing_when_content_length_is_over_the_limit(tmp_path):
    deps = make_deps(tmp_path / "home", api_keys="acme:key-acme", max_file_bytes=4096)
    client = create_app(deps, ingest_root_uri=uri_of(tmp_path / "ingest")).test_client()
    assert_error(_big_upload(client, "big.flac", b"\0" * 5000), 413, "PAYLOAD_TOO_LARGE")
    assert not Path(tmp_path / "ingest").exists() or not any((tmp_path / "ingest").rglob("*.flac"))
