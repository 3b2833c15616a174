"""How the image and the dev stack serve functions/main.py: gunicorn, functions-framework, the guard.

gunicorn loads ``create_app`` and reads its settings from this module::

    gunicorn --config python:trackscan.api.serving 'trackscan.api.serving:create_app()'

The API target is wrapped in ``RequestGuard`` (the outermost app), so a refused request is
answered from its headers and its body is never read (see ``trackscan.api.request_guard``).
The other targets take Pub/Sub pushes and are served as functions-framework serves them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from trackscan.api.in_flight import QUEUE_WAITS, InFlightLimit
from trackscan.api.request_guard import RequestGuard, StartResponse, WsgiApp
from trackscan.domain.config import Config

API_TARGET = "api"
DEFAULT_SOURCE = "functions/main.py"

# gunicorn settings (read by `gunicorn --config python:trackscan.api.serving`). The threaded
# worker: a request holds a thread while it runs, and a sender holds one at most the API's body
# timeout (TRACKSCAN_API_BODY_TIMEOUT_S); a refused one, no longer than its headers take.
# THREADS and PORT as functions-framework reads them (Cloud Run sets PORT).
worker_class = "trackscan.api.serving.QueueTimedWorker"
workers = 1
threads = int(os.environ.get("THREADS", (os.cpu_count() or 1) * 4))
bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
# 0: no worker heartbeat kill. The threaded worker's heartbeat runs beside its requests, and
# Cloud Run ends a request at the service's timeout itself.
timeout = 0
# Idle kept-alive connections close after this many seconds (a poller holds them, not a thread).
keepalive = 5
limit_request_line = 0
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "error")


class QueueTimedWorker(ThreadWorker):
    """gunicorn's threaded worker, noting how long each connection waits for a thread.

    The request guard reads the wait, so a request that waited too long in the queue is answered
    503 before it is worked on (``trackscan.api.in_flight``).
    """

    def enqueue_req(self, conn: Any) -> None:
        """Notes when the connection joins the queue, then queues it as gunicorn does."""
        QUEUE_WAITS.queued(conn.sock)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        """Notes the connection's wait for this thread, then handles it as gunicorn does."""
        QUEUE_WAITS.taken(conn.sock)
        return super().handle(conn)


def create_app(target: str | None = None, source: str | None = None) -> WsgiApp:
    """functions-framework's app for ``target`` (FUNCTION_TARGET by default) of ``source``.

    The API's is guarded: bodies over ``TRACKSCAN_MAX_FILE_BYTES`` (the largest upload) are
    refused with 413, and must arrive within ``TRACKSCAN_API_BODY_TIMEOUT_S`` (408); past
    ``TRACKSCAN_API_MAX_IN_FLIGHT`` requests at work, the others are answered 503.
    """
    import functions_framework

    target = target or os.environ.get("FUNCTION_TARGET", "")
    app: WsgiApp = functions_framework.create_app(target, source or DEFAULT_SOURCE)
    if target != API_TARGET:
        return app
    config = Config.from_env()
    limit = in_flight_limit(config)
    return RequestGuard(app, config.max_file_bytes, config.api_body_timeout_s, too_large(config.max_file_bytes), limit)


def in_flight_limit(config: Config) -> InFlightLimit:
    """The API's working slots: TRACKSCAN_API_MAX_IN_FLIGHT, or three quarters of the server's threads.

    The other quarter answers the 503s and the uploads, so a busy instance still says so at once.
    """
    return InFlightLimit(config.api_max_in_flight or max(1, threads * 3 // 4))


def too_large(limit_bytes: int) -> WsgiApp:
    """The API's 413 answer for a body announced over ``limit_bytes``, as its error handlers write it."""
    message = f"The request body exceeds the limit of {limit_bytes} bytes."
    body = json.dumps({"error": {"code": "PAYLOAD_TOO_LARGE", "message": message}}).encode()

    def answer(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response(
            "413 Request Entity Too Large", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return answer
