"""Loudness, loudness range and true peak against the EBU test signals and their published values.

EBU Tech 3341 (cases 1-5) and Tech 3342 (cases 1-4) are stereo 1 kHz sines at 48 kHz, built here
as the documents describe them. The true-peak cases are sines whose peaks fall between samples,
in the manner of Tech 3341 cases 15-19: the expected value is the sine's own amplitude, with
Tech 3341's tolerance of +0.2 / -0.4 dB.
"""

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soxr

from tests.audio_fixtures import music_like
from tests.music_fixtures import (
    EBU_LOUDNESS_CASES,
    EBU_RANGE_CASES,
    EBU_RATE,
    LOUDNESS_TOLERANCE_LU,
    RANGE_TOLERANCE_LU,
    TRUE_PEAK_CASES,
    TRUE_PEAK_TOLERANCE_DB,
    stereo_sine,
    true_peak_sine,
)
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate
from trackscan.audio.loudness import K_WEIGHTING, integrated_loudness, loudness_range, subblock_power, true_peak


@pytest.mark.parametrize("case", EBU_LOUDNESS_CASES)
def test_integrated_loudness_matches_tech_3341_when_its_test_signals_are_measured(case):
    parts, expected_lufs = EBU_LOUDNESS_CASES[case]
    measured = integrated_loudness(subblock_power(stereo_sine(parts), EBU_RATE))
    assert measured == pytest.approx(expected_lufs, abs=LOUDNESS_TOLERANCE_LU)


@pytest.mark.parametrize("case", EBU_RANGE_CASES)
def test_loudness_range_matches_tech_3342_when_its_test_signals_are_measured(case):
    parts, expected_lu = EBU_RANGE_CASES[case]
    measured = loudness_range(subblock_power(stereo_sine(parts), EBU_RATE))
    assert measured == pytest.approx(expected_lu, abs=RANGE_TOLERANCE_LU)


@pytest.mark.parametrize("case", TRUE_PEAK_CASES)
def test_true_peak_finds_the_peak_between_samples_when_a_sine_is_sampled_off_its_peak(case):
    freq_hz, phase_deg, amplitude, rate = TRUE_PEAK_CASES[case]
    measured_dbtp = 20 * np.log10(true_peak(true_peak_sine(freq_hz, phase_deg, amplitude, rate), rate))
    low, high = TRUE_PEAK_TOLERANCE_DB
    assert 20 * np.log10(amplitude) + low <= measured_dbtp <= 20 * np.log10(amplitude) + high


def test_combine_reports_tech_3341_case_1_when_it_goes_through_the_descriptors():
    samples = stereo_sine(EBU_LOUDNESS_CASES["3341-1"][0]).astype(np.float32)
    track = combine([segment_descriptors(samples, EBU_RATE, to_model_rate(samples, EBU_RATE))])
    assert track.loudness_lufs == pytest.approx(-23.0, abs=LOUDNESS_TOLERANCE_LU)
    assert track.loudness_range_lu == pytest.approx(0.0, abs=0.1)
    assert track.true_peak_dbtp == pytest.approx(-23.0, abs=0.1)


def test_subblock_power_equals_scipy_sosfilt_of_the_k_weighting_when_stereo_noise_is_measured():
    rate = 44_100
    noise = np.random.default_rng(3).normal(0.0, 0.2, (2, int(2.35 * rate))).astype(np.float32)
    sections = np.array(
        [
            np.concatenate([stage.b, stage.a])
            for stage in (pyloudnorm.IIRfilter(*args, rate, kind) for *args, kind in K_WEIGHTING)
        ]
    )
    weighted = scipy.signal.sosfilt(sections, noise.astype(np.float64), axis=1)
    expected = (weighted[:, : 23 * 4410] ** 2).sum(axis=0).reshape(23, 4410).mean(axis=1)
    np.testing.assert_allclose(subblock_power(noise, rate), expected, rtol=1e-10)


@pytest.mark.parametrize("rate", [44_100, 48_000, 22_050])
def test_true_peak_agrees_with_soxr_4x_oversampling_when_music_has_no_content_near_nyquist(rate):
    # Clicks of white noise over chords, low-passed at 85 % of Nyquist as lossy encoders do; above
    # that the two interpolators differ (by up to 0.3 dB on white noise, inside Tech 3341's range).
    lowpass = scipy.signal.butter(8, 0.85, output="sos")
    left = scipy.signal.sosfiltfilt(lowpass, music_like(3.0, rate))
    samples = np.stack([left, -0.8 * left])
    upsampled = soxr.resample(samples.T, rate, 4 * rate, quality="VHQ")
    guard = 4 * int(0.001 * rate)
    expected = max(np.abs(samples).max(), np.abs(upsampled[guard:-guard]).max())
    assert expected > 1.02 * np.abs(samples).max()  # the peaks do fall between samples
    assert 20 * np.log10(true_peak(samples, rate) / expected) == pytest.approx(0.0, abs=0.01)


def test_true_peak_is_the_sample_peak_when_the_audio_is_too_short_to_interpolate():
    samples = np.array([[0.0, 0.5, -0.7, 0.2]], np.float32)
    assert true_peak(samples, 48_000) == pytest.approx(0.7)
