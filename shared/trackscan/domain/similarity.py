"""Similarity search: the vector a DONE track is searched by, and a neighbour found by it.

The vector is computed once, when a result is committed, by the track store (a Firestore vector
field in the cloud, a row of the local index in SQLite), so both stores search the same numbers
with the same measure: cosine similarity. Why this vector and not another is measured in
BENCHMARKS.md ("Similarity"). When its definition changes, the stored vectors are written again:
the SQLite index when its database is opened (adapters/vector_index.VECTORS_VERSION), Firestore
by `trackscan reindex --cloud`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trackscan.domain.results import TrackResult
from trackscan.domain.tracks import TrackRecord, TrackState

EMBEDDING_DIMENSIONS = 200  # musicnn's mean embedding
TAG_COUNT = 100  # musicnn's 50 MagnaTagATune and 50 Million Song Dataset tag scores
# The Firestore vector index is declared with this size (terraform/modules/firestore).
SEARCH_DIMENSIONS = EMBEDDING_DIMENSIONS + TAG_COUNT
# Tag scores are sigmoid outputs; clipped this far from 0 and 1, their logits stay finite.
LOGIT_EPSILON = 1e-4
FLAT = 1e-9  # a part whose spread is this small next to its values has no direction
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


@dataclass(frozen=True)
class Neighbour:
    """A track found by a similarity search and how close it is."""

    record: TrackRecord
    similarity: float  # cosine similarity of the two search vectors, in [-1, 1]


def search_vector(result: TrackResult) -> list[float] | None:
    """The unit vector a finished track is searched by, or None when the result lacks a part.

    Two halves of equal weight: the mean musicnn embedding less its own mean, and the logits of
    the 100 tag scores less their own mean, each scaled to unit length. Cosine similarity is then
    the mean of the two Pearson correlations. Neither half needs a reference set, so a stored
    vector means the same for every catalogue and never goes stale as one grows. Chosen by the
    multi-source protocol (BENCHMARKS.md, "Similarity", across nine sources): it finds tracks of
    the same source more often than tag cosine or the embedding alone.
    """
    scores = [score for group in sorted(result.tags) for _, score in sorted(result.tags[group].items())]
    if len(result.embedding) != EMBEDDING_DIMENSIONS or len(scores) != TAG_COUNT:
        return None
    clipped = np.clip(np.asarray(scores, dtype=np.float64), LOGIT_EPSILON, 1 - LOGIT_EPSILON)
    embedding = _centred_unit(np.asarray(result.embedding, dtype=np.float64))
    logits = _centred_unit(np.log(clipped / (1 - clipped)))
    if embedding is None or logits is None:
        return None
    return [float(x) for x in np.concatenate([embedding, logits]) / np.sqrt(2.0)]


def _centred_unit(vector: np.ndarray) -> np.ndarray | None:
    centred = vector - vector.mean()
    norm = float(np.linalg.norm(centred))
    # Equal values leave only rounding after the mean is taken off: no direction to search by.
    if not np.isfinite(norm) or norm <= FLAT * float(np.abs(vector).max()):
        return None
    return np.asarray(centred / norm, dtype=np.float64)


def record_vector(record: TrackRecord) -> list[float] | None:
    """The search vector of a DONE record; None for any other state or a record without result."""
    if record.state is not TrackState.DONE or record.result is None:
        return None
    return search_vector(record.result)
