"""The outermost WSGI layer of the API: a request body is read only by the route that uses it.

A request is authenticated and routed from its headers (``trackscan.api.app``); the body is read
only by the route that accepts it. Everything around the route reads bodies too: functions-framework
reads the whole body after every response (its ``read_request`` hook, "to avoid connection
errors"), and gunicorn drains an unread body before it reuses a connection. A refused upload was
thus read to its end, into memory, holding a thread for as long as its sender took.

``RequestGuard`` stands between the server and the app:

- a body announced larger than the largest a route accepts is answered 413 before the app runs;
- the body the app sees stops at that limit (413) and at a deadline per request (408), so a slow
  sender holds a thread for ``read_timeout_s`` at most;
- once the app has answered (``seal``), the body reads as empty, so no hook reads the rest;
- a connection whose body was not read to its end is shut once the answer is written, so the
  server closes it without draining: a refused 48 MiB upload costs a header's worth of reading;
- with an ``InFlightLimit``, a request that waited too long for a thread or a working slot is
  answered 503 (``trackscan.api.in_flight``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from trackscan.api.in_flight import QUEUE_WAITS, InFlightLimit, busy

log = logging.getLogger(__name__)

# Where the app finds the guarded body to seal it (see ``seal``).
ENVIRON_KEY = "trackscan.request_body"
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# A body larger than this, or chunked, is an upload: the in-flight limit leaves it to the threads.
UPLOAD_BYTES = 64 << 10


class GuardedBody:
    """``wsgi.input`` read at most up to ``limit_bytes`` and until ``deadline`` (time.monotonic).

    Args:
        stream: the server's ``wsgi.input``.
        limit_bytes: the most a route accepts; reading past it raises a 413.
        deadline: when reading stops with a 408.
        sock: the client socket, whose read side is shut at the deadline; None where the server
            does not expose it (the deadline is then checked between reads).
        length: the announced length (Content-Length); None for a chunked body or none at all.
        chunked: whether the body is chunked (it ends where a read returns nothing).
    """

    def __init__(
        self,
        stream: IO[bytes],
        limit_bytes: int,
        deadline: float,
        sock: socket.socket | None,
        length: int | None,
        chunked: bool,
    ) -> None:
        self._stream = stream
        self._limit_bytes = limit_bytes
        self._deadline = deadline
        self._sock = sock
        self._length = length
        self.read_bytes = 0
        self.at_end = not (length or chunked)
        self.sealed = False
        self._timed_out = False
        self._timer: threading.Timer | None = None

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative or None)."""
        return self._read(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, of at most ``size`` bytes."""
        return self._read(self._stream.readline, size)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def seal(self) -> None:
        """The app has answered: the body reads as empty from now on."""
        self.sealed = True
        self._stop_timer()

    def _read(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        if self.sealed or self.at_end:
            return b""
        if time.monotonic() >= self._deadline:
            raise _timed_out(self.read_bytes)
        self._start_timer()
        # One byte past the limit shows the body is too large; never more.
        room = self._limit_bytes + 1 - self.read_bytes
        wanted = room if size is None or size < 0 else min(size, room)
        try:
            data = reader(wanted)
        except Exception as exc:
            if self._timed_out:
                raise _timed_out(self.read_bytes) from exc
            raise
        if self._timed_out:
            raise _timed_out(self.read_bytes)
        self.read_bytes += len(data)
        if (not data and wanted) or (self._length is not None and self.read_bytes >= self._length):
            self.at_end = True
            self._stop_timer()
        if self.read_bytes > self._limit_bytes:
            raise RequestEntityTooLarge()
        return data

    def _start_timer(self) -> None:
        # A socket timeout bounds each recv, not the body: a byte a second never trips it. So at
        # the deadline the read side is shut, which ends the server's read at once. Started on
        # the first read only: a request answered from its headers costs no timer.
        if self._timer is not None:
            return
        self._timer = threading.Timer(self._deadline - time.monotonic(), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        if self.sealed or self.at_end:
            return
        self._timed_out = True
        if self._sock is not None:
            _shut(self._sock, socket.SHUT_RD)


def _timed_out(read_bytes: int) -> RequestTimeout:
    log.info("request body timed out", extra={"read_bytes": read_bytes})
    return RequestTimeout("The request body did not arrive in time.")


def seal(environ: dict[str, Any]) -> None:
    """Marks the request answered: nothing after the app (a framework hook) reads its body."""
    body = environ.get(ENVIRON_KEY)
    if body is not None:
        body.seal()


class RequestGuard:
    """WSGI middleware bounding what a request's body may cost (see the module docstring).

    Args:
        app: the WSGI app to guard.
        limit_bytes: the largest body any route accepts.
        read_timeout_s: seconds from the start of a request until its body must have arrived.
        too_large: answers a body announced over the limit (``too_large(environ, start_response)``).
        in_flight: the working slots of requests other than uploads; None: no limit.
    """

    def __init__(
        self,
        app: WsgiApp,
        limit_bytes: int,
        read_timeout_s: float,
        too_large: WsgiApp,
        in_flight: InFlightLimit | None = None,
    ) -> None:
        self._app = app
        self._limit_bytes = limit_bytes
        self._read_timeout_s = read_timeout_s
        self._too_large = too_large
        self._in_flight = in_flight

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answers an oversized request itself; passes any other on with its body guarded."""
        length = _content_length(environ)
        sock = environ.get("gunicorn.socket")
        if length is not None and length > self._limit_bytes:
            log.info("request body too large", extra={"content_length": length, "limit_bytes": self._limit_bytes})
            return _ShutAfter(self._too_large(environ, _closing(start_response, None)), sock, None)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        slot = None
        if self._in_flight is not None:
            waited_s = QUEUE_WAITS.waited_s()
            upload = chunked or (length or 0) > UPLOAD_BYTES
            admitted = self._in_flight.enter(waited_s) if not upload else waited_s < self._in_flight.wait_s
            if not admitted:
                log.warning("api busy: request refused", extra={"waited_s": round(waited_s, 3)})
                return _ShutAfter(busy(environ, _closing(start_response, None)), sock, None)
            slot = self._in_flight if not upload else None
        body = GuardedBody(
            environ["wsgi.input"], self._limit_bytes, time.monotonic() + self._read_timeout_s, sock, length, chunked
        )
        environ["wsgi.input"] = environ[ENVIRON_KEY] = body
        try:
            answer = self._app(environ, _closing(start_response, body))
        except BaseException:
            if slot is not None:
                slot.leave()
            raise
        return _ShutAfter(answer, sock, body, slot.leave if slot is not None else None)


def _closing(start_response: StartResponse, body: GuardedBody | None) -> StartResponse:
    """start_response, announcing ``Connection: close`` when the answer leaves the body unread.

    gunicorn would otherwise keep the connection and drain the rest of the body first (up to 5 s
    in the thread, then up to 2 s in its main loop). Its start_response is a method of its
    response, whose ``force_close`` says so; other servers go without.
    """

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if body is None or not body.at_end:
            force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
            if force_close is not None:
                force_close()
        return start_response(status, headers, exc_info)

    return start


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None  # the server refuses a malformed length before the app runs


class _ShutAfter:
    """The app's answer; once the server has written it, shuts a connection whose body is unread.

    Shutting both directions makes the server's next read (its drain, its lingering close) end at
    once, and the close that follows resets the connection instead of reading the rest.
    """

    def __init__(
        self,
        answer: Iterable[bytes],
        sock: socket.socket | None,
        body: GuardedBody | None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._answer = answer
        self._sock = sock
        self._body = body
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._answer)

    def close(self) -> None:
        """Called by the server after the last byte of the answer."""
        try:
            close = getattr(self._answer, "close", None)
            if close is not None:
                close()
        finally:
            if self._on_close is not None:
                self._on_close()
                self._on_close = None
            if self._sock is not None and (self._body is None or not self._body.at_end):
                _shut(self._sock)


def _shut(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # the client is gone already
