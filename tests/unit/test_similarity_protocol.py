"""The similarity protocol's arithmetic, on sources whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.similarity_protocol import CANDIDATES, random_precision, score

RNG = np.random.default_rng(11)


def _sources(spread: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three sources of 8 tracks: each source's tracks scatter by spread around a centre of its own."""
    labels = np.repeat(["a", "b", "c"], 8)
    centres = {label: RNG.normal(size=200) for label in "abc"}
    embeddings = np.array([centres[label] + spread * RNG.normal(size=200) for label in labels])
    tags = 1 / (1 + np.exp(-embeddings[:, :100]))  # sigmoid scores that share the embedding's clusters
    return labels, tags, embeddings


def test_random_precision_is_the_chance_a_neighbour_shares_the_source():
    labels = np.array(["a"] * 4 + ["b"] * 2)
    # Each "a" has 3 of 5 others from "a"; each "b" has 1 of 5 from "b".
    assert random_precision(labels) == pytest.approx((4 * 3 / 5 + 2 * 1 / 5) / 6)


def test_every_candidate_finds_the_source_when_sources_are_far_apart():
    labels, tags, embeddings = _sources(spread=0.1)
    for name, build in CANDIDATES.items():
        scores = score(build, labels, tags, embeddings)
        assert set(scores.pairs) == {("a", "b"), ("a", "c"), ("b", "c")}, name
        assert min(scores.pairs.values()) == 1.0 and scores.all_sources == 1.0, name


def test_a_candidate_scores_near_chance_when_the_sources_are_one_cloud():
    labels, tags, embeddings = _sources(spread=0.0)
    noise = RNG.normal(size=embeddings.shape)  # every track the same distribution: no source to find
    scores = score(CANDIDATES["embedding, raw"], labels, 1 / (1 + np.exp(-noise[:, :100])), noise)
    chance = random_precision(labels[np.isin(labels, ("a", "b"))])
    assert abs(np.mean(list(scores.pairs.values())) - chance) < 0.2
    assert scores.per_source.keys() == {"a", "b", "c"}
