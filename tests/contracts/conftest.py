"""One contract suite per track-store port, run on every adapter that serves it.

Each test takes ``store`` and runs twice: on SQLite (marked unit, so `make check` runs it) and on
the Firestore emulator (marked emulator; skipped, with the reason, where gcloud or Java is
missing). The emulator starts once per session, on a free port, with nothing else of the stack.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tag_fixtures import tag_scores
from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.dev import DevPorts, DevStackUnavailable, processes, services
from trackscan.domain.ports import TrackStore
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.tracks import TrackRecord, TrackState, new_record
from trackscan.domain.transitions import Transition

PROJECT = "trackscan-contracts"
MODEL = ModelInfo("musicnn", "ab" * 32)
StoreFactory = Callable[[], TrackStore]


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Firestore emulator's host:port, started for this session alone."""
    try:
        services.require_tools()
    except DevStackUnavailable as exc:
        pytest.skip(f"Firestore emulator unavailable: {exc}")
    service = services.firestore_emulator(DevPorts.free())
    env = {**os.environ, **service.env}
    child, popen = processes.start_child(service.name, service.argv, env, tmp_path_factory.mktemp("firestore"))
    try:
        services.wait_ready(service, lambda: popen.poll() is None, timeout_s=90)
        yield service.ready_url.removeprefix("http://").rstrip("/")
    finally:
        processes.stop_children([child], {child.name: popen})


def _firestore_factory(host: str, monkeypatch: pytest.MonkeyPatch) -> StoreFactory:
    from google.cloud import firestore

    from trackscan.adapters.firestore_store import FirestoreTrackStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)
    collection = f"tracks-{uuid.uuid4().hex[:10]}"  # a collection per test: nothing carries over
    return lambda: FirestoreTrackStore(firestore.Client(project=PROJECT), collection)


@pytest.fixture(
    params=[pytest.param("sqlite", marks=pytest.mark.unit), pytest.param("firestore", marks=pytest.mark.emulator)]
)
def new_store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StoreFactory:
    """Opens another handle on the same store (its own connection or client), as another process would."""
    if request.param == "sqlite":
        path = str(tmp_path / "state.sqlite")
        return lambda: SqliteTrackStore(path)
    return _firestore_factory(request.getfixturevalue("firestore_emulator"), monkeypatch)


@pytest.fixture
def store(new_store: StoreFactory) -> TrackStore:
    """A fresh, empty store."""
    return new_store()


def record_of(
    name: str,
    partner: str = "p",
    generation: str = "1",
    updated_s: int = 0,
    state: TrackState = TrackState.RECEIVED,
) -> TrackRecord:
    """A record with a chosen updated_at, so "newest first" has one right answer."""
    stamp = f"2026-01-01T00:00:{updated_s:02d}.000+00:00"
    record = new_record(f"gs://ingest/{partner}/{name}", generation, partner, "ingest")
    return dataclasses.replace(record, state=state, created_at=stamp, updated_at=stamp)


def result_of(embedding: list[float] | None = None, top_tags: list[str] | None = None) -> TrackResult:
    """A finished track's result with the given embedding (200 numbers)."""
    return TrackResult(
        tags=tag_scores(),
        top_tags=top_tags or ["guitar"],
        tempo_bpm=120.0,
        key="C major",
        loudness_lufs=-14.0,
        duration_s=60.0,
        embedding=embedding if embedding is not None else [0.5] * 200,
    )


def done(
    store: TrackStore,
    name: str,
    partner: str = "acme",
    embedding: list[float] | None = None,
    content_hash: str | None = None,
) -> TrackRecord:
    """A DONE track of the partner, its result made by MODEL."""
    record = store.create_if_absent(new_record(f"gs://ingest/{partner}/{name}", "1", partner, "ingest"))
    transition = Transition(
        TrackState.DONE, "finalize", result=result_of(embedding), model=MODEL, content_hash=content_hash
    )
    finished = store.apply(record.track_id, transition)
    assert finished is not None
    return finished
