"""Key against generated cadences in all 24 keys, scored as MIREX scores key detection."""

import numpy as np
import pytest

from tests.key_fixtures import PROGRESSIONS, ProgressionCase, progression_audio
from tests.music_fixtures import KEY_CASES, key_cadence, mirex_key_score
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate

RATE = 22_050


def test_key_scores_at_least_0_9_on_average_when_cadences_are_played_in_all_24_keys():
    scores, confidences = [], []
    for case in KEY_CASES:
        samples = key_cadence(case, 8.0, RATE)[None, :]
        track = combine([segment_descriptors(samples, RATE, to_model_rate(samples, RATE))])
        scores.append(mirex_key_score(track.key, case.name))
        confidences.append(track.key_confidence)
    assert len(scores) == 24 and {case.detune_cents for case in KEY_CASES} == {0.0, -30.0, 40.0}
    assert np.mean(scores) >= 0.9, [(c.name, s) for c, s in zip(KEY_CASES, scores, strict=True) if s < 1]
    assert all(0.0 <= c <= 1.0 for c in confidences)


def test_mirex_key_score_gives_partial_credit_when_keys_are_related():
    estimates = ("C major", "G major", "A minor", "C minor", "D major")
    assert [mirex_key_score(estimate, "C major") for estimate in estimates] == [1.0, 0.5, 0.3, 0.2, 0.0]
    assert mirex_key_score("C major", "A minor") == 0.3


def _key_of(audio: np.ndarray) -> str | None:
    samples = audio[None, :]
    return combine([segment_descriptors(samples, RATE, to_model_rate(samples, RATE))]).key


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_key_names_the_tonic_not_the_subdominant_when_a_song_dwells_on_iv_over_a_bass_line(mode):
    # IV-I-IV-V (iv-i-iv-V in minor) with the bass on every root: the relation an estimate that weighs
    # the bass too much reads a fourth too high (0.5 did so for 10 of these 12 major keys).
    family = next(name for name in PROGRESSIONS[mode] if "heavy" in name)
    cases = [ProgressionCase(tonic, mode, family, ("organ", "piano", "pad")[tonic % 3]) for tonic in range(12)]
    found = [_key_of(progression_audio(case, 4, RATE)) for case in cases]
    wrong = [(case.key, key) for case, key in zip(cases, found, strict=True) if key != case.key]
    assert len(wrong) <= 1, wrong


def test_key_is_exact_for_every_major_family_when_played_with_a_bass_line():
    cases = [
        ProgressionCase(tonic, "major", family, "piano", "open")
        for tonic, family in zip((1, 4, 6, 8, 10, 11), PROGRESSIONS["major"], strict=True)
    ]
    assert [_key_of(progression_audio(case, 4, RATE)) for case in cases] == [case.key for case in cases]


def test_key_confidence_is_lower_when_a_song_dwells_on_the_subdominant_than_for_a_cadence():
    # Tonic and subdominant fit almost alike when the song spends more bars on IV: the probability
    # is shared between them. A plain cadence leaves no doubt.
    cadences = [
        combine([segment_descriptors(s, RATE, to_model_rate(s, RATE))]).key_confidence
        for s in (key_cadence(case, 8.0, RATE)[None, :] for case in KEY_CASES[::2])
    ]
    family = next(name for name in PROGRESSIONS["major"] if "heavy" in name)
    dwelling = [
        combine([segment_descriptors(s, RATE, to_model_rate(s, RATE))]).key_confidence
        for s in (progression_audio(ProgressionCase(t, "major", family, "piano"), 4, RATE)[None, :] for t in range(12))
    ]
    assert np.mean(cadences) >= 0.9
    assert np.mean(dwelling) <= np.mean(cadences) - 0.05
