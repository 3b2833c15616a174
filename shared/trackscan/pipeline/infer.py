"""Infer: run the model on one segment's patches and record the segment done.

Once every segment of the track has predictions, the track is announced to finalize.
"""

from __future__ import annotations

import logging

import numpy as np

from trackscan.domain.messages import FeaturesReady, TrackInferred
from trackscan.domain.ports import Predictions, Tagger
from trackscan.domain.tracks import TrackState
from trackscan.domain.transitions import Transition
from trackscan.pipeline import failpoints
from trackscan.pipeline.blob_codec import SegmentPredictions, decode_features, encode_predictions
from trackscan.pipeline.deps import Deps, predictions_prefix, predictions_uri
from trackscan.pipeline.reconcile import replay
from trackscan.pipeline.state import get_record, read_blob
from trackscan.pipeline.steps import INFER as STEP

log = logging.getLogger(__name__)


def handle(message: FeaturesReady, deps: Deps) -> None:
    """Writes the prediction blob unless it exists; publishes TrackInferred when all are there.

    Completion is the existence of one prediction blob per segment (no counter to update), so
    redelivery is harmless, and listing is strongly consistent so the last writer sees them all.
    A track of one segment (most tracks) is complete once its blob is there: no listing.
    """
    record = get_record(deps, message.track_id)
    if record.state.is_final:
        return
    if record.state is not TrackState.INFERRING:
        # Before the model runs: while inference keeps failing, the record names the step in hand.
        deps.tracks.apply(message.track_id, Transition(TrackState.INFERRING, STEP))
    if not _ensure_predictions(message, deps):
        # The features blob is gone (the work bucket's lifecycle rule, or a forced redo): no
        # redelivery can bring it back, so the track goes through ingest again to re-derive it.
        replay(record, deps, "features blob gone, track replayed", STEP)
        return
    if message.segments_total == 1 or _predicted_segments(message, deps) >= message.segments_total:
        deps.publisher.publish(TrackInferred(message.track_id, message.segments_total))


def _predicted_segments(message: FeaturesReady, deps: Deps) -> int:
    """How many segments of the track have predictions (a Class A listing)."""
    return len(deps.blobs.list_uris(predictions_prefix(deps, message.track_id)))


def _ensure_predictions(message: FeaturesReady, deps: Deps) -> bool:
    """Writes the segment's prediction blob unless it exists; False when its features blob is gone."""
    uri = predictions_uri(deps, message.track_id, message.segment_index)
    if deps.blobs.stat(uri) is not None:
        log.info(
            "predictions exist, reused",
            extra={"track_id": message.track_id, "segment_index": message.segment_index, "reused": True},
        )
        return True
    failpoints.hit("infer")
    try:
        patches = decode_features(read_blob(deps, message.features_uri)).patches
    except FileNotFoundError:
        return False
    predictions = predict_in_batches(deps.tagger, patches, deps.config.infer_batch_patches)
    segment = SegmentPredictions(predictions, deps.tagger.model_info())
    failpoints.hit("before_prediction_write")
    if deps.blobs.write_if_absent(uri, encode_predictions(segment)):
        log.info("predictions written", extra={"track_id": message.track_id, "segment_index": message.segment_index})
    failpoints.hit("after_prediction_write")
    return True


def predict_in_batches(tagger: Tagger, patches: np.ndarray, batch_size: int) -> Predictions:
    """Runs the model on at most batch_size patches at a time and joins the outputs."""
    parts = [tagger.predict(patches[i : i + batch_size]) for i in range(0, len(patches), batch_size)]
    return Predictions(
        mtt=np.concatenate([p.mtt for p in parts]),
        msd=np.concatenate([p.msd for p in parts]),
        embedding=np.concatenate([p.embedding for p in parts]),
    )
