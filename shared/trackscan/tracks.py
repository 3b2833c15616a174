"""The track record: what support staff read, in SQLite locally and in Firestore in the cloud."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class TrackState(StrEnum):
    """Where a track is. States only move forward; FAILED and DONE are final."""

    RECEIVED = "RECEIVED"
    DECODING = "DECODING"
    INFERRING = "INFERRING"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (TrackState.DONE, TrackState.FAILED)


_STATE_RANK = {s: i for i, s in enumerate(TrackState)}


def can_move(current: TrackState, new: TrackState) -> bool:
    """Whether a track in ``current`` may move to ``new`` (forward only, final stays final)."""
    return not current.is_final and _STATE_RANK[new] > _STATE_RANK[current]


def track_id_for(source_uri: str, generation: str) -> str:
    """The track id: a digest of the object and its generation.

    A duplicate event for the same object generation maps to the same track; a new generation
    (an overwrite) is a new version of the track. Pub/Sub message ids are never used.
    """
    digest = hashlib.sha256(f"{source_uri}#{generation}".encode()).hexdigest()
    return f"t{digest[:24]}"


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class TimelineEvent:
    state: str
    time: str
    step: str
    attempt: int = 1


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str
    step: str


@dataclass(frozen=True)
class ModelInfo:
    """Which model scored a track: its name, the checksum of its weights, and the runtime and
    precision it ran in (e.g. "openvino-bf16"; "" in records written before it was recorded)."""

    name: str
    sha256: str
    variant: str = ""


@dataclass(frozen=True)
class TrackResult:
    """The tags and descriptors of a finished track (the shape of ``trackscan run --json``)."""

    tags: dict[str, dict[str, float]]
    top_tags: list[str]
    tempo_bpm: float | None
    key: str | None
    loudness_lufs: float | None
    duration_s: float
    embedding: list[float]


@dataclass(frozen=True)
class TrackRecord:
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
    updated_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON columns and Firestore documents."""
        data = asdict(self)
        data["state"] = self.state.value
        data["timeline"] = [asdict(e) for e in self.timeline]
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
        )


@dataclass(frozen=True)
class Transition:
    """A change to a track record, applied by a TrackStore only if ``can_move`` allows it."""

    state: TrackState
    step: str
    attempt: int = 1
    segments_total: int | None = None
    error: ErrorInfo | None = None
    result: TrackResult | None = None
    model: ModelInfo | None = None
    restart: bool = False  # a retry or forced redo: back to RECEIVED from any state

    def apply(self, record: TrackRecord) -> TrackRecord | None:
        """The record after this transition, or None when the transition is not allowed."""
        now = utc_now()
        event = TimelineEvent(self.state.value, now, self.step, self.attempt)
        if self.restart:
            return replace(
                record,
                state=TrackState.RECEIVED,
                timeline=record.timeline + (event,),
                error=None,
                result=None,
                updated_at=now,
            )
        if not can_move(record.state, self.state):
            return None
        return replace(
            record,
            state=self.state,
            timeline=record.timeline + (event,),
            segments_total=self.segments_total or record.segments_total,
            error=self.error or record.error,
            result=self.result or record.result,
            model=self.model or record.model,
            updated_at=now,
        )


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
