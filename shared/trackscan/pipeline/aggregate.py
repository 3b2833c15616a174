"""Combines the segments of a track into its result."""

from __future__ import annotations

import numpy as np

from trackscan.audio.descriptors import combine
from trackscan.domain.labels import MSD_TAGS, MTT_TAGS
from trackscan.domain.results import TrackResult
from trackscan.pipeline.blob_codec import SegmentFeatures, SegmentPredictions

TOP_TAGS = 5


def track_result(features: list[SegmentFeatures], predictions: list[SegmentPredictions]) -> TrackResult:
    """Tag scores are the mean over all patches of the track; descriptors combine segment sums."""
    mtt = np.concatenate([p.predictions.mtt for p in predictions]).mean(axis=0)
    msd = np.concatenate([p.predictions.msd for p in predictions]).mean(axis=0)
    embedding = np.concatenate([p.predictions.embedding for p in predictions]).mean(axis=0)
    descriptors = combine([f.descriptors for f in features])
    tags = {"mtt": _named(MTT_TAGS, mtt), "msd": _named(MSD_TAGS, msd)}
    return TrackResult(
        tags=tags,
        top_tags=top_tags(tags),
        tempo_bpm=descriptors.tempo_bpm,
        key=descriptors.key,
        loudness_lufs=descriptors.loudness_lufs,
        duration_s=round(descriptors.duration_s, 3),
        embedding=[float(x) for x in embedding],
        tempo_confidence=descriptors.tempo_confidence,
        time_signature=descriptors.time_signature,
        key_confidence=descriptors.key_confidence,
        loudness_range_lu=descriptors.loudness_range_lu,
        true_peak_dbtp=descriptors.true_peak_dbtp,
    )


def _named(names: tuple[str, ...], scores: np.ndarray) -> dict[str, float]:
    return {name: float(score) for name, score in zip(names, scores, strict=True)}


def top_tags(tags: dict[str, dict[str, float]], count: int = TOP_TAGS) -> list[str]:
    """The highest-scoring tags of both models, a name shared by both counted once."""
    best: dict[str, float] = {}
    for scores in tags.values():
        for name, score in scores.items():
            best[name.lower()] = max(score, best.get(name.lower(), 0.0))
    return sorted(best, key=best.__getitem__, reverse=True)[:count]
