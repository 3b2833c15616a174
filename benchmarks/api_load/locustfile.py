"""The partner API's load mix for locust (run by benchmarks/bench_api_load.py, in .venv-load).

Partners mostly read: a track's status (70 %), a page of their tracks (20 %), a submit by URI of
an object already in the bucket (10 %). Each ``Reader`` user offers one request a second, so the
offered rate is the user count. Streamed uploads of real files come from one ``Uploader`` at a
steady rate, apart from the readers, so rising rates measure the API and not the pipeline that
tags what is uploaded.

Settings come from the environment (the benchmark sets them): LOAD_API_KEY, LOAD_TRACK_IDS and
LOAD_SOURCE_URIS (comma-separated), LOAD_UPLOAD_FILES (paths), LOAD_UPLOADS_PER_S, and
LOAD_TALLY (where the status counts and accepted track ids go, as JSON, when the run ends).
"""

from __future__ import annotations

import json
import os
import random
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from locust import HttpUser, constant_throughput, events, task

API_KEY = os.environ.get("LOAD_API_KEY", "")
TRACK_IDS = [t for t in os.environ.get("LOAD_TRACK_IDS", "").split(",") if t]
SOURCE_URIS = [u for u in os.environ.get("LOAD_SOURCE_URIS", "").split(",") if u]
UPLOAD_FILES = [Path(p) for p in os.environ.get("LOAD_UPLOAD_FILES", "").split(",") if p]
UPLOADS_PER_S = float(os.environ.get("LOAD_UPLOADS_PER_S", "0.2"))
BUSY = (429, 503)  # the answers past saturation; each must say when to come back

_lock = threading.Lock()
_statuses: Counter[str] = Counter()
_busy_without_retry_after = 0
_accepted: set[str] = set()


@events.request.add_listener
def _tally(request_type: str, name: str, response: Any, exception: Any, **_: Any) -> None:
    global _busy_without_retry_after
    status = getattr(response, "status_code", 0) if response is not None else 0
    with _lock:
        _statuses[f"{name} {status}"] += 1
        if status in BUSY and not response.headers.get("Retry-After"):
            _busy_without_retry_after += 1
        if status == 202:
            _accepted.add(response.json()["track_id"])


@events.quitting.add_listener
def _write_tally(**_: Any) -> None:
    path = os.environ.get("LOAD_TALLY")
    if path:
        tally = {
            "statuses": dict(_statuses),
            "busy_without_retry_after": _busy_without_retry_after,
            "accepted_track_ids": sorted(_accepted),
        }
        Path(path).write_text(json.dumps(tally))


class Reader(HttpUser):
    """A partner's client reading status and lists, and submitting objects by URI."""

    wait_time = constant_throughput(1.0)

    def on_start(self) -> None:
        """Every request carries the partner's key."""
        self.client.headers["X-API-Key"] = API_KEY

    @task(7)
    def status(self) -> None:
        """GET a known track."""
        self.client.get(f"/v1/tracks/{random.choice(TRACK_IDS)}", name="GET /v1/tracks/{id}")

    @task(2)
    def list_tracks(self) -> None:
        """GET the newest page of the partner's tracks."""
        self.client.get("/v1/tracks?page_size=20", name="GET /v1/tracks")

    @task(1)
    def submit(self) -> None:
        """POST an object already in the bucket (repeats return the same track)."""
        self.client.post("/v1/tracks", json={"source_uri": random.choice(SOURCE_URIS)}, name="POST /v1/tracks uri")


class Uploader(HttpUser):
    """One client streaming real audio files, each under a new name: every one a new track."""

    fixed_count = 1
    wait_time = constant_throughput(UPLOADS_PER_S)

    def on_start(self) -> None:
        """Every request carries the partner's key."""
        self.client.headers["X-API-Key"] = API_KEY

    @task
    def upload(self) -> None:
        """POST a file's bytes, streamed in 64 KiB chunks (a chunked body, as a client streams it)."""
        path = random.choice(UPLOAD_FILES)
        name = f"load/{uuid.uuid4().hex}{path.suffix}"
        with path.open("rb") as audio:
            chunks = iter(lambda: audio.read(64 << 10), b"")
            self.client.post(
                "/v1/tracks",
                params={"filename": name},
                data=chunks,
                headers={"Content-Type": "audio/ogg"},
                name="POST /v1/tracks upload",
            )
