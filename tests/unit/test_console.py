"""The support console through Flask's test client: sign-in, scope, search, track page, retry, CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.console_fixtures import ALICE_KEY, CAROL_KEY, console_app, console_deps, seed
from tests.pipeline_fixtures import make_deps
from trackscan.api import create_app
from trackscan.messages import UploadReceived
from trackscan.tracks import TrackState


@pytest.fixture
def deps(tmp_path):
    return console_deps(tmp_path / "home")


@pytest.fixture
def catalogue(deps, tmp_path):
    return seed(deps, tmp_path / "ingest")


@pytest.fixture
def app(deps, tmp_path):
    return console_app(deps, tmp_path / "ingest")


def _signed_in(app, key: str):
    client = app.test_client()
    response = client.post("/console/login", data={"key": key})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _csrf(client) -> str:
    with client.session_transaction() as session:
        return session["csrf"]


def test_console_is_not_served_when_no_staff_is_configured(tmp_path):
    app = create_app(make_deps(tmp_path / "home", api_keys="acme:key-acme"))
    assert app.test_client().get("/console/", headers={"X-API-Key": "key-acme"}).status_code == 404


def test_console_sends_to_the_login_when_not_signed_in_even_with_a_partner_key(app):
    response = app.test_client().get("/console/", headers={"X-API-Key": "key-acme"})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_console_login_refuses_a_wrong_key_and_a_partner_api_key(app):
    for key in ("wrong", "key-acme"):
        response = app.test_client().post("/console/login", data={"key": key})
        assert response.status_code == 200 and "not a console login" in response.get_data(as_text=True)


def test_console_login_never_redirects_off_the_console_when_next_is_foreign(app):
    response = app.test_client().post("/console/login?next=//evil.example/x", data={"key": ALICE_KEY})
    assert response.headers["Location"] == "/console/"


@pytest.mark.parametrize("target", ["/console/%0d%0aSet-Cookie:x=y", "/console/%0a", "/console/%00", "/console/%C3%A9"])
def test_console_login_redirects_to_the_index_when_next_holds_control_or_non_ascii_characters(app, target):
    response = app.test_client().post(f"/console/login?next={target}", data={"key": ALICE_KEY})
    assert response.status_code == 302 and response.headers["Location"] == "/console/"


def test_console_index_counts_every_partner_for_all_partner_staff(app, catalogue):
    page = _signed_in(app, ALICE_KEY).get("/console/").get_data(as_text=True)
    counts = dict(re.findall(r'data-state="(\w+)">\w+ <strong class="count">(\d+)</strong>', page))
    assert counts == {"RECEIVED": "0", "EXTRACTING": "0", "INFERRING": "1", "DONE": "3", "FAILED": "2"}
    assert "beta-secret-demo.wav" in page and "storm.ogg" in page


def test_console_shows_partner_scoped_staff_only_their_partners_tracks(app, catalogue):
    client = _signed_in(app, CAROL_KEY)
    page = client.get("/console/?partner=beta").get_data(as_text=True)
    counts = dict(re.findall(r'data-state="(\w+)">\w+ <strong class="count">(\d+)</strong>', page))
    assert counts["FAILED"] == "1" and counts["DONE"] == "2" and "beta" not in page.replace("carol", "")
    assert client.get(f"/console/tracks/{catalogue.beta_failed.track_id}").status_code == 404
    found = client.get("/console/search?q=beta-secret-demo.wav").get_data(as_text=True)
    assert catalogue.beta_failed.track_id not in found and "No tracks." in found
    assert "beta" not in client.get("/console/failed.csv?partner=beta").get_data(as_text=True)
    storm = client.get(f"/console/tracks/{catalogue.done.track_id}").get_data(as_text=True)
    assert "thunder.ogg" in storm and "beta-storm-copy" not in storm  # similar tracks of the same partner only


def test_console_search_finds_a_track_by_name_uri_or_id(app, catalogue):
    client = _signed_in(app, ALICE_KEY)
    assert "nocturne.flac" in client.get("/console/search?q=nocturne.flac").get_data(as_text=True)
    assert "nocturne.flac" in client.get(f"/console/search?q={catalogue.stuck.source_uri}").get_data(as_text=True)
    by_id = client.get(f"/console/search?q={catalogue.stuck.track_id}")
    assert by_id.headers["Location"] == f"/console/tracks/{catalogue.stuck.track_id}"
    assert client.get("/console/search?q=beta").headers["Location"] == "/console/?partner=beta"


def test_console_track_page_says_why_a_track_is_stuck_and_draws_its_timeline(app, catalogue):
    page = _signed_in(app, ALICE_KEY).get(f"/console/tracks/{catalogue.stuck.track_id}").get_data(as_text=True)
    assert re.search(r"infer attempt 6 failed \d+ s ago: RetryableError: Triton unreachable", page)
    assert "(segment 2 of 4)" in page and "0 of 4 scored" in page
    assert page.count('<g class="span">') == 3 and '<g class="failure">' in page
    assert "<tr><td>INFERRING</td><td>infer</td><td>6</td>" in page  # the failed attempts count


def test_console_retry_refuses_a_post_without_the_form_token(app, catalogue):
    response = _signed_in(app, ALICE_KEY).post(f"/console/tracks/{catalogue.failed.track_id}/retry")
    assert response.status_code == 403


def test_console_retry_restarts_a_failed_track_and_publishes_its_upload(app, deps, catalogue):
    client = _signed_in(app, CAROL_KEY)
    response = client.post(f"/console/tracks/{catalogue.failed.track_id}/retry", data={"csrf": _csrf(client)})
    assert response.status_code == 302
    assert deps.tracks.get(catalogue.failed.track_id).state is TrackState.RECEIVED
    published = deps.publisher.drain()  # type: ignore[attr-defined]
    assert published == [UploadReceived(catalogue.failed.source_uri, catalogue.failed.generation,
                                        published[0].size_bytes, "acme")]


def test_console_retry_refuses_another_partners_track_when_scoped(app, deps, catalogue):
    client = _signed_in(app, CAROL_KEY)
    response = client.post(f"/console/tracks/{catalogue.beta_failed.track_id}/retry", data={"csrf": _csrf(client)})
    assert response.status_code == 404 and deps.tracks.get(catalogue.beta_failed.track_id).state is TrackState.FAILED


def test_console_exports_failed_tracks_as_csv(app, catalogue):
    response = _signed_in(app, ALICE_KEY).get("/console/failed.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert response.mimetype == "text/csv"
    assert {(r["track_id"], r["error_code"]) for r in rows} == {
        (catalogue.failed.track_id, "CORRUPT"), (catalogue.beta_failed.track_id, "TRUNCATED")}


def test_console_accepts_a_staff_google_identity_when_the_token_verifies(deps, tmp_path, catalogue):
    from dataclasses import replace

    from trackscan.api.auth import InvalidTokenError

    def verifier(token: str) -> str:
        if token != "good-token":
            raise InvalidTokenError("bad signature")
        return "Dana@Example.com"

    deps = replace(deps, config=replace(deps.config, console_identities="dana@example.com=beta"))
    client = create_app(deps, verifier=verifier, ingest_root_uri="file:///unused").test_client()
    page = client.get("/console/", headers={"Authorization": "Bearer good-token"})
    assert page.status_code == 200 and "beta-secret-demo.wav" in page.get_data(as_text=True)
    assert "storm.ogg" not in page.get_data(as_text=True)
    assert client.get("/console/", headers={"Authorization": "Bearer forged"}).status_code == 302
