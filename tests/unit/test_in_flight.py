"""The API's in-flight limit: past its working slots a request is answered 503 with Retry-After
at once and its body is left unread; uploads are not counted; a slot comes back when the answer
is closed, or when the app raises."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest

from trackscan.api import serving
from trackscan.api.in_flight import QUEUE_WAITS, RETRY_AFTER_S, InFlightLimit
from trackscan.api.request_guard import RequestGuard
from trackscan.domain.config import Config

WAIT_S = 0.05


class Blocking:
    """A WSGI app that holds each request until released; counts the requests it saw."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.seen = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.seen += 1
        self.entered.release()
        self.release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def _environ(body: bytes = b"", chunked: bool = False) -> dict[str, Any]:
    environ = {"REQUEST_METHOD": "POST" if body else "GET", "wsgi.input": io.BytesIO(body)}
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    elif body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _call(guard: RequestGuard, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    response = guard(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()  # type: ignore[attr-defined]  # as the server does once the answer is written
    return answer["status"], answer["headers"], body


def _hold_slots(guard: RequestGuard, app: Blocking, count: int, environ: dict[str, Any] | None = None) -> list:
    holders = [threading.Thread(target=_call, args=(guard, environ or _environ())) for _ in range(count)]
    for holder in holders:
        holder.start()
        assert app.entered.acquire(timeout=5)
    return holders


def _guard(app: Blocking, slots: int) -> RequestGuard:
    return RequestGuard(app, 1 << 20, 5.0, app, InFlightLimit(slots, wait_s=WAIT_S))


def test_a_request_past_the_working_slots_is_answered_503_with_retry_after_and_its_body_unread():
    app = Blocking()
    guard = _guard(app, slots=2)
    holders = _hold_slots(guard, app, 2)
    environ = _environ(b'{"source_uri": "gs://b/acme/a.ogg"}')
    began = time.monotonic()
    status, headers, body = _call(guard, environ)
    took_s = time.monotonic() - began
    assert status.startswith("503") and headers["Retry-After"] == str(RETRY_AFTER_S)
    assert b'"UNAVAILABLE"' in body and app.seen == 2
    assert environ["wsgi.input"].tell() == 0  # the body was never read
    assert WAIT_S <= took_s < 1.0
    app.release.set()
    for holder in holders:
        holder.join(5)
    assert _call(guard, _environ())[0].startswith("200")  # the slots came back


def test_a_request_waits_for_a_slot_that_comes_free_within_the_wait():
    app = Blocking()
    guard = RequestGuard(app, 1 << 20, 5.0, app, InFlightLimit(1, wait_s=2.0))
    holders = _hold_slots(guard, app, 1)
    threading.Timer(0.2, app.release.set).start()
    assert _call(guard, _environ())[0].startswith("200")
    holders[0].join(5)


@pytest.mark.parametrize("upload", [_environ(b"x" * (128 << 10)), _environ(b"chunk", chunked=True)])
def test_uploads_are_not_counted_against_the_slots(upload):
    app = Blocking()
    guard = _guard(app, slots=1)
    holders = _hold_slots(guard, app, 1)
    finished = []
    sender = threading.Thread(target=lambda: finished.append(_call(guard, upload)))
    sender.start()
    assert app.entered.acquire(timeout=5)  # the upload reached the app past the full slot
    app.release.set()
    sender.join(5)
    holders[0].join(5)
    assert finished and finished[0][0].startswith("200")


def test_a_slot_comes_back_when_the_app_raises():
    def failing(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("boom")

    guard = RequestGuard(failing, 1 << 20, 5.0, failing, InFlightLimit(1, wait_s=WAIT_S))
    for _ in range(3):  # a slot kept by the first would answer the second 503 instead of raising
        with pytest.raises(RuntimeError):
            guard(_environ(), lambda *a: None)


def test_the_api_gets_three_quarters_of_its_threads_unless_configured(monkeypatch):
    monkeypatch.setattr(serving, "threads", 20)
    assert serving.in_flight_limit(Config.from_env({})).slots == 15
    monkeypatch.setattr(serving, "threads", 1)
    assert serving.in_flight_limit(Config.from_env({})).slots == 1
    assert serving.in_flight_limit(Config.from_env({"TRACKSCAN_API_MAX_IN_FLIGHT": "4"})).slots == 4


def test_a_request_that_waited_past_the_wait_for_a_thread_is_refused_though_a_slot_is_free():
    app = Blocking()
    app.release.set()
    guard = _guard(app, slots=4)
    client, server = socket.socketpair()
    with client, server:
        for environ in (_environ(), _environ(b"chunk", chunked=True)):  # a read, and an upload
            QUEUE_WAITS.queued(server)
            time.sleep(WAIT_S * 1.5)  # queued behind busy threads for longer than the wait
            QUEUE_WAITS.taken(server)
            status, headers, _ = _call(guard, environ)
            assert status.startswith("503") and headers["Retry-After"] == str(RETRY_AFTER_S)
        QUEUE_WAITS.queued(server)
        QUEUE_WAITS.taken(server)  # taken up at once
        time.sleep(WAIT_S * 1.5)  # then slow to send its request: not a wait for the server
        assert _call(guard, _environ())[0].startswith("200")
    assert app.seen == 1
