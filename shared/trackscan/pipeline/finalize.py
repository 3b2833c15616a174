"""Finalize: aggregate the segments into the track result, commit it, then delete work blobs."""

from __future__ import annotations

from trackscan import failpoints
from trackscan.backfill import supersede_original
from trackscan.errors import RetryableError
from trackscan.messages import TrackInferred
from trackscan.pipeline.aggregate import track_result
from trackscan.pipeline.blob_codec import SegmentFeatures, SegmentPredictions, decode_features, decode_predictions
from trackscan.pipeline.deps import Deps, features_uri, predictions_uri, track_prefix
from trackscan.pipeline.state import get_record, read_blob
from trackscan.pipeline.steps import FINALIZE as STEP
from trackscan.tracks import TrackState, Transition


def handle(message: TrackInferred, deps: Deps) -> None:
    """Commits the result once; a redelivered message only repeats the cleanup."""
    record = get_record(deps, message.track_id)
    if not record.state.is_final:
        features, predictions = _load_segments(message, deps)
        models = {p.model for p in predictions}
        if len(models) != 1:
            raise RetryableError(f"segments were scored by {len(models)} model versions")
        result, model = track_result(features, predictions), models.pop()
        supersede_original(record, result, model, deps)  # a backfill re-run: its original first
        transition = Transition(TrackState.DONE, STEP, result=result, model=model)
        deps.tracks.apply(message.track_id, transition)
        failpoints.hit("after_result_commit")
    # Deleted only after the result is committed; the work bucket's lifecycle rule is the net.
    deps.blobs.delete_prefix(track_prefix(deps, message.track_id))


def _load_segments(message: TrackInferred, deps: Deps) -> tuple[list[SegmentFeatures], list[SegmentPredictions]]:
    try:
        indexes = range(message.segments_total)
        features = [decode_features(read_blob(deps, features_uri(deps, message.track_id, i))) for i in indexes]
        predictions = [decode_predictions(read_blob(deps, predictions_uri(deps, message.track_id, i))) for i in indexes]
    except FileNotFoundError as exc:
        raise RetryableError(f"a segment blob is missing: {exc}") from exc
    return features, predictions
