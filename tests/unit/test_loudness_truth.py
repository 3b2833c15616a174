"""Loudness, loudness range and true peak against the EBU test signals and their published values.

EBU Tech 3341 (cases 1-5) and Tech 3342 (cases 1-4) are stereo 1 kHz sines at 48 kHz, built here
as the documents describe them. The true-peak cases are sines whose peaks fall between samples,
in the manner of Tech 3341 cases 15-19: the expected value is the sine's own amplitude, with
Tech 3341's tolerance of +0.2 / -0.4 dB.
"""

import numpy as np
import pytest

from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.features import to_model_rate
from trackscan.audio.loudness import integrated_loudness, loudness_range, subblock_power, true_peak

RATE = 48_000


def _stereo_sine(parts: list[tuple[float, float]], freq_hz: float = 1000.0) -> np.ndarray:
    """Consecutive (level dBFS, seconds) stretches of a sine in both channels, [2, n]."""
    pieces = []
    for level_dbfs, seconds in parts:
        t = np.arange(int(round(seconds * RATE))) / RATE
        pieces.append(10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq_hz * t))
    mono = np.concatenate(pieces)
    return np.stack([mono, mono])


@pytest.mark.parametrize(
    ("parts", "expected_lufs"),
    [
        ([(-23, 20)], -23.0),
        ([(-33, 20)], -33.0),
        ([(-36, 10), (-23, 60), (-36, 10)], -23.0),
        ([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),
        ([(-26, 20), (-20, 20.1), (-26, 20)], -23.0),
    ],
    ids=["3341-1", "3341-2", "3341-3", "3341-4", "3341-5"],
)
def test_integrated_loudness_matches_tech_3341_when_its_test_signals_are_measured(parts, expected_lufs):
    assert integrated_loudness(subblock_power(_stereo_sine(parts), RATE)) == pytest.approx(expected_lufs, abs=0.1)


@pytest.mark.parametrize(
    ("parts", "expected_lu"),
    [
        ([(-20, 20), (-30, 20)], 10.0),
        ([(-20, 20), (-15, 20)], 5.0),
        ([(-40, 20), (-20, 20)], 20.0),
        ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
    ],
    ids=["3342-1", "3342-2", "3342-3", "3342-4"],
)
def test_loudness_range_matches_tech_3342_when_its_test_signals_are_measured(parts, expected_lu):
    assert loudness_range(subblock_power(_stereo_sine(parts), RATE)) == pytest.approx(expected_lu, abs=1.0)


@pytest.mark.parametrize(
    ("freq_hz", "phase_deg", "amplitude", "rate"),
    [
        (12_000, 0.0, 0.5, 48_000),  # fs/4, peaks on samples: -6.0 dBTP
        (12_000, 45.0, 0.5, 48_000),  # fs/4, peaks between samples (sample peak -9.0 dBFS): -6.0 dBTP
        (8_000, 0.0, 0.5, 48_000),  # fs/6, sample peak -7.3 dBFS: -6.0 dBTP
        (6_000, 22.5, 0.5, 48_000),  # fs/8, sample peak -6.7 dBFS: -6.0 dBTP
        (12_000, 45.0, 2**0.5, 48_000),  # fs/4, sample peak 0 dBFS: +3.0 dBTP
        (11_025, 45.0, 0.5, 44_100),  # the same at 44.1 kHz
    ],
    ids=["fs/4", "fs/4-45deg", "fs/6", "fs/8", "fs/4-plus-3-dBTP", "44.1kHz"],
)
def test_true_peak_finds_the_peak_between_samples_when_a_sine_is_sampled_off_its_peak(
    freq_hz, phase_deg, amplitude, rate
):
    t = np.arange(rate) / rate
    sine = amplitude * np.sin(2 * np.pi * freq_hz * t + np.radians(phase_deg))
    expected_dbtp = 20 * np.log10(amplitude)
    measured_dbtp = 20 * np.log10(true_peak(np.stack([sine, sine]), rate))
    assert expected_dbtp - 0.4 <= measured_dbtp <= expected_dbtp + 0.2


def test_combine_reports_tech_3341_case_1_when_it_goes_through_the_descriptors():
    samples = _stereo_sine([(-23, 20)]).astype(np.float32)
    track = combine([segment_descriptors(samples, RATE, to_model_rate(samples, RATE))])
    assert track.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    assert track.loudness_range_lu == pytest.approx(0.0, abs=0.1)
    assert track.true_peak_dbtp == pytest.approx(-23.0, abs=0.1)
