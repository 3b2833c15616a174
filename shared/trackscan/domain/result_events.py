"""The result event of a final track: what partners, the results topic and BigQuery receive.

One event per state change: DONE (``track.done``), FAILED (``track.failed``), and a backfill's
new result on a DONE track (``track.retagged``). Its id is derived from the track, the type and
the time the change was committed, so every copy of one change (a redelivered finalize, a
replay) carries the same id, and a later change (a forced redo) gets a new one.
"""

from __future__ import annotations

import hashlib

from trackscan.domain.messages import TrackFinished
from trackscan.domain.result_rows import DESCRIPTOR_COLUMNS
from trackscan.domain.tracks import TrackRecord, TrackState

DONE, FAILED, RETAGGED = "track.done", "track.failed", "track.retagged"
EVENT_TYPES = (DONE, FAILED, RETAGGED)


def event_id(track_id: str, event_type: str, made_at: str) -> str:
    """The id of one state change of one track: ``evt_`` and 24 hex digits."""
    digest = hashlib.sha256(f"{track_id}|{event_type}|{made_at}".encode()).hexdigest()
    return f"evt_{digest[:24]}"


def latest_event(record: TrackRecord, *, with_embedding: bool = False) -> TrackFinished:
    """The event of the record's last state change: a backfill's new result is two DONEs in a row.

    Raises:
        ValueError: the record is not final.
    """
    states = [event.state for event in record.timeline[-2:]]
    retagged = states == [TrackState.DONE.value] * 2
    return result_event(record, retagged=retagged, with_embedding=with_embedding)


def result_event(record: TrackRecord, *, retagged: bool = False, with_embedding: bool = False) -> TrackFinished:
    """The event announcing a final record.

    Raises:
        ValueError: the record is not final (only DONE and FAILED are announced).
    """
    if not record.state.is_final:
        raise ValueError(f"track {record.track_id} is {record.state.value}, not final")
    if retagged:
        event_type = RETAGGED
    else:
        event_type = DONE if record.state is TrackState.DONE else FAILED
    result, model, error = record.result, record.model, record.error
    descriptors = {name: getattr(result, name) for name in DESCRIPTOR_COLUMNS} if result else {}
    tags = [
        {"tag": f"{head}.{tag}", "score": score}
        for head, scores in (result.tags if result else {}).items()
        for tag, score in scores.items()
    ]
    return TrackFinished(
        event_id=event_id(record.track_id, event_type, record.updated_at),
        type=event_type,
        track_id=record.track_id,
        partner=record.partner,
        source_uri=record.source_uri,
        generation=record.generation,
        state=record.state.value,
        made_at=record.updated_at,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        model_name=model.name if model else None,
        model_sha256=model.sha256 if model else None,
        model_variant=model.variant if model else None,
        top_tags=list(result.top_tags) if result else [],
        tags=tags,
        embedding=list(result.embedding) if result and with_embedding else [],
        **descriptors,
    )
