"""The faithfulness gate's arithmetic, on predictions whose answer is known."""

import numpy as np
import pytest

from trackscan.domain.ports import Predictions
from trackscan.pipeline.model_gate import agreement

TRACKS = 20


def _track(seed: int) -> Predictions:
    """Three patches of distinct, well separated scores: MTT and MSD top-5 known by construction."""
    rng = np.random.default_rng(seed)
    mtt = np.tile(rng.permutation(50) / 100, (3, 1)).astype(np.float32)
    msd = np.tile(rng.permutation(50) / 100 + 0.005, (3, 1)).astype(np.float32)
    return Predictions(mtt=mtt, msd=msd, embedding=rng.normal(size=(3, 200)).astype(np.float32))


def _swap_mtt_5th_and_6th(p: Predictions) -> Predictions:
    mtt = p.mtt.copy()
    fifth, sixth = np.argsort(-mtt[0])[4:6]
    mtt[:, [fifth, sixth]] = mtt[:, [sixth, fifth]]
    return Predictions(mtt=mtt, msd=p.msd, embedding=p.embedding)


def test_agreement_passes_with_full_shares_when_the_variant_matches_exactly():
    reference = [_track(i) for i in range(TRACKS)]
    result = agreement(reference, reference)
    assert (result.same_top_mtt, result.same_top_msd, result.same_top_both) == (1.0, 1.0, 1.0)
    assert result.min_embedding_cosine == pytest.approx(1.0)
    assert result.passed


def test_agreement_tolerates_one_track_in_twenty_when_its_mtt_top5_differs():
    reference = [_track(i) for i in range(TRACKS)]
    candidate = [_swap_mtt_5th_and_6th(reference[0]), *reference[1:]]
    result = agreement(reference, candidate)
    assert result.same_top_mtt == pytest.approx(0.95)
    assert result.same_top_msd == 1.0
    assert result.passed


def test_agreement_fails_when_two_tracks_in_twenty_differ():
    reference = [_track(i) for i in range(TRACKS)]
    candidate = [_swap_mtt_5th_and_6th(p) for p in reference[:2]] + reference[2:]
    assert agreement(reference, candidate).same_top_mtt == pytest.approx(0.90)
    assert not agreement(reference, candidate).passed


def test_agreement_fails_when_one_track_embedding_points_elsewhere():
    reference = [_track(i) for i in range(TRACKS)]
    p = reference[3]
    turned = Predictions(mtt=p.mtt, msd=p.msd, embedding=p.embedding + 0.5 * np.abs(p.embedding).mean())
    result = agreement(reference, [*reference[:3], turned, *reference[4:]])
    assert result.min_embedding_cosine < 0.99
    assert not result.passed
