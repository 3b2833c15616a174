"""The track record: what support staff read, in SQLite locally and in Firestore in the cloud."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from trackscan.domain.results import ModelInfo, ReusedResult, TrackResult
from trackscan.domain.track_ids import track_id_for


class TrackState(StrEnum):
    """Where a track is. States only move forward; FAILED and DONE are final."""

    RECEIVED = "RECEIVED"  # ingest: the record exists, segments not planned yet
    EXTRACTING = "EXTRACTING"  # features: decoding segments, computing patches and descriptors
    INFERRING = "INFERRING"  # infer: the model scores the segments
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        """True for DONE and FAILED: nothing moves a track out of them but a forced redo."""
        return self in (TrackState.DONE, TrackState.FAILED)


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class TimelineEvent:
    """One transition in a track's history: the state entered, when, by which step and attempt."""

    state: str
    time: str
    step: str
    attempt: int = 1


@dataclass(frozen=True)
class ErrorInfo:
    """Why a track FAILED: a machine-readable code, a sentence for support, the failing step."""

    code: str
    message: str
    step: str


@dataclass(frozen=True)
class FailedAttempt:
    """The latest attempt of a step that raised and will be retried.

    The track is not FAILED, but support staff can see what keeps it from moving.
    """

    step: str
    attempt: int
    error: str
    time: str
    segment_index: int | None = None


@dataclass(frozen=True)
class TrackRecord:
    """Everything known about one version of a track: state, history, error or result."""

    track_id: str
    source_uri: str
    generation: str
    partner: str
    state: TrackState = TrackState.RECEIVED
    timeline: tuple[TimelineEvent, ...] = ()
    segments_total: int | None = None
    error: ErrorInfo | None = None
    result: TrackResult | None = None
    model: ModelInfo | None = None
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)  # last progress; a failed attempt is no progress
    last_failed_attempt: FailedAttempt | None = None
    content_hash: str | None = None  # the platform's digest of the source's bytes (see BlobStore.content_hash)
    reused: ReusedResult | None = None
    rerun_of: str | None = None  # a backfill re-run: the track whose result this one replaces

    @property
    def source_name(self) -> str:
        """The file name of the source: the last segment of its URI (decoded for file:// URIs)."""
        name = self.source_uri.rstrip("/").rsplit("/", 1)[-1]
        return unquote(name) if self.source_uri.startswith("file://") else name

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON columns and Firestore documents.

        ``source_name`` is stored too, so a store can find a track by its bare file name.
        """
        data = asdict(self)
        data["state"] = self.state.value
        data["timeline"] = [asdict(e) for e in self.timeline]
        data["source_name"] = self.source_name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackRecord:
        """Reads a dict written by ``to_dict``."""
        return cls(
            track_id=data["track_id"],
            source_uri=data["source_uri"],
            generation=str(data["generation"]),
            partner=data["partner"],
            state=TrackState(data["state"]),
            timeline=tuple(TimelineEvent(**e) for e in data.get("timeline") or ()),
            segments_total=data.get("segments_total"),
            error=ErrorInfo(**data["error"]) if data.get("error") else None,
            result=TrackResult(**data["result"]) if data.get("result") else None,
            model=ModelInfo(**data["model"]) if data.get("model") else None,
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            last_failed_attempt=_optional(FailedAttempt, data.get("last_failed_attempt")),
            content_hash=data.get("content_hash"),
            reused=_optional(ReusedResult, data.get("reused")),
            rerun_of=data.get("rerun_of"),
        )


def _optional(cls: type, data: dict[str, Any] | None) -> Any:
    return cls(**data) if data else None


def new_record(source_uri: str, generation: str, partner: str, step: str) -> TrackRecord:
    """A fresh RECEIVED record with its first timeline event."""
    now = utc_now()
    return TrackRecord(
        track_id=track_id_for(source_uri, generation),
        source_uri=source_uri,
        generation=generation,
        partner=partner,
        timeline=(TimelineEvent(TrackState.RECEIVED.value, now, step),),
        created_at=now,
        updated_at=now,
    )
