"""The whole-track unit of work: ingest tags a track that fits its budget itself, in one process.

Where Config.whole_track_max_s allows it (the worker lane), ingest opens the source once,
decodes its segments from that reader, runs the model in process and commits the result: no
work blobs, no listings, no per-segment messages. The code is the segment chain's (features_of,
the same model batches, commit_result), so a track gets the same tags either way. A track
longer than the budget allows goes through the chain.
"""

from __future__ import annotations

import functools

from trackscan.domain.decoded_audio import DecodedAudio, WholeTrack
from trackscan.domain.messages import UploadReceived
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.domain.transitions import Transition
from trackscan.pipeline import failpoints
from trackscan.pipeline.announce import announce
from trackscan.pipeline.blob_codec import SegmentPredictions
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.features import features_of
from trackscan.pipeline.finalize import commit_result
from trackscan.pipeline.infer import predict_in_batches
from trackscan.pipeline.segment_plan import plan_whole_track
from trackscan.pipeline.steps import INGEST as STEP

# A larger file goes through the segment chain: one unit reads it all, and the cloud's blob store
# reads an object whole in one call only up to 64 MiB (GcsBlobStore), ranges past it.
WHOLE_TRACK_MAX_BYTES = 64 << 20


def read_whole(message: UploadReceived, source_uri: str, deps: Deps) -> WholeTrack | None:
    """The source read once and, when the track fits one unit of work, decoded; None when not tried."""
    config = deps.config
    if config.whole_track_max_s <= 0 or message.size_bytes > WHOLE_TRACK_MAX_BYTES:
        return None
    plan = functools.partial(plan_whole_track, segment_s=config.segment_s, whole_track_max_s=config.whole_track_max_s)
    return deps.decoder.decode_whole(source_uri, config.max_duration_s, plan)


def tag_whole_track(record: TrackRecord, segments: list[DecodedAudio], content_hash: str | None, deps: Deps) -> None:
    """Features, model and result of every segment in this process; commits the track DONE."""
    features = [features_of(decoded) for decoded in segments]
    batch = deps.config.infer_batch_patches
    scored = [predict_in_batches(deps.tagger, segment.patches, batch) for segment in features]
    model = deps.tagger.model_info()
    predictions = [SegmentPredictions(segment, model) for segment in scored]
    failpoints.hit("whole_track")  # everything computed, nothing committed: the fault suite's kill point
    done = Transition(TrackState.DONE, STEP, segments_total=len(segments), content_hash=content_hash)
    announce(commit_result(record, features, predictions, done, deps), deps)
