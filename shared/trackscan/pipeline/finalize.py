"""Finalize: aggregate the segments into the track result, commit it, then delete work blobs."""

from __future__ import annotations

from dataclasses import replace

from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import TrackInferred
from trackscan.domain.results import ModelInfo
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.domain.transitions import Transition
from trackscan.pipeline import failpoints
from trackscan.pipeline.aggregate import track_result
from trackscan.pipeline.announce import announce
from trackscan.pipeline.backfill import supersede_original
from trackscan.pipeline.blob_codec import SegmentFeatures, SegmentPredictions, decode_features, decode_predictions
from trackscan.pipeline.deps import Deps, features_uri, predictions_uri
from trackscan.pipeline.reconcile import replay
from trackscan.pipeline.state import get_record, read_blob
from trackscan.pipeline.steps import FINALIZE as STEP


def handle(message: TrackInferred, deps: Deps) -> None:
    """Commits the result once; a redelivered message repeats the announcement and the cleanup."""
    record = get_record(deps, message.track_id)
    if not record.state.is_final:
        loaded = _load_segments(message, deps)
        if loaded is None:
            # A work blob is gone (the lifecycle rule): re-derive it through ingest; the redone
            # segments announce the track to finalize again.
            replay(record, deps, "segment blob gone, track replayed", STEP)
            return
        record = commit_result(record, *loaded, Transition(TrackState.DONE, STEP), deps)
    announce(record, deps)
    # Deleted only after the result is committed, by name (no listing); the work bucket's
    # lifecycle rule is the net for anything else under the track's prefix.
    deps.blobs.delete(_work_uris(message, deps))


def commit_result(
    record: TrackRecord,
    features: list[SegmentFeatures],
    predictions: list[SegmentPredictions],
    done: Transition,
    deps: Deps,
) -> TrackRecord:
    """Aggregates the segments into the track's result, commits it with ``done``; the record after.

    A track committed meanwhile by another copy of the message keeps that copy's result.
    """
    model = _scoring_model([p.model for p in predictions])
    result = track_result(features, predictions)
    supersede_original(record, result, model, deps)  # a backfill re-run: its original first
    committed = deps.tracks.apply(record.track_id, replace(done, result=result, model=model))
    failpoints.hit("after_result_commit")
    return committed or get_record(deps, record.track_id)


def _scoring_model(models: list[ModelInfo]) -> ModelInfo:
    """The model that scored every segment.

    A run resumed under another variant of the same weights (bf16 after fp32) agrees within the
    gate of trackscan.pipeline.model_gate: the record names both.
    """
    weights = {(m.name, m.sha256) for m in models}
    if len(weights) != 1:
        raise RetryableError(f"segments were scored by {len(weights)} model versions")
    return replace(models[0], variant="+".join(sorted({m.variant for m in models})))


def _work_uris(message: TrackInferred, deps: Deps) -> list[str]:
    """The features and predictions blobs of every segment of the track."""
    indexes = range(message.segments_total)
    return [
        uri
        for i in indexes
        for uri in (features_uri(deps, message.track_id, i), predictions_uri(deps, message.track_id, i))
    ]


def _load_segments(message: TrackInferred, deps: Deps) -> tuple[list[SegmentFeatures], list[SegmentPredictions]] | None:
    """Every segment's features and predictions; None when a blob is missing."""
    try:
        indexes = range(message.segments_total)
        features = [decode_features(read_blob(deps, features_uri(deps, message.track_id, i))) for i in indexes]
        predictions = [decode_predictions(read_blob(deps, predictions_uri(deps, message.track_id, i))) for i in indexes]
    except FileNotFoundError:
        return None
    return features, predictions
