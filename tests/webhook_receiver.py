"""A partner's webhook receiver on loopback that verifies every event with the standardwebhooks library."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

OLD_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # test keys: 24 bytes each
NEW_SECRET = "whsec_" + "Q2FuIHlvdSBrZWVwIGEgc2VjcmV0Pz8h"


@dataclass
class Received:
    """What reached the receiver: each verified event with its headers, and what failed to verify."""

    secrets: list[str] = field(default_factory=list)  # a signature by any of them verifies
    events: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    unverified: int = 0
    status: int = 200  # what the receiver answers; set to 500 to play a failing partner
    answer: threading.Event = field(default_factory=threading.Event)  # cleared: every request hangs
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each verified event

    def __post_init__(self) -> None:
        self.answer.set()


@contextmanager
def receiver(*secrets: str, port: int = 0) -> Iterator[tuple[str, Received]]:
    """Serves http://127.0.0.1:<port>/hook until the block ends; yields its URL and what it got.

    Secrets may be added to ``got.secrets`` later (one a registration shows). port 0 takes a free
    port; a given one lets a receiver come back where it was.
    """
    got = Received(secrets=list(secrets))

    def verified(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        for secret in got.secrets:
            try:
                event: dict[str, Any] = Webhook(secret).verify(body, headers)
                return event
            except WebhookVerificationError:
                continue
        raise WebhookVerificationError("no secret of this receiver verifies the signature")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            got.answer.wait()
            try:
                got.events.append(verified(body, headers))
                got.headers.append(headers)
                got.arrived.append(time.monotonic())
            except WebhookVerificationError:
                got.unverified += 1
            with contextlib.suppress(OSError):  # a sender that gave up waiting has closed the socket
                self.send_response(got.status)
                self.send_header("content-length", "0")
                self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        got.answer.set()  # hanging requests end before the server does
        server.shutdown()
        server.server_close()
