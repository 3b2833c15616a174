"""Messages between the pipeline steps: frozen dataclasses that carry ids and URIs, never audio.

Each message names an event in the past tense. ``to_json``/``from_json`` give the wire form used
by every transport (Pub/Sub data, the in-process queue).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class UploadReceived:
    """An audio object arrived (GCS notification, API submit or a local file)."""

    kind: ClassVar[str] = "upload-received"
    source_uri: str
    generation: str
    size_bytes: int
    partner: str = "local"
    force: bool = False  # redo a finished track from scratch
    backfill_model: str = ""  # a backfill re-run by the model with this sha256 (trackscan.backfill)


@dataclass(frozen=True)
class SegmentPlanned:
    """One time range of a track is ready to be decoded and turned into features."""

    kind: ClassVar[str] = "segment-planned"
    track_id: str
    source_uri: str
    segment_index: int
    segments_total: int
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class FeaturesReady:
    """The features blob of one segment was written."""

    kind: ClassVar[str] = "features-ready"
    track_id: str
    segment_index: int
    segments_total: int
    features_uri: str


@dataclass(frozen=True)
class TrackInferred:
    """Every segment of a track has predictions: the track can be finalized."""

    kind: ClassVar[str] = "track-inferred"
    track_id: str
    segments_total: int


Message = UploadReceived | SegmentPlanned | FeaturesReady | TrackInferred
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls for cls in (UploadReceived, SegmentPlanned, FeaturesReady, TrackInferred)
}


def to_json(message: Message) -> str:
    """Serializes a message, tagged with its kind."""
    return json.dumps({"kind": message.kind, **asdict(message)}, sort_keys=True)


def from_json(data: str | bytes) -> Message:
    """Parses a message written by ``to_json``.

    Raises:
        ValueError: the data is not a known message (callers map it to BadMessageError).
    """
    payload: Any = json.loads(data)
    if not isinstance(payload, dict):
        raise ValueError("a message is a JSON object")
    cls = MESSAGE_TYPES.get(payload.pop("kind", None))
    if cls is None:
        raise ValueError("unknown message kind")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in payload.items() if k in names})
    except TypeError as exc:  # a required field is missing
        raise ValueError(str(exc)) from exc
