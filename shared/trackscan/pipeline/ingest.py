"""Ingest: create the track record, probe the audio and plan its segments, or tag a short track whole."""

from __future__ import annotations

import logging

from trackscan.domain.errors import BadAudioError
from trackscan.domain.messages import SegmentPlanned, UploadReceived, pinned_uri
from trackscan.domain.tracks import TrackRecord, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline import failpoints
from trackscan.pipeline.announce import announce
from trackscan.pipeline.backfill import rerun_record
from trackscan.pipeline.deps import Deps, track_prefix
from trackscan.pipeline.reuse import serve_previous_result
from trackscan.pipeline.segment_plan import plan_segments, segment_length_s
from trackscan.pipeline.steps import INGEST as STEP
from trackscan.pipeline.whole_track import read_whole, tag_whole_track

log = logging.getLogger(__name__)


def handle(message: UploadReceived, deps: Deps) -> None:
    """Tags a track whole, or plans its segments and publishes one message per segment.

    A track that fits one unit of work is tagged here (pipeline.whole_track); a longer one goes
    through the segment chain.

    Idempotent: a duplicate event for a finished track changes nothing; for an unfinished one it
    tags it again or republishes the segment messages, whose handlers skip work already done.
    """
    candidate = new_record(message.source_uri, message.generation, message.partner, STEP)
    if message.backfill_model:
        candidate = rerun_record(candidate, message.backfill_model)  # the original keeps its result meanwhile
    record = deps.tracks.create_if_absent(candidate)
    if message.force:
        record = _restart(record, deps)
    if record.state.is_final:
        log.info("track already finished", extra={"track_id": record.track_id, "state": record.state.value})
        announce(record, deps)  # the copy of this event that finished it may have died before announcing
        return
    if message.size_bytes > deps.config.max_file_bytes:
        raise BadAudioError(
            "TOO_LARGE",
            f"The file is {message.size_bytes >> 20} MiB; the limit is {deps.config.max_file_bytes >> 20} MiB.",
        )
    # Pinned to this generation, so an overwrite cannot change a track mid-way.
    source_uri = pinned_uri(message.source_uri, message.generation)
    content_hash = deps.blobs.content_hash(message.source_uri, message.generation)
    if not message.force and serve_previous_result(record, content_hash, STEP, deps):
        return  # the same bytes were tagged before by this model: no decoding, no inference
    whole = read_whole(message, source_uri, deps)
    if whole is not None and whole.segments is not None:
        tag_whole_track(record, whole.segments, content_hash, deps)
        return
    info = whole.info if whole is not None else deps.decoder.probe(source_uri, deps.config.max_duration_s)
    plans = plan_segments(info.duration_s, segment_length_s(deps.config.segment_s, info.sample_rate, info.channels))
    for index, (start_s, duration_s) in enumerate(plans):
        planned = SegmentPlanned(record.track_id, source_uri, index, len(plans), start_s, duration_s)
        deps.publisher.publish(planned)
    # Only after publishing: a crash in between redelivers the event and republishes.
    deps.tracks.apply(
        record.track_id, Transition(TrackState.EXTRACTING, STEP, segments_total=len(plans), content_hash=content_hash)
    )
    failpoints.hit("after_ingest_commit")


def _restart(record: TrackRecord, deps: Deps) -> TrackRecord:
    deps.blobs.delete_prefix(track_prefix(deps, record.track_id))
    restarted = deps.tracks.apply(record.track_id, Transition(TrackState.RECEIVED, "force", restart=True))
    return restarted or record
