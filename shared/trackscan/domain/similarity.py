"""Similarity search: the vector a DONE track is searched by, and a neighbour found by it.

The vector is computed once, when a result is committed, by the track store (a Firestore vector
field in the cloud, a row of the local index in SQLite), so both stores search the same numbers
with the same measure: cosine similarity. Why this vector and not another is measured in
BENCHMARKS.md ("Similarity").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trackscan.domain.results import TrackResult
from trackscan.domain.tracks import TrackRecord, TrackState

SEARCH_DIMENSIONS = 200  # musicnn's embedding; the Firestore vector index is declared with this size
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


@dataclass(frozen=True)
class Neighbour:
    """A track found by a similarity search and how close it is."""

    record: TrackRecord
    similarity: float  # cosine similarity of the two search vectors, in [-1, 1]


def search_vector(result: TrackResult) -> list[float] | None:
    """The unit vector a finished track is searched by, or None when the result has no embedding.

    The track's mean musicnn embedding less its own mean over the 200 dimensions, scaled to unit
    length, so cosine similarity is the Pearson correlation of two embeddings. It needs no
    reference set, so it means the same for every model and every catalogue. On the real-music
    corpora it finds tracks of the same source at least as well as tag-vector cosine does
    (BENCHMARKS.md, "Similarity", where the alternatives are measured too).
    """
    if len(result.embedding) != SEARCH_DIMENSIONS:
        return None
    vector = np.asarray(result.embedding, dtype=np.float64)
    vector = vector - vector.mean()
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return [float(x) for x in vector / norm]


def record_vector(record: TrackRecord) -> list[float] | None:
    """The search vector of a DONE record; None for any other state or a record without result."""
    if record.state is not TrackState.DONE or record.result is None:
        return None
    return search_vector(record.result)
