"""Key confidence is calibrated: on generated progressions with known keys, a confidence of c is
right about c of the time, and wrong answers carry less of it than right ones.

A third of benchmarks/calibrate_key.py's cases (every progression family in all 24 keys, with
and without a bass line; the families that dwell on the subdominant in every key, instrument and
voicing), through the descriptors' own path.
"""

from __future__ import annotations

import numpy as np

from tests.key_fixtures import progression_audio, progression_cases, subdominant_cases
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate

RATE = 22_050
EVERY = 3


def _expected_calibration_error(confidences: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    which = np.clip((confidences * bins).astype(int), 0, bins - 1)
    gaps = [abs(confidences[which == b].mean() - right[which == b].mean()) * np.mean(which == b) for b in set(which)]
    return float(np.sum(gaps))


def test_key_confidence_matches_how_often_the_key_is_right_on_generated_progressions():
    cases = (progression_cases() + subdominant_cases())[::EVERY]
    confidences, right = [], []
    for case in cases:
        samples = progression_audio(case, 8, RATE)[None, :]
        track = combine([segment_descriptors(samples, RATE, to_model_rate(samples, RATE))])
        if track.key is None:
            continue
        confidences.append(track.key_confidence)
        right.append(track.key == case.key)
    confidence, hit = np.array(confidences, dtype=float), np.array(right, dtype=float)
    assert len(confidence) >= 0.95 * len(cases) and 0 < hit.mean() < 1
    assert _expected_calibration_error(confidence, hit) <= 0.08
    assert confidence[hit == 0].mean() <= confidence[hit == 1].mean() - 0.08
