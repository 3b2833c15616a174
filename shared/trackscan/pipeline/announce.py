"""Announces a final track: its result event goes to the results topic (the deliver step's).

Called after the state change is committed, and again by a redelivered step that finds the
track already final, so an event lost between the commit and the publish is sent by the retry.
Every copy carries the same event id (trackscan.domain.result_events).
"""

from __future__ import annotations

from trackscan.domain.result_events import result_event
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.pipeline.deps import Deps


def announce(record: TrackRecord, deps: Deps) -> None:
    """Publishes the result event of a final record; a record not final is left alone.

    A backfill re-run is announced as its original's ``track.retagged``: the partner knows the
    original's id, and the re-run's own record is the pipeline's business. A failed re-run
    changed nothing the partner sees, so it is not announced.
    """
    if not record.state.is_final:
        return
    retagged = record.rerun_of is not None
    if record.rerun_of is not None:
        original = deps.tracks.get(record.rerun_of) if record.state is TrackState.DONE else None
        if original is None or original.model != record.model:
            return  # the original keeps its result (or is not yet superseded: its commit comes first)
        record = original
    deps.publisher.publish(result_event(record, retagged=retagged, with_embedding=deps.config.results_embedding))
