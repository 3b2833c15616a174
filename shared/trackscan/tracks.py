"""The track record: what support staff read, in SQLite locally and in Firestore in the cloud."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from trackscan.key_names import respelled


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


_STATE_RANK = {s: i for i, s in enumerate(TrackState)}


def can_move(current: TrackState, new: TrackState) -> bool:
    """Whether a track in ``current`` may move to ``new`` (forward only, final stays final)."""
    return not current.is_final and _STATE_RANK[new] > _STATE_RANK[current]


def track_id_for(source_uri: str, generation: str) -> str:
    """The track id: a digest of the object and its generation.

    A duplicate event for the same object generation maps to the same track; a new generation
    (an overwrite) is a new version of the track. Pub/Sub message ids are never used.

    Two different (source_uri, generation) pairs never share a digest input, whatever the URI
    holds ('#', '?', '%', any Unicode): ``<uri>#<generation>`` splits back at its last '#' as
    long as the generation has none, which holds for every real generation (decimal digits), so
    their ids are the ids of before. A generation with a '#' (only a hand-made message has one)
    is hashed as the hex of a JSON pair instead: hex has no '#', so the two forms never meet.
    """
    if "#" in generation:
        key = json.dumps([source_uri, generation]).encode().hex()
    else:
        key = f"{source_uri}#{generation}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"t{digest[:24]}"


RERUN_PREFIX = "r"


def rerun_track_id(track_id: str, model_sha256: str) -> str:
    """The id of a backfill re-run of a track by another model ("r..." where track ids are "t...").

    A re-run is a track record of its own, kept apart from the tracks (stores route "r" ids to their
    own table or collection), so the original keeps its result until the re-run's is committed.
    """
    digest = hashlib.sha256(f"{track_id}:{model_sha256}".encode()).hexdigest()
    return f"{RERUN_PREFIX}{digest[:24]}"


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
class ModelInfo:
    """Which model scored a track: its name, the checksum of its weights, and its variant.

    The variant is the runtime and precision it ran in (e.g. "openvino-bf16"; "" in records
    written before it was recorded).
    """

    name: str
    sha256: str
    variant: str = ""


@dataclass(frozen=True)
class ReusedResult:
    """The result was served from an earlier track with the same bytes, not computed again.

    Only times: which track it came from is logged for staff, never stored where a partner reads.
    """

    made_at: str  # when the model scored the bytes first
    reused_at: str


@dataclass(frozen=True)
class TrackResult:
    """The tags and descriptors of a finished track (the shape of ``trackscan run --json``).

    Fields added after the first release default to None, so records written before them still
    read; None also means the audio gave no answer (silence has no tempo).
    """

    tags: dict[str, dict[str, float]]
    top_tags: list[str]
    tempo_bpm: float | None
    key: str | None
    loudness_lufs: float | None
    duration_s: float
    embedding: list[float]
    tempo_confidence: float | None = None  # [0, 1]
    time_signature: int | None = None  # beats per bar, 3 or 4
    key_confidence: float | None = None  # [0, 1]
    loudness_range_lu: float | None = None  # EBU Tech 3342 LRA
    true_peak_dbtp: float | None = None  # BS.1770-4 Annex 2, 4x oversampled

    def __post_init__(self) -> None:  # a key stored as "A# major" reads as "Bb major" (key_names)
        object.__setattr__(self, "key", respelled(self.key))


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
    content_hash: str | None = None
    reused: ReusedResult | None = None
    supersede: bool = False  # a backfill: a DONE track takes another model's result, staying DONE

    def apply(self, record: TrackRecord) -> TrackRecord | None:
        """The record after this transition, or None when the transition is not allowed."""
        now = utc_now()
        event = TimelineEvent(self.state.value, now, self.step, self.attempt)
        if self.supersede:
            if record.state is not TrackState.DONE or self.result is None or record.model == self.model:
                return None  # nothing to replace, or already replaced (a repeated commit)
            return replace(
                record,
                timeline=record.timeline + (event,),
                result=self.result,
                model=self.model,
                updated_at=now,
                reused=self.reused,
            )
        if self.restart:
            return replace(
                record,
                state=TrackState.RECEIVED,
                timeline=record.timeline + (event,),
                error=None,
                result=None,
                updated_at=now,
                last_failed_attempt=None,
                reused=None,
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
            content_hash=self.content_hash or record.content_hash,
            reused=self.reused or record.reused,
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
