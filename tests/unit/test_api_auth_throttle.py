"""Failed authentication throttled per source address and per key prefix: 429 with Retry-After, logged."""

from __future__ import annotations

import logging

import pytest

from tests.api_fixtures import ACME, api_deps, assert_error
from trackscan.api import create_app
from trackscan.api.throttle import FailureThrottle, failure_buckets


@pytest.fixture
def clock():
    return [1000.0]


@pytest.fixture
def deps(tmp_path):
    return api_deps(tmp_path, auth_max_failures=3, auth_failure_window_s=60.0)


@pytest.fixture
def app(deps, clock):
    return create_app(deps, clock=lambda: clock[0])


def _get(client, key: str | None, source: str = "203.0.113.7"):
    headers = {"X-API-Key": key} if key is not None else {}
    return client.get("/v1/tracks", headers=headers, environ_base={"REMOTE_ADDR": source})


def test_api_answers_429_with_retry_after_when_a_source_failed_authentication_too_often(app, clock):
    client = app.test_client()
    for key in ("guess-1", "guess-2", None):
        assert_error(_get(client, key), 401, "UNAUTHENTICATED")
    throttled = _get(client, ACME["X-API-Key"])  # a right key too, from that source, until the window passes
    assert_error(throttled, 429, "RESOURCE_EXHAUSTED")
    assert throttled.headers["Retry-After"] == "60"
    assert _get(client, ACME["X-API-Key"], source="198.51.100.1").status_code == 200  # another source
    clock[0] += 61
    assert _get(client, ACME["X-API-Key"]).status_code == 200


def test_api_answers_429_when_one_key_prefix_failed_too_often_from_many_sources(app):
    client = app.test_client()
    for n in range(3):
        assert_error(_get(client, "key-acmX-guess", source=f"192.0.2.{n}"), 401)
    assert_error(_get(client, "key-acmY-guess", source="192.0.2.200"), 429, "RESOURCE_EXHAUSTED")
    assert_error(_get(client, "other-guess", source="192.0.2.200"), 401)  # another prefix, a fresh source


def test_api_logs_each_failed_authentication_with_its_outcome_when_refused_or_throttled(app, caplog):
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="trackscan.api.throttle"):
        for _ in range(4):
            _get(client, "guess")
    outcomes = [r.outcome for r in caplog.records if r.getMessage() == "authentication failed"]
    assert outcomes == ["refused", "refused", "refused", "throttled"]
    assert all(r.kind == "api" and r.source == "203.0.113.7" for r in caplog.records)
    assert all("guess" not in str(vars(r)) for r in caplog.records)  # never the key itself


def test_api_never_throttles_a_partner_when_its_key_keeps_succeeding(app):
    client = app.test_client()
    assert all(_get(client, ACME["X-API-Key"]).status_code == 200 for _ in range(10))


def test_failure_throttle_forgets_the_oldest_buckets_when_too_many_sources_failed(monkeypatch):
    monkeypatch.setattr("trackscan.api.throttle.MAX_BUCKETS", 4)
    throttle = FailureThrottle(1, 60.0, lambda: 0.0)
    for n in range(10):
        throttle.failed(failure_buckets(f"10.0.0.{n}", None))
    assert throttle.wait_s(failure_buckets("10.0.0.9", None)) == 60
    assert throttle.wait_s(failure_buckets("10.0.0.0", None)) == 0


def test_failure_throttle_never_refuses_when_the_limit_is_zero():
    throttle = FailureThrottle(0, 60.0)
    throttle.failed(["source:x"])
    assert throttle.wait_s(["source:x"]) == 0


def test_api_throttles_the_client_behind_the_front_end_when_one_proxy_hop_is_trusted(tmp_path, clock):
    # On Cloud Run every request comes from the front end's address; the client is the entry the
    # front end appended to X-Forwarded-For. A client that writes its own entries cannot hide.
    deps = api_deps(tmp_path, auth_max_failures=3, auth_failure_window_s=60.0, api_trusted_proxy_hops=1)
    client = create_app(deps, clock=lambda: clock[0]).test_client()

    def get(key: str, forwarded: str):
        headers = {"X-API-Key": key, "X-Forwarded-For": forwarded}
        return client.get("/v1/tracks", headers=headers, environ_base={"REMOTE_ADDR": "169.254.1.1"})

    for n in range(3):
        assert_error(get("guess", f"10.9.9.{n}, 203.0.113.7"), 401)  # forged entries first, then the client
    assert_error(get(ACME["X-API-Key"], "203.0.113.7"), 429, "RESOURCE_EXHAUSTED")
    assert get(ACME["X-API-Key"], "198.51.100.1").status_code == 200  # another client, the same front end


def test_api_counts_the_connection_address_when_no_proxy_is_trusted(app):
    client = app.test_client()
    for n in range(3):
        forged = {"X-API-Key": f"guess{n}-{n}", "X-Forwarded-For": f"10.9.9.{n}"}
        assert_error(client.get("/v1/tracks", headers=forged, environ_base={"REMOTE_ADDR": "203.0.113.9"}), 401)
    assert_error(_get(client, ACME["X-API-Key"], source="203.0.113.9"), 429, "RESOURCE_EXHAUSTED")
