"""Bad input never earns a 500: query parameters, repeated names, JSON keys and numbers, header-bound values.

Includes a fuzz of every route of the app (the partner API and the console) with control, bidi and
non-Latin-1 characters in every path segment, query parameter, JSON field and form field.
"""

from __future__ import annotations

import http.client

import pytest

from tests.api_fixtures import ACME, BUCKET, api_deps, assert_error
from tests.console_fixtures import ALICE_KEY, CAROL_KEY
from trackscan.api import create_app
from trackscan.domain.tracks import new_record

HOSTILE = [
    "\x00",
    "\r\n",
    "\n",
    "\x1b[2J",
    "\t",
    "\u202e",
    "\u2028",
    "é",
    "\u4e2d",
    "\U0001f600",
    "\x7f",
    "\x85",
    "%0d%0a",
    "\\",
    "",
]
# Every query parameter any route takes, tried on every route, and every JSON or form field; each
# hostile value follows a valid start, so that it gets past the first checks.
QUERY_NAMES = ("state", "page_size", "page_token", "source", "limit", "filename", "next", "q", "partner", "after")
BODY_NAMES = ("source_uri", "filename", "content_type", "size_bytes", "key", "csrf")
VALID_START = {
    "source_uri": f"gs://{BUCKET}/acme/",
    "filename": "a",
    "content_type": "audio/flac",
    "next": "/console/",
    "source": f"gs://{BUCKET}/acme/",
    "q": "a",
    "state": "DONE",
}


def _session_url(uri: str, size_bytes: int, content_type: str, origin: str | None) -> str:
    # Like GCS's client, the content type goes out as a header (http.client checks it; nothing is sent).
    connection = http.client.HTTPConnection("storage.example")
    connection.putrequest("POST", "/upload")
    connection.putheader("X-Upload-Content-Type", content_type)
    return "https://storage.example/upload?upload_id=1"


@pytest.fixture
def deps(tmp_path):
    return api_deps(tmp_path, console_keys=f"alice:{ALICE_KEY}:*, carol:{CAROL_KEY}:acme", max_file_bytes=1 << 20)


@pytest.fixture
def app(deps):
    return create_app(deps, upload_sessions=_session_url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def track_id(deps) -> str:
    uri = deps.blobs.put(f"gs://{BUCKET}/acme/album/01.flac")
    return deps.tracks.create_if_absent(new_record(uri, deps.blobs.stat(uri).generation, "acme", "api")).track_id


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/v1/tracks/{id}", "_method=DELETE"),
        ("GET", "/v1/tracks/{id}", "foo=bar"),
        ("GET", "/v1/tracks/{id}/audio-features", "x=1"),
        ("POST", "/v1/tracks/{id}:retry", "force=true"),
        ("POST", "/v1/uploads", "filename=a.flac"),
        ("GET", "/openapi.yaml", "v=2"),
        ("POST", "/v1/tracks", "force=1"),
    ],
)
def test_api_answers_400_when_a_route_gets_an_unknown_query_parameter(client, track_id, method, path, query):
    response = client.open(
        f"{path.format(id=track_id)}?{query}",
        method=method,
        headers=ACME,
        json={"source_uri": f"gs://{BUCKET}/acme/album/01.flac"},
    )
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert "Unknown query parameters" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tracks?state=DONE&state=FAILED",
        "/v1/tracks?page_size=1&page_size=200",
        "/v1/tracks/{id}/similar?limit=1&limit=2",
    ],
)
def test_api_answers_400_when_a_single_valued_parameter_is_repeated(client, track_id, path):
    response = client.get(path.format(id=track_id), headers=ACME)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert "more than once" in response.json["error"]["message"]


def test_api_answers_401_before_400_when_an_unknown_parameter_comes_without_credentials(client, track_id):
    assert_error(client.get(f"/v1/tracks/{track_id}?foo=bar"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/tracks",
            b'{"source_uri": "gs://x/beta/a", "source_uri": "gs://%s/acme/album/01.flac"}' % BUCKET.encode(),
        ),
        ("/v1/uploads", b'{"filename": "a.flac", "size_bytes": 10, "size_bytes": 99999999999}'),
    ],
)
def test_api_answers_400_when_a_json_body_repeats_a_key(client, path, body):
    response = client.post(path, data=body, content_type="application/json", headers=ACME)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert "more than once" in response.json["error"]["message"]


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 5000, "NaN", "Infinity", "-Infinity"])
def test_api_answers_400_in_its_own_words_when_a_json_number_is_huge_or_not_a_number(client, number):
    body = b'{"filename": "a.flac", "size_bytes": %s}' % number.encode()
    response = client.post("/v1/uploads", data=body, content_type="application/json", headers=ACME)
    assert_error(response, 400, "INVALID_ARGUMENT")
    message = response.json["error"]["message"]
    assert "4300" not in message and "sys.set_int_max_str_digits" not in message and len(message) < 200


@pytest.mark.parametrize(
    "content_type",
    [
        "audio/flac\r\nX-Goog-Acl: public-read",
        "audio/flac\n",
        "audio/fl\x00ac",
        "audio/flac; name=é",
        "audio/\u4e2d",
        "audio/",
        "audio/flac\x7f",
    ],
)
def test_start_upload_answers_400_when_the_content_type_could_not_be_a_header(client, content_type):
    response = client.post(
        "/v1/uploads", headers=ACME, json={"filename": "a.flac", "size_bytes": 10, "content_type": content_type}
    )
    assert_error(response, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "content_type",
    [
        "audio/flac",
        "audio/x-flac",
        "application/octet-stream",
        "audio/ogg; codecs=opus",
        'audio/mp4; codecs="mp4a.40.2"',
    ],
)
def test_start_upload_accepts_the_content_type_when_it_is_a_printable_audio_media_type(client, content_type):
    response = client.post(
        "/v1/uploads", headers=ACME, json={"filename": "a.flac", "size_bytes": 10, "content_type": content_type}
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def _signed_in_console(app):
    client = app.test_client()
    client.get("/console/login")
    with client.session_transaction() as session:
        token = session.get("csrf", "")
    assert client.post("/console/login", data={"key": ALICE_KEY, "csrf": token}).status_code == 302
    return client, token


def _requests(app, track_id: str, value: str):
    """Every route and method of the app, with ``value`` in each field it takes in turn."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path_values = {name: value or "x" for name in rule.arguments}
            yield method, rule, rule.build(path_values, append_unknown=False)[1], {}, None
            path = rule.build({name: track_id for name in rule.arguments}, append_unknown=False)[1]
            for name in QUERY_NAMES:
                yield method, rule, path, {name: VALID_START.get(name, "") + value}, None
            if method == "POST":
                for name in BODY_NAMES:
                    body = {"filename": "a.flac", "size_bytes": 10, name: VALID_START.get(name, "") + value}
                    yield method, rule, path, {}, body


@pytest.mark.parametrize("value", HOSTILE, ids=[ascii(v) for v in HOSTILE])
def test_every_route_answers_below_500_when_any_field_holds_hostile_characters(app, track_id, value):
    console, token = _signed_in_console(app)
    partner = app.test_client()
    seen = 0
    for method, rule, path, query, body in _requests(app, track_id, value):
        is_console = rule.endpoint.startswith("console.")
        client = console if is_console else partner
        form = {"csrf": token, **(body or {})} if is_console and method == "POST" else None
        if rule.endpoint == "console.login" and method == "POST":
            # A sign-in that succeeds, then redirects to ``next``; on a client of its own, as it
            # starts a new session.
            client, fresh_token = _signed_in_console(app)
            form = {"key": ALICE_KEY, "csrf": fresh_token, **(body or {})}
        response = client.open(
            path, method=method, query_string=query, headers=ACME, json=None if is_console else body, data=form
        )
        assert response.status_code < 500, (method, path, query, body, response.get_data(as_text=True)[:300])
        seen += 1
    assert seen > 40
