"""The faithfulness gate: does a model variant tag real tracks as the fp32 model does?

Compared per track as the pipeline reports it: scores are the mean over the track's patches,
then the top-5 tags of each network and of both together (``aggregate.top_tags``), and the
mean embedding. A variant passes when the top-5 set is identical for at least 95 % of tracks
on each of the three and no track's embedding has a cosine under 0.99 to fp32's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trackscan.audio.decode import decode_segment, probe
from trackscan.audio.front_end import patches_from_audio, to_model_rate
from trackscan.domain.labels import MSD_TAGS, MTT_TAGS
from trackscan.domain.ports import Predictions, Tagger
from trackscan.pipeline.aggregate import top_tags
from trackscan.pipeline.infer import predict_in_batches
from trackscan.pipeline.segment_plan import plan_segments

MIN_SAME_TOP_SHARE = 0.95
MIN_EMBEDDING_COSINE = 0.99


@dataclass(frozen=True)
class Agreement:
    """How closely a variant follows fp32 over a set of tracks (shares are 0..1)."""

    tracks: int
    same_top_mtt: float
    same_top_msd: float
    same_top_both: float
    min_embedding_cosine: float

    @property
    def passed(self) -> bool:
        """Whether the variant is faithful: the top-5 share and the embedding cosine gates hold."""
        shares = (self.same_top_mtt, self.same_top_msd, self.same_top_both)
        return min(shares) >= MIN_SAME_TOP_SHARE and self.min_embedding_cosine >= MIN_EMBEDDING_COSINE


def segment_patches(path: Path, segment_s: float, max_segments: int | None = None) -> list[np.ndarray]:
    """A track's model input, one array per segment (the first max_segments), as the pipeline cuts it."""
    with path.open("rb") as reader:
        info = probe(reader, max_duration_s=float("inf"))
    segments = []
    for start_s, duration_s in plan_segments(info.duration_s, segment_s)[:max_segments]:
        with path.open("rb") as reader:
            decoded = decode_segment(reader, start_s, duration_s)
        segments.append(patches_from_audio(to_model_rate(decoded.samples, decoded.sample_rate)))
    return segments


def score_tracks(tagger: Tagger, tracks: list[np.ndarray], batch_patches: int) -> list[Predictions]:
    """The tagger's predictions for each track's patches, batch_patches at a time as the infer step runs."""
    return [predict_in_batches(tagger, patches, batch_patches) for patches in tracks]


def agreement(reference: list[Predictions], candidate: list[Predictions]) -> Agreement:
    """Compares two variants' predictions, one Predictions per track, tracks in the same order."""
    pairs = list(zip(reference, candidate, strict=True))
    same = np.array([_same_top(_track_tags(r), _track_tags(c)) for r, c in pairs])
    cosines = [_cosine(r.embedding.mean(axis=0), c.embedding.mean(axis=0)) for r, c in pairs]
    mtt, msd, both = same.mean(axis=0).tolist()
    return Agreement(len(pairs), mtt, msd, both, min(cosines))


def _track_tags(predictions: Predictions) -> dict[str, dict[str, float]]:
    """Mean scores over the track's patches, by network and tag, as aggregate.track_result has them."""
    mtt, msd = predictions.mtt.mean(axis=0).tolist(), predictions.msd.mean(axis=0).tolist()
    return {"mtt": dict(zip(MTT_TAGS, mtt, strict=True)), "msd": dict(zip(MSD_TAGS, msd, strict=True))}


def _same_top(reference: dict[str, dict[str, float]], candidate: dict[str, dict[str, float]]) -> list[bool]:
    """Whether the top-5 sets match: MTT alone, MSD alone, both networks together."""
    subsets = [{"mtt": reference["mtt"]}, {"msd": reference["msd"]}, reference]
    others = [{"mtt": candidate["mtt"]}, {"msd": candidate["msd"]}, candidate]
    return [set(top_tags(a)) == set(top_tags(b)) for a, b in zip(subsets, others, strict=True)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
