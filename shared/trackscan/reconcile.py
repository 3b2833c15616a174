"""Reconcile: find tracks that stopped moving and send them through ingest again.

Every step's progress lives in the track store and the work bucket, and every handler skips
work already done, so replaying a track's UploadReceived is always safe: ingest plans the same
segments again, finished features and predictions are reused, and a track whose last message
was lost (a restarted Pub/Sub emulator keeps nothing, a notification that never came, a
message dropped by hand) completes. Run it on a schedule, or after an incident.

A healthy track may also look stalled when one state lasts longer than the threshold (a long
track in INFERRING): replaying it costs a little work and changes nothing, so err long.
updated_at is written by the workers' clocks: keep the threshold far above their skew.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from trackscan.messages import UploadReceived
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.steps import record_failure
from trackscan.ports import TrackStore
from trackscan.tracks import ErrorInfo, TrackRecord, TrackState

log = logging.getLogger(__name__)
STEP = "reconcile"
UNFINISHED = (TrackState.RECEIVED, TrackState.DECODING, TrackState.INFERRING)
PAGE_SIZE = 200


def reconcile(deps: Deps, older_than_s: float, now: datetime | None = None) -> int:
    """Republishes the UploadReceived of every unfinished track not updated for older_than_s.

    A track whose object version no longer exists cannot finish: it is recorded FAILED
    (SOURCE_GONE) instead of being replayed forever.

    Returns:
        How many stalled tracks were found (each replayed or recorded FAILED).
    """
    stalled = stalled_tracks(deps.tracks, older_than_s, now or datetime.now(UTC))
    for record in stalled:
        upload = upload_of(record, deps)
        if upload is None:
            error = ErrorInfo("SOURCE_GONE", "The object was deleted or replaced before the track "
                              "finished, so it cannot be tagged.", STEP)
            record_failure(deps, record.track_id, error, attempt=1)
            log.warning("stalled track's source is gone", extra={"track_id": record.track_id})
            continue
        deps.publisher.publish(upload)
        log.info("stalled track replayed", extra={"track_id": record.track_id, "state": record.state.value,
                                                  "updated_at": record.updated_at})
    return len(stalled)


def stalled_tracks(tracks: TrackStore, older_than_s: float, now: datetime) -> list[TrackRecord]:
    """Unfinished tracks last updated more than older_than_s before now, oldest first.

    Collected before anything is replayed: a replay moves records between states, which would
    shift a paging cursor under our feet.
    """
    cutoff = now - timedelta(seconds=older_than_s)
    found: dict[str, TrackRecord] = {}
    for state in UNFINISHED:
        for record in _all_in_state(tracks, state):
            if datetime.fromisoformat(record.updated_at) <= cutoff:
                found[record.track_id] = record
    return sorted(found.values(), key=lambda r: r.updated_at)


def _all_in_state(tracks: TrackStore, state: TrackState) -> list[TrackRecord]:
    records: list[TrackRecord] = []
    after: str | None = None
    while True:
        page = tracks.query(None, state, PAGE_SIZE, after)
        records += page
        if len(page) < PAGE_SIZE:
            return records
        after = page[-1].track_id


def upload_of(record: TrackRecord, deps: Deps) -> UploadReceived | None:
    """The upload event of a track, or None when its object version no longer exists."""
    info = deps.blobs.stat(f"{record.source_uri}#{record.generation}")
    if info is None or info.generation != record.generation:
        return None
    return UploadReceived(record.source_uri, record.generation, info.size_bytes, record.partner)
