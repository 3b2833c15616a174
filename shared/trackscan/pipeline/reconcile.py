"""Reconcile: find tracks that stopped moving and send them through ingest again.

Every step's progress lives in the track store and the work bucket, and every handler skips
work already done, so replaying a track's UploadReceived is always safe: ingest plans the same
segments again, finished features and predictions are reused, and a track whose last message
was lost (a restarted Pub/Sub emulator keeps nothing, a notification that never came, a
message dropped by hand) completes.

In the cloud, Cloud Scheduler calls the `reconcile` function every minute; each call is one
pass of at most `reconcile_batch` tracks, oldest first, so it stays a short step and a backlog
drains over several passes. A pass can miss a track whose last step was still running when it
looked (updated_at too recent): the next pass finds it.

A healthy track may also look stalled when one state lasts longer than the threshold (a long
track in INFERRING): replaying it costs a little work and changes nothing, so err long. A replay
is noted on the record (a timeline event by `reconcile`, and updated_at), so a track that stays
stuck is replayed once per threshold, not on every pass: while a subscription is silent, replays
of every stalled track on every pass would only pile work onto the queues.
updated_at is written by the workers' clocks: keep the threshold far above their skew.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import UploadReceived
from trackscan.domain.ports import TrackQueries
from trackscan.domain.tracks import ErrorInfo, TimelineEvent, TrackRecord, TrackState, utc_now
from trackscan.domain.transitions import Transition
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import record_failure

log = logging.getLogger(__name__)
STEP = "reconcile"
UNFINISHED = (TrackState.RECEIVED, TrackState.EXTRACTING, TrackState.INFERRING)


@dataclass
class Pass:
    """What one reconcile pass did with the stalled tracks it found."""

    replayed: int = 0
    source_gone: int = 0  # recorded FAILED (SOURCE_GONE)
    errors: int = 0  # a store or publish call failed; the next pass tries again

    @property
    def stalled(self) -> int:
        """How many stalled tracks the pass found."""
        return self.replayed + self.source_gone + self.errors


@dataclass(frozen=True)
class ReplayNote(Transition):
    """A replay noted on the record: the state stays; a timeline event and updated_at say when.

    Moving updated_at makes the next pass wait its full threshold again instead of replaying a
    stalled track on every pass.
    """

    def apply(self, record: TrackRecord) -> TrackRecord | None:
        """The record with the note, or None when the track moved on since the pass looked."""
        if record.state is not self.state:
            return None
        now = utc_now()
        return replace(
            record, timeline=(*record.timeline, TimelineEvent(self.state.value, now, self.step)), updated_at=now
        )


def reconcile(deps: Deps, older_than_s: float, limit: int | None = None, now: datetime | None = None) -> Pass:
    """Republishes the UploadReceived of unfinished tracks not updated for older_than_s.

    At most limit tracks (default: the config's reconcile_batch), oldest first. A track whose
    object version no longer exists cannot finish: it is recorded FAILED (SOURCE_GONE) instead of
    being replayed forever.
    """
    done = Pass()
    batch = limit or deps.config.reconcile_batch
    for record in stalled_tracks(deps.queries, older_than_s, now or datetime.now(UTC), batch):
        try:
            if replay(record, deps, "stalled track replayed"):
                deps.tracks.apply(record.track_id, ReplayNote(record.state, STEP))
                done.replayed += 1
            else:
                done.source_gone += 1
        except RetryableError as exc:
            log.warning("stalled track not replayed", extra={"track_id": record.track_id, "error": str(exc)})
            done.errors += 1
    return done


def replay(record: TrackRecord, deps: Deps, why: str, step: str = STEP) -> bool:
    """Publishes the track's upload event again, logging ``why``; False when its source is gone.

    Ingest plans the segments again and every step redoes only what is missing, so this also
    re-derives work blobs the work bucket's lifecycle rule deleted. A track whose source is gone
    cannot finish: it is recorded FAILED (SOURCE_GONE) by ``step``.
    """
    upload = upload_of(record, deps)
    if upload is None:
        error = ErrorInfo(
            "SOURCE_GONE", "The object was deleted or replaced before the track finished, so it cannot be tagged.", step
        )
        record_failure(deps, record.track_id, error, attempt=1)
        log.warning("track's source is gone", extra={"track_id": record.track_id, "reason": why})
        return False
    deps.publisher.publish(upload)
    log.info(why, extra={"track_id": record.track_id, "state": record.state.value, "updated_at": record.updated_at})
    return True


def stalled_tracks(queries: TrackQueries, older_than_s: float, now: datetime, limit: int) -> list[TrackRecord]:
    """Up to limit unfinished tracks last updated more than older_than_s before now, oldest first."""
    cutoff = (now - timedelta(seconds=older_than_s)).astimezone(UTC).isoformat(timespec="milliseconds")
    found = [record for state in UNFINISHED for record in queries.stalled(state, cutoff, limit)]
    return sorted(found, key=lambda r: r.updated_at)[:limit]


def upload_of(record: TrackRecord, deps: Deps) -> UploadReceived | None:
    """The upload event of a track, or None when its object version no longer exists."""
    info = deps.blobs.stat(record.source_uri, record.generation)
    if info is None or info.generation != record.generation:
        return None
    return UploadReceived(record.source_uri, record.generation, info.size_bytes, record.partner)
