"""Tempo and metre against generated drum and bass-line patterns whose answer is known."""

import numpy as np
import pytest

from tests.music_fixtures import TEMPO_CASES, drum_pattern
from trackscan.audio.descriptors import TrackDescriptors, combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate

RATE = 22_050
SECONDS = 30.0
MUSICAL_MULTIPLES = (1.0, 2.0, 0.5, 3.0, 1 / 3)


def _analysed(audio: np.ndarray) -> TrackDescriptors:
    samples = audio[None, :]
    return combine([segment_descriptors(samples, RATE, to_model_rate(samples, RATE))])


@pytest.fixture(scope="module")
def estimates() -> list[tuple[float, int, TrackDescriptors]]:
    return [(case.bpm, case.beats_per_bar, _analysed(drum_pattern(case, SECONDS, RATE))) for case in TEMPO_CASES]


def _error(estimate: float, truth: float) -> float:
    return abs(estimate / truth - 1)


def test_tempo_is_within_2_percent_on_95_percent_when_patterns_span_60_to_190_bpm(estimates):
    tempi = [bpm for bpm, _, _ in estimates]
    misses = [(bpm, track.tempo_bpm) for bpm, _, track in estimates if _error(track.tempo_bpm, bpm) > 0.02]
    assert len(tempi) >= 30 and min(tempi) <= 60 and max(tempi) >= 190
    assert 1 - len(misses) / len(tempi) >= 0.95, misses


def test_tempo_is_the_truth_or_a_musical_multiple_within_4_percent_when_any_pattern_is_played(estimates):
    misses = [
        (bpm, track.tempo_bpm)
        for bpm, _, track in estimates
        if min(_error(track.tempo_bpm, bpm * multiple) for multiple in MUSICAL_MULTIPLES) > 0.04
    ]
    assert misses == []


def test_tempo_is_right_to_a_tenth_of_a_bpm_when_the_metrical_level_is_right(estimates):
    errors = [abs(track.tempo_bpm - bpm) for bpm, _, track in estimates if _error(track.tempo_bpm, bpm) <= 0.02]
    assert max(errors) <= 0.1


def test_time_signature_counts_the_beats_of_the_bar_when_the_tempo_is_right(estimates):
    wrong = [
        (bpm, beats, track.time_signature)
        for bpm, beats, track in estimates
        if _error(track.tempo_bpm, bpm) <= 0.02 and track.time_signature != beats
    ]
    assert wrong == [] and any(beats == 3 for _, beats, _ in estimates)


def test_tempo_confidence_is_higher_when_a_pattern_plays_than_when_noise_plays(estimates):
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, int(SECONDS * RATE)).astype(np.float32)
    noisy = _analysed(noise).tempo_confidence or 0.0
    confidences = [track.tempo_confidence for _, _, track in estimates]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert min(confidences) > noisy
