"""How long a request may wait to be worked on, and how many are worked on at once.

A request waits first for a server thread (in gunicorn's queue), then for a working slot. Once
it has waited ``WAIT_S`` in all it is answered 503 with Retry-After instead: its client's
patience is spent, and working on it would only make the requests behind it later still.
Without this, a saturated instance answered everything late (p99 3.7 s at twice the rate it
held on the dev stack, BENCHMARKS.md) and never said it was busy. With it, past saturation the
requests it takes keep their latency and the others learn at once to come back.

The queue's wait runs from when gunicorn handed the connection to its thread pool until a
thread took it up (``QueueTimedWorker`` in ``trackscan.api.serving`` notes both); the time a
client takes to send its request is not counted. Under another server only the wait for a slot
counts. Uploads take no slot: a streamed body holds its thread for as long as
its sender takes, bounded by the server's threads and the body timeout
(``trackscan.api.request_guard``), and a few slow senders must not turn every read away.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

# How long a request may wait, for a thread and then a slot, before it is answered 503.
WAIT_S = 0.25
# What a client is told to wait after a 503 for a busy instance.
RETRY_AFTER_S = 1


class InFlightLimit:
    """At most ``slots`` requests at work at once; the rest wait ``wait_s`` for a slot, then are refused."""

    def __init__(self, slots: int, wait_s: float = WAIT_S) -> None:
        self.slots = slots
        self.wait_s = wait_s
        self._free = threading.BoundedSemaphore(slots)

    def enter(self, waited_s: float = 0.0) -> bool:
        """Takes a slot, waiting what is left of ``wait_s`` after ``waited_s``; False when none came free."""
        left_s = self.wait_s - waited_s
        return left_s > 0 and self._free.acquire(timeout=left_s)

    def leave(self) -> None:
        """Gives the slot back."""
        self._free.release()


class QueueWaits:
    """How long the connection a server thread works on waited in the server's queue for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued_at: weakref.WeakKeyDictionary[socket.socket, float] = weakref.WeakKeyDictionary()
        self._taken = threading.local()

    def queued(self, sock: socket.socket) -> None:
        """The connection joins the queue for a thread now."""
        with self._lock:
            self._queued_at[sock] = time.monotonic()

    def taken(self, sock: socket.socket) -> None:
        """The calling thread takes the connection up: its wait is this thread's from now on."""
        with self._lock:
            queued_at = self._queued_at.pop(sock, None)
        self._taken.waited_s = time.monotonic() - queued_at if queued_at is not None else 0.0

    def waited_s(self) -> float:
        """How long the calling thread's connection waited in the queue, read once; 0 when unknown."""
        waited_s = float(getattr(self._taken, "waited_s", 0.0))
        self._taken.waited_s = 0.0  # one request's: another server or a test must not inherit it
        return waited_s


# The server process's one record: gunicorn's worker notes, the guard reads.
QUEUE_WAITS = QueueWaits()


def busy(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The API's 503 for a busy instance, as its error handlers write errors."""
    message = f"The API is busy; try again in {RETRY_AFTER_S} s."
    body = json.dumps({"error": {"code": "UNAVAILABLE", "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("503 Service Unavailable", [*headers, ("Retry-After", str(RETRY_AFTER_S))])
    return [body]
