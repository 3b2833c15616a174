"""A small catalogue for the support console's tests: two partners, tracks in every state, known timelines."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.pipeline_fixtures import make_deps
from tests.tag_fixtures import tag_scores
from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.api import create_app
from trackscan.domain.file_uris import uri_of
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.tracks import ErrorInfo, FailedAttempt, TimelineEvent, TrackRecord, TrackState, new_record
from trackscan.pipeline.deps import Deps

ALICE_KEY, CAROL_KEY = "alice-console-key", "carol-console-key"  # alice: every partner; carol: acme only
MODEL = ModelInfo("musicnn", "ab" * 32)
BUCKET = "gs://trackscan-ingest"


@dataclass(frozen=True)
class Catalogue:
    """The seeded tracks by role."""

    done: TrackRecord  # acme, DONE
    thunder: TrackRecord  # acme, DONE, sounding like ``done``
    stuck: TrackRecord  # acme, INFERRING for minutes, infer failing against Triton
    failed: TrackRecord  # acme, FAILED (CORRUPT); its file exists, so it can be retried
    beta_failed: TrackRecord  # beta, FAILED
    beta_done: TrackRecord  # beta, DONE, sounding just like acme's DONE track


def console_deps(home: Path) -> Deps:
    """Local ports with both console logins configured."""
    return make_deps(
        home, api_keys="acme:key-acme, beta:key-beta", console_keys=f"alice:{ALICE_KEY}:*, carol:{CAROL_KEY}:acme"
    )


def console_app(deps: Deps, ingest: Path):  # returns a Flask app
    """The API with its console, over the local folder adapter."""
    return create_app(deps, ingest_root_uri=uri_of(ingest))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _stored(
    deps: Deps,
    source: Path | str,
    partner: str,
    state: TrackState,
    steps: list[tuple[str, str, int, float]],
    **fields: object,
) -> TrackRecord:
    """A record of a real file (a Path, so it can be retried) or of a gs:// URI, its timeline made of
    (state, step, attempt, seconds ago) events."""
    uri, generation = (source, "1764666000000000") if isinstance(source, str) else _file(source)
    now = datetime.now(UTC)
    timeline = tuple(
        TimelineEvent(s, _iso(now - timedelta(seconds=ago)), step, attempt) for s, step, attempt, ago in steps
    )
    record = replace(
        new_record(uri, generation, partner, "ingest"),
        state=state,
        timeline=timeline,
        created_at=timeline[0].time,
        updated_at=timeline[-1].time,
        **fields,
    )
    return deps.tracks.create_if_absent(record)


def _file(path: Path) -> tuple[str, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + bytes(path.name, "utf-8") * 64)
    info = FolderBlobStore().stat(uri_of(path))
    assert info is not None
    return uri_of(path), info.generation


def _result(top: list[str], embedding: list[float]) -> TrackResult:
    return TrackResult(tag_scores(), top, 128.0, "A minor", -11.0, 184.0, embedding)


def seed(deps: Deps, ingest: Path) -> Catalogue:
    """Stores the catalogue; file names under <ingest>/<partner>/."""
    storm = [1.0, 0.2] * 100
    done = _stored(
        deps,
        f"{BUCKET}/acme/storm.ogg",
        "acme",
        TrackState.DONE,
        [
            ("RECEIVED", "ingest", 1, 600),
            ("EXTRACTING", "ingest", 1, 599.6),
            ("INFERRING", "infer", 1, 596.0),
            ("DONE", "finalize", 1, 590.5),
        ],
        segments_total=4,
        result=_result(["techno", "fast", "electronic"], storm),
        model=MODEL,
    )
    thunder = _stored(
        deps,
        f"{BUCKET}/acme/thunder.ogg",
        "acme",
        TrackState.DONE,
        [("RECEIVED", "ingest", 1, 500), ("DONE", "finalize", 1, 480)],
        result=_result(["techno", "loud"], [1.0, 0.3] * 100),
        model=MODEL,
    )
    stuck = _stored(
        deps,
        f"{BUCKET}/acme/nocturne.flac",
        "acme",
        TrackState.INFERRING,
        [("RECEIVED", "ingest", 1, 420), ("EXTRACTING", "ingest", 1, 419.5), ("INFERRING", "infer", 1, 400)],
        segments_total=4,
        last_failed_attempt=FailedAttempt(
            "infer",
            6,
            "RetryableError: Triton unreachable at triton:8001 (deadline exceeded)",
            _iso(datetime.now(UTC) - timedelta(seconds=20)),
            1,
        ),
    )
    failed = _stored(
        deps,
        ingest / "acme" / "broken.mp3",
        "acme",
        TrackState.FAILED,
        [("RECEIVED", "ingest", 1, 300), ("FAILED", "ingest", 1, 299.8)],
        error=ErrorInfo("CORRUPT", "The file is damaged: no audio frame could be decoded.", "ingest"),
    )
    beta_failed = _stored(
        deps,
        f"{BUCKET}/beta/beta-secret-demo.wav",
        "beta",
        TrackState.FAILED,
        [("RECEIVED", "ingest", 1, 200), ("FAILED", "features", 1, 190)],
        error=ErrorInfo("TRUNCATED", "The file holds less audio than its header says.", "features"),
    )
    beta_done = _stored(
        deps,
        f"{BUCKET}/beta/beta-storm-copy.ogg",
        "beta",
        TrackState.DONE,
        [("RECEIVED", "ingest", 1, 100), ("DONE", "finalize", 1, 90)],
        result=_result(["techno"], storm),
        model=MODEL,
    )
    return Catalogue(done, thunder, stuck, failed, beta_failed, beta_done)
