"""The support console through Flask's test client: sign-in, scope, search, track page, retry, CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.console_fixtures import ALICE_KEY, CAROL_KEY, console_app, console_deps, seed
from tests.pipeline_fixtures import make_deps
from trackscan.api import create_app
from trackscan.domain.messages import TrackFinished, UploadReceived
from trackscan.domain.tracks import TrackState
from trackscan.domain.webhooks import DELIVERED, FAILED, UNDELIVERED, WebhookAttempt, WebhookRegistration


@pytest.fixture
def deps(tmp_path):
    return console_deps(tmp_path / "home")


@pytest.fixture
def catalogue(deps, tmp_path):
    return seed(deps, tmp_path / "ingest")


@pytest.fixture
def app(deps, tmp_path):
    return console_app(deps, tmp_path / "ingest")


def _login(client, key: str, path: str = "/console/login", **environ):
    """A sign-in as a browser makes it: the form (and its token) first, then the post."""
    client.get("/console/login", environ_base=environ)
    return client.post(path, data={"key": key, "csrf": _csrf(client)}, environ_base=environ)


def _signed_in(app, key: str):
    client = app.test_client()
    response = _login(client, key)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _csrf(client) -> str:
    with client.session_transaction() as session:
        return session.get("csrf", "")


def test_console_is_not_served_when_no_staff_is_configured(tmp_path):
    app = create_app(make_deps(tmp_path / "home", api_keys="acme:key-acme"))
    assert app.test_client().get("/console/", headers={"X-API-Key": "key-acme"}).status_code == 404


def test_console_sends_to_the_login_when_not_signed_in_even_with_a_partner_key(app):
    response = app.test_client().get("/console/", headers={"X-API-Key": "key-acme"})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_console_login_refuses_a_wrong_key_and_a_partner_api_key(app):
    for key in ("wrong", "key-acme"):
        response = _login(app.test_client(), key)
        assert response.status_code == 200 and "not a console login" in response.get_data(as_text=True)


def test_console_login_never_redirects_off_the_console_when_next_is_foreign(app):
    response = _login(app.test_client(), ALICE_KEY, "/console/login?next=//evil.example/x")
    assert response.headers["Location"] == "/console/"


@pytest.mark.parametrize("target", ["/console/%0d%0aSet-Cookie:x=y", "/console/%0a", "/console/%00", "/console/%C3%A9"])
def test_console_login_redirects_to_the_index_when_next_holds_control_or_non_ascii_characters(app, target):
    response = _login(app.test_client(), ALICE_KEY, f"/console/login?next={target}")
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
    assert published == [
        UploadReceived(catalogue.failed.source_uri, catalogue.failed.generation, published[0].size_bytes, "acme")
    ]


def test_console_retry_refuses_another_partners_track_when_scoped(app, deps, catalogue):
    client = _signed_in(app, CAROL_KEY)
    response = client.post(f"/console/tracks/{catalogue.beta_failed.track_id}/retry", data={"csrf": _csrf(client)})
    assert response.status_code == 404 and deps.tracks.get(catalogue.beta_failed.track_id).state is TrackState.FAILED


def test_console_shows_the_partners_webhook_and_sends_a_tracks_event_again(app, deps, catalogue):
    deps.webhook_registry.save_webhook(WebhookRegistration("acme", "https://acme.example/hook", 1, "2026-12-07T09:00"))
    client = _signed_in(app, CAROL_KEY)
    page = client.get(f"/console/tracks/{catalogue.done.track_id}").get_data(as_text=True)
    assert "https://acme.example/hook" in page and 'id="redeliver"' in page
    response = client.post(f"/console/tracks/{catalogue.done.track_id}/redeliver", data={"csrf": _csrf(client)})
    assert response.status_code == 302
    (event,) = deps.publisher.drain()  # type: ignore[attr-defined]
    assert isinstance(event, TrackFinished) and (event.track_id, event.type) == (catalogue.done.track_id, "track.done")
    assert "was sent again" in client.get(response.location).get_data(as_text=True)
    refused = client.post(f"/console/tracks/{catalogue.stuck.track_id}/redeliver", data={"csrf": _csrf(client)})
    assert refused.status_code == 302 and deps.publisher.drain() == []  # type: ignore[attr-defined]
    other = client.post(f"/console/tracks/{catalogue.beta_done.track_id}/redeliver", data={"csrf": _csrf(client)})
    assert other.status_code == 404


def test_console_shows_a_tracks_webhook_sends_undelivered_included(app, deps, catalogue):
    track_id = catalogue.done.track_id
    sends = [
        WebhookAttempt("2026-12-07T09:00:00.000+00:00", "e1", "track.done", track_id, 1, FAILED, 500, 0.2),
        WebhookAttempt("2026-12-07T09:00:05.000+00:00", "e9", "track.done", "another-track", 1, DELIVERED, 200, 0.1),
    ]
    deps.webhook_registry.add_attempts("acme", sends)
    deps.webhook_registry.add_attempts(
        "acme", [WebhookAttempt("2026-12-08T09:00:00.000+00:00", "e1", "track.done", track_id, 100, UNDELIVERED)]
    )
    client = _signed_in(app, CAROL_KEY)
    page = client.get(f"/console/tracks/{track_id}").get_data(as_text=True)
    shown = page.split('id="webhook-attempts">')[1].split("</dd>")[0].split("<br>")
    assert shown == [
        "2026-12-08 09:00:00 track.done attempt 100: undelivered",
        "2026-12-07 09:00:00 track.done attempt 1: failed (HTTP 500, 0.20 s)",
    ]
    overview = client.get("/console/").get_data(as_text=True)  # Carol sees acme's: its webhook's sends
    undelivered = overview.split('id="undelivered"')[1].split("</table>")[0]
    sends = overview.split('id="webhook-sends"')[1].split("</table>")[0]
    assert undelivered.count("<tr>") == 2 and f"/console/tracks/{track_id}" in undelivered  # the header row, one event
    assert sends.count("<tr>") == 4 and "another-track" in sends


def test_console_exports_failed_tracks_as_csv(app, catalogue):
    response = _signed_in(app, ALICE_KEY).get("/console/failed.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert response.mimetype == "text/csv"
    assert {(r["track_id"], r["error_code"]) for r in rows} == {
        (catalogue.failed.track_id, "CORRUPT"),
        (catalogue.beta_failed.track_id, "TRUNCATED"),
    }


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


@pytest.mark.parametrize("path", ["/console/login", "/console/", "/console/failed.csv", "/console/search?q=x"])
def test_console_sends_security_headers_when_serving_pages_and_the_csv(app, catalogue, path):
    response = _signed_in(app, ALICE_KEY).get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_console_pages_hold_no_inline_style_or_script_when_rendered(app, catalogue):
    client = _signed_in(app, ALICE_KEY)
    for path in ("/console/", f"/console/tracks/{catalogue.stuck.track_id}", "/console/login"):
        page = client.get(path).get_data(as_text=True)
        assert "<style" not in page and "<script" not in page and " style=" not in page
        assert not re.search(r"\son[a-z]+=", page)  # no event handler attributes
    stylesheet = client.get("/console/console.css")
    assert stylesheet.mimetype == "text/css" and "svg.timeline" in stylesheet.get_data(as_text=True)


@pytest.mark.parametrize("form", [{"key": ALICE_KEY}, {"key": ALICE_KEY, "csrf": "forged"}])
def test_console_login_answers_403_when_the_form_token_is_missing_or_wrong(app, form):
    client = app.test_client()
    client.get("/console/login")
    assert client.post("/console/login", data=form).status_code == 403
    assert client.get("/console/").status_code == 302  # not signed in


def test_console_logout_answers_403_and_keeps_the_session_when_the_form_token_is_missing(app, catalogue):
    client = _signed_in(app, ALICE_KEY)
    assert client.post("/console/logout").status_code == 403
    assert client.get("/console/").status_code == 200


def test_console_logout_revokes_the_session_when_its_cookie_was_copied_before(app, catalogue):
    client = _signed_in(app, ALICE_KEY)
    copied, token = client.get_cookie("session").value, _csrf(client)
    assert client.post("/console/logout", data={"csrf": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/console/").status_code == 302  # to the login
    retried = thief.post(f"/console/tracks/{catalogue.failed.track_id}/retry", data={"csrf": token})
    assert retried.status_code == 302 and "/console/login" in retried.headers["Location"]


def test_console_session_is_revoked_on_every_instance_when_they_share_the_secret(deps, tmp_path, catalogue):
    from dataclasses import replace

    deps = replace(deps, config=replace(deps.config, console_secret="shared-secret"))
    first, second = console_app(deps, tmp_path / "ingest"), console_app(deps, tmp_path / "ingest")
    client = _signed_in(first, ALICE_KEY)
    cookie, token = client.get_cookie("session").value, _csrf(client)
    other = second.test_client()
    other.set_cookie("session", cookie)
    assert other.get("/console/").status_code == 200  # one sign-in serves every instance
    client.post("/console/logout", data={"csrf": token})
    assert other.get("/console/").status_code == 302


def test_console_cookie_is_secure_and_expires_when_served_over_https(app):
    client = app.test_client()
    client.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    response = client.post(
        "/console/login", headers={"X-Forwarded-Proto": "https"}, data={"key": ALICE_KEY, "csrf": _csrf(client)}
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "Expires=" in cookie
    plain = _signed_in(app, ALICE_KEY).get("/console/login")
    assert "Secure" not in plain.headers.get("Set-Cookie", "")


def test_console_login_answers_429_with_retry_after_when_a_source_failed_too_often(tmp_path, catalogue):
    now = [1000.0]
    deps = console_deps(tmp_path / "home2")
    app = create_app(deps, ingest_root_uri="file:///unused", clock=lambda: now[0])
    client = app.test_client()
    for _ in range(deps.config.auth_max_failures):
        assert _login(client, "wrong").status_code == 200
    refused = _login(client, ALICE_KEY)  # the right key too: else guessing would go on
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert _login(app.test_client(), "nope", REMOTE_ADDR="10.0.0.9").status_code == 200  # another source and key
    assert _login(app.test_client(), "wrong", REMOTE_ADDR="10.0.0.9").status_code == 429  # the same key prefix
    now[0] += deps.config.auth_failure_window_s + 1
    assert _login(client, ALICE_KEY).status_code == 302
