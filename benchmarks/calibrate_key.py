"""Fits KEY_TEMPERATURE: key confidence as a probability, on generated progressions with known keys.

The cases are tests/key_fixtures.py's (every progression family in all 24 keys, with and without
a bass line; the families that dwell on the subdominant in every key, instrument and voicing)
and tests/music_fixtures.py's cadences in all 24 keys. For each, the 24 key fits
(trackscan.audio.key.key_fits) and the true key. The temperature is the one that makes the true
key most likely (the least negative log-likelihood), fitted on the cases in even keys and
checked on those in odd keys, then fitted on all. Prints the calibration error (ECE, 10 bins:
how far the confidence is from the share of right answers) of the old confidence (the best
fit's correlation) and of the new, and the mean confidence of right and of wrong answers.

    python -m benchmarks.calibrate_key
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tests.key_fixtures import progression_audio, progression_cases, subdominant_cases
from tests.music_fixtures import KEY_CASES, key_cadence
from trackscan.audio import key as key_module
from trackscan.audio.descriptors import segment_descriptors
from trackscan.audio.front_end import to_model_rate
from trackscan.domain.key_names import key_name, respelled

RATE = 22_050
BARS = 8
TEMPERATURES = np.geomspace(0.002, 0.5, 600)
KEY_NAMES = [key_name(tonic, mode) for mode in key_module.KEY_MODES for tonic in range(12)]


@dataclass(frozen=True)
class Case:
    """One generated clip: its family, the index of its true key among the 24, and the 24 fits."""

    family: str
    truth: int
    fits: np.ndarray

    @property
    def in_even_key(self) -> bool:
        """Whether the true key's tonic is even (the half the temperature is fitted on first)."""
        return self.truth % 2 == 0


def cases() -> Iterator[Case]:
    """Every case whose key the estimate names (the others have no confidence to calibrate)."""
    clips = [(c.family, c.key, progression_audio(c, BARS, RATE)) for c in progression_cases() + subdominant_cases()]
    clips += [("cadence", case.name, key_cadence(case, 8.0, RATE)) for case in KEY_CASES]
    for family, truth, audio in clips:
        samples = audio[None, :]
        segment = segment_descriptors(samples, RATE, to_model_rate(samples, RATE))
        duration_s = samples.shape[1] / RATE
        if key_module.estimate_key(segment.chroma, segment.bass_chroma, duration_s) is None:
            continue
        offset = key_module.tuning_offset(segment.chroma)
        fits = key_module.key_fits(
            key_module.fold(segment.chroma, offset), key_module.fold(segment.bass_chroma, offset)
        )
        yield Case(family, KEY_NAMES.index(respelled(truth) or ""), fits)


def nll(cases: list[Case], temperature: float) -> float:
    """The mean negative log-likelihood of the true keys."""
    return float(-np.mean([np.log(key_module.key_probabilities(c.fits, temperature)[c.truth] + 1e-300) for c in cases]))


def fitted(cases: list[Case]) -> float:
    """The temperature with the least negative log-likelihood."""
    return float(min(TEMPERATURES, key=lambda t: nll(cases, t)))


def ece(confidences: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the mean gap between confidence and accuracy, bins weighted by size."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidences, edges) - 1, 0, bins - 1)
    gaps = [
        abs(confidences[which == b].mean() - right[which == b].mean()) * np.mean(which == b)
        for b in range(bins)
        if np.any(which == b)
    ]
    return float(np.sum(gaps))


def report(name: str, cases: list[Case], temperature: float) -> None:
    """Prints the old and the new confidence's calibration on these cases."""
    best = np.array([int(np.argmax(c.fits)) for c in cases])
    right = np.array([b == c.truth for b, c in zip(best, cases, strict=True)], dtype=float)
    old = np.array([np.clip(c.fits.max(), 0, 1) for c in cases])
    new = np.array([key_module.key_probabilities(c.fits, temperature).max() for c in cases])
    print(
        f"{name}: {len(cases)} cases, {int(right.sum())} right; ECE correlation {ece(old, right):.3f}, "
        f"probability {ece(new, right):.3f}; mean confidence right/wrong: correlation "
        f"{old[right == 1].mean():.2f}/{old[right == 0].mean():.2f}, probability "
        f"{new[right == 1].mean():.2f}/{new[right == 0].mean():.2f}"
    )


def main() -> None:
    """Fits on even keys, checks on odd ones, then fits on all and prints the families' confidences."""
    every = list(cases())
    even = [c for c in every if c.in_even_key]
    odd = [c for c in every if not c.in_even_key]
    on_even = fitted(even)
    print(f"fitted on {len(even)} cases in even keys: temperature {on_even:.4f}")
    report("held out (odd keys)", odd, on_even)
    temperature = fitted(every)
    print(f"fitted on all {len(every)}: temperature {temperature:.4f}")
    report("all", every, temperature)
    for family in sorted({c.family for c in every}):
        members = [c for c in every if c.family == family]
        confidence = np.mean([key_module.key_probabilities(c.fits, temperature).max() for c in members])
        right = np.mean([int(np.argmax(c.fits)) == c.truth for c in members])
        print(f"  {family}: {len(members)} cases, {right:.2f} right, mean confidence {confidence:.2f}")


if __name__ == "__main__":
    main()
