"""Messages between the pipeline steps: frozen dataclasses that carry ids and URIs, never audio.

Each message names an event in the past tense. ``to_json``/``from_json`` give the wire form used
by every transport (Pub/Sub data, the in-process queue).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

# An object generation: GCS's int64 as decimal text, or a local file's mtime in ns.
GENERATION = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class UploadReceived:
    """An audio object arrived (GCS notification, API submit or a local file)."""

    kind: ClassVar[str] = "upload-received"
    source_uri: str
    generation: str
    size_bytes: int
    partner: str = "local"
    force: bool = False  # redo a finished track from scratch
    backfill_model: str = ""  # a backfill re-run by the model with this sha256 (trackscan.pipeline.backfill)


@dataclass(frozen=True)
class SegmentPlanned:
    """One time range of a track is ready to be decoded and turned into features."""

    kind: ClassVar[str] = "segment-planned"
    track_id: str
    source_uri: str  # pinned to the track's generation (see pinned_uri)
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


@dataclass(frozen=True)
class TrackFinished:
    """A track became DONE or FAILED, or a backfill replaced its result: the result event.

    What the results topic carries, partners' webhooks receive and BigQuery stores, one flat
    object (terraform/schemas/track_finished.proto is its schema; trackscan.domain.result_events
    builds it). ``event_id`` is the same for every copy of one state change, so a receiver
    drops repeats by it. Tags are (name, score) pairs named as ``trackscan export`` names its
    columns (``mtt.rock``); a FAILED track has none and no descriptors.
    """

    kind: ClassVar[str] = "track-finished"
    event_id: str
    type: str  # track.done, track.failed or track.retagged
    track_id: str
    partner: str
    source_uri: str
    generation: str
    state: str
    made_at: str  # when the state change was committed
    error_code: str | None = None
    error_message: str | None = None
    model_name: str | None = None
    model_sha256: str | None = None
    model_variant: str | None = None
    top_tags: list[str] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)  # {"tag": "mtt.rock", "score": 0.31}
    duration_s: float | None = None
    tempo_bpm: float | None = None
    tempo_confidence: float | None = None
    time_signature: int | None = None
    key: str | None = None
    key_confidence: float | None = None
    loudness_lufs: float | None = None
    loudness_range_lu: float | None = None
    true_peak_dbtp: float | None = None
    embedding: list[float] = field(default_factory=list)  # empty unless Config.results_embedding


Message = UploadReceived | SegmentPlanned | FeaturesReady | TrackInferred | TrackFinished
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls for cls in (UploadReceived, SegmentPlanned, FeaturesReady, TrackInferred, TrackFinished)
}


def pinned_uri(source_uri: str, generation: str) -> str:
    """The source URI pinned to one object generation: ``<uri>#<generation>`` (gsutil's form).

    Every segment of a track then reads the same version even if the object is overwritten
    meanwhile. An object name may itself hold '#', so only ``split_pinned_uri`` may read it back.

    Raises:
        ValueError: the generation is not a decimal number (GCS generations and local mtimes are).
    """
    if not GENERATION.fullmatch(generation):
        raise ValueError(f"generation {generation[:40]!r} is not a decimal number")
    return f"{source_uri}#{generation}"


def split_pinned_uri(uri: str) -> tuple[str, str | None]:
    """(source URI, generation) of a ``pinned_uri``; (uri, None) when it pins nothing.

    The pin is the last '#' and the digits after it, so '#' in the object name stays in the name:
    gs://b/p/a#1.flac#17 is gs://b/p/a#1.flac at generation 17. An unpinned gs:// URI whose name
    ends in '#<digits>' would read as pinned: that is why only pinned URIs are passed here.
    """
    head, separator, tail = uri.rpartition("#")
    if separator and GENERATION.fullmatch(tail):
        return head, tail
    return uri, None


def to_json(message: Message) -> str:
    """Serializes a message, tagged with its kind."""
    return json.dumps({"kind": message.kind, **asdict(message)}, sort_keys=True)


def from_json(data: str | bytes) -> Message:
    """Parses a message written by ``to_json``.

    Raises:
        ValueError: the data is not a known message, or a field has the wrong type (callers
            map it to BadMessageError).
    """
    payload: Any = json.loads(data)
    if not isinstance(payload, dict):
        raise ValueError("a message is a JSON object")
    cls = MESSAGE_TYPES.get(payload.pop("kind", None))
    if cls is None:
        raise ValueError("unknown message kind")
    values = {f.name: payload[f.name] for f in fields(cls) if f.name in payload}
    for f in fields(cls):
        if f.name in values and not _has_type(values[f.name], str(f.type)):
            raise ValueError(f"{cls.kind}: {f.name} must be {f.type}, not {type(values[f.name]).__name__}")
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ValueError(str(exc)) from exc


def _has_type(value: object, annotation: str) -> bool:
    # bool is an int to isinstance, and JSON writes a whole float such as 60.0 as 60 in some encoders.
    if annotation.endswith(" | None"):
        return value is None or _has_type(value, annotation.removesuffix(" | None"))
    if annotation.startswith("list["):
        return isinstance(value, list)
    if annotation == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    expected = {"str": (str,), "int": (int,), "float": (int, float)}.get(annotation)
    return expected is None or isinstance(value, expected)
