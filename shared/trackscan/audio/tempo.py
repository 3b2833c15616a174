"""Tempo and metre from the autocorrelation of an onset envelope, combinable across segments.

Each segment keeps the raw autocorrelation of its onset envelope (lags up to 6 s) and the number
of frame pairs behind each lag. Both are sums, so a track's autocorrelation is the sum over its
segments (only the pairs that straddle a segment boundary are missing).

The metrical level is chosen by evidence, not by a preferred tempo: the autocorrelation has
peaks at the beat period and at all its multiples (bar, two bars), while the onset spectrum,
computed from the same autocorrelation, has peaks at the beat rate and at all its multiples
(eighths, sixteenths). Their product is high only where both agree, at the beat (Peeters 2007,
"Template-based estimation of time-varying tempo"). One rule about the bar completes it: a fast
period (from 120 BPM) whose pattern repeats only after eight of them is a half beat. The chosen
period is then refined to a fraction of a frame by fitting the peaks at its multiples, which is
what gives tenths of a BPM.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.ndimage

from trackscan.audio.front_end import SAMPLE_RATE
from trackscan.audio.spectrum import mel_filters, power_spectrogram

FRAME_RATE_HZ = 100
ONSET_HOP = SAMPLE_RATE // FRAME_RATE_HZ
ONSET_FFT = 1024
ONSET_MELS = 40
# Band energies are raised to this power before the flux: close to how loudness grows with
# energy, so a kick or a snare counts for more than a quiet hi-hat.
ONSET_COMPRESSION = 0.3
LOCAL_MEAN_FRAMES = 101  # 1 s
MAX_LAG = 6 * FRAME_RATE_HZ  # a bar of 4 beats at 40 BPM
MIN_BPM, MAX_BPM = 40.0, 220.0
GRID_BPM = np.round(np.arange(MIN_BPM, MAX_BPM + 0.05, 0.1), 1)
PEAK_SMOOTHING_FRAMES = 1.5
BAR_MARGIN = 0.1
SPECTRUM_HARMONICS = ((1, 1.0), (2, 0.5))
HALVING_MIN_BPM = 120.0
METRE_MARGIN = 0.002
METRE_NOISE_FRAMES = 2.0
# Below this confidence nothing repeats: no tempo is named. A steady tone scores 0.0, a sustained
# chord 0.01; the least steady of the 73 real tracks 0.05 (an ambient piece).
MIN_CONFIDENCE = 0.03
# Noise repeats by chance as much as that ambient piece (0.06-0.15 for white, pink and brown noise
# or rain of 10 to 240 s), but it has no pitch: where nothing is pitched (key.MAX_PITCH_SPREAD) a
# tempo must repeat clearly. Drums alone, unpitched too, score 0.57 or more.
UNPITCHED_MIN_CONFIDENCE = 0.3


@dataclass(frozen=True)
class Tempo:
    """The tempo of a track and how sure we are of it."""

    bpm: float
    confidence: float  # in [0, 1]: how much of the onset envelope repeats after one beat
    time_signature: int  # beats per bar: 3 or 4


def onset_autocorrelation(mono_16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw autocorrelation of a segment's onset envelope and the frame pairs behind each lag."""
    envelope = _onset_envelope(mono_16k)
    pairs = np.maximum(envelope.size - np.arange(MAX_LAG + 1), 0).astype(np.float64)
    if envelope.size == 0:
        return np.zeros(MAX_LAG + 1), pairs
    size = 1 << int(np.ceil(np.log2(2 * envelope.size)))
    spectrum = np.fft.rfft(envelope, size)
    lags = np.fft.irfft(np.abs(spectrum) ** 2, size)[: MAX_LAG + 1]
    return np.pad(lags, (0, MAX_LAG + 1 - lags.size)), pairs


def _onset_envelope(mono_16k: np.ndarray) -> np.ndarray:
    if mono_16k.size < ONSET_FFT:
        return np.zeros(0)
    mel = power_spectrogram(mono_16k, ONSET_FFT, ONSET_HOP) @ mel_filters(SAMPLE_RATE, ONSET_FFT, ONSET_MELS)
    flux = np.maximum(np.diff(mel.astype(np.float64) ** ONSET_COMPRESSION, axis=0), 0.0).mean(axis=1)
    # Only rises above the local level count, so a crescendo is not read as a beat.
    local_mean = np.asarray(scipy.ndimage.uniform_filter1d(flux, LOCAL_MEAN_FRAMES, mode="nearest"))
    return np.asarray(np.maximum(flux - local_mean, 0.0), dtype=np.float64)


def estimate_tempo(autocorrelation: np.ndarray, pairs: np.ndarray, unpitched: bool = False) -> Tempo | None:
    """The tempo from the summed autocorrelation and pair counts of all segments.

    ``unpitched``: nothing in the audio has a pitch (noise, or drums alone), so only a clearly
    repeating pattern names a tempo (UNPITCHED_MIN_CONFIDENCE).
    """
    acf = _normalised(autocorrelation, pairs)
    if acf is None:
        return None
    salience = _onset_spectrum(acf) * _periodicity(acf)
    if not np.any(salience > 0):
        return None
    smooth = scipy.ndimage.gaussian_filter1d(acf, PEAK_SMOOTHING_FRAMES)
    period = _refined_period(smooth, 60.0 * FRAME_RATE_HZ / GRID_BPM[int(np.argmax(salience))])
    if _is_subdivision(smooth, period):
        period = _refined_period(smooth, 2 * period)
    bpm = float(np.clip(60.0 * FRAME_RATE_HZ / period, MIN_BPM, MAX_BPM))
    # The envelope is never negative, so even noise correlates at every lag: measure the beat's
    # peak above the lowest point of the autocorrelation, where nothing repeats.
    floor = float(smooth.min())
    confidence = float(np.clip((_at(smooth, period) - floor) / (smooth[0] - floor), 0.0, 1.0))
    if confidence < (UNPITCHED_MIN_CONFIDENCE if unpitched else MIN_CONFIDENCE):
        return None
    return Tempo(round(bpm, 1), round(confidence, 3), _beats_per_bar(smooth, period, float(pairs[0])))


def _normalised(autocorrelation: np.ndarray, pairs: np.ndarray) -> np.ndarray | None:
    if pairs[0] <= 0 or autocorrelation[0] <= 0:
        return None
    acf = autocorrelation / np.maximum(pairs, 1.0)
    return np.asarray(acf / acf[0], dtype=np.float64)


@lru_cache(maxsize=2)
def _cosine_basis(multiple: int) -> np.ndarray:
    """[grid, lag] cosines at ``multiple`` times each grid tempo, with a half-Hann lag window.

    The spectrum is the transform of the autocorrelation.
    """
    lags = np.arange(MAX_LAG + 1)
    window = np.hanning(2 * MAX_LAG + 3)[MAX_LAG + 1 : -1]
    window[0] *= 0.5  # lag 0 is counted once, the others twice (both signs)
    basis = np.cos(2 * np.pi * np.outer(multiple * GRID_BPM / 60.0, lags / FRAME_RATE_HZ)) * window
    return basis.astype(np.float32)


def _onset_spectrum(acf: np.ndarray) -> np.ndarray:
    """Onset power at each grid tempo and, at half weight, at twice it.

    High at the beat rate and its multiples, and higher where the beat is subdivided, as beats
    nearly always are.
    """
    # Without its mean the envelope's constant part does not leak into the slowest tempi.
    centred = (acf - acf[1:].mean()).astype(np.float32)
    spectrum = sum(
        weight * np.maximum(_cosine_basis(multiple) @ centred, 0.0) for multiple, weight in SPECTRUM_HARMONICS
    )
    peak = float(np.max(spectrum))
    return np.asarray(spectrum / peak if peak > 0 else spectrum, dtype=np.float64)


def _periodicity(acf: np.ndarray) -> np.ndarray:
    """Self-similarity at each grid tempo's period: high at the beat period and its multiples."""
    smooth = np.asarray(scipy.ndimage.gaussian_filter1d(acf, PEAK_SMOOTHING_FRAMES), dtype=np.float64)
    return np.maximum(np.interp(60.0 * FRAME_RATE_HZ / GRID_BPM, np.arange(smooth.size), smooth), 0.0)


def _refined_period(smooth: np.ndarray, period: float) -> float:
    """The period fitted to the peaks at its multiples, each located to a fraction of a frame.

    The peak at k periods pins the period down k times more finely than the first one does.
    """
    multiples, peaks = [], []
    for k in range(1, int((MAX_LAG - 2) // period) + 1):
        peak = _peak_near(smooth, k * period, max(2.0, 0.06 * period))
        if peak is not None:
            multiples.append(k)
            peaks.append(peak)
            period = float(np.dot(multiples, peaks) / np.dot(multiples, multiples))
    return period


def _peak_near(smooth: np.ndarray, lag: float, width: float) -> float | None:
    low, high = max(1, int(np.floor(lag - width))), min(smooth.size - 2, int(np.ceil(lag + width)))
    if high <= low:
        return None
    i = low + int(np.argmax(smooth[low : high + 1]))
    if i in (low, high):
        return None  # no peak inside the window, only a slope
    before, here, after = smooth[i - 1], smooth[i], smooth[i + 1]
    curvature = before - 2 * here + after
    return i + (0.5 * (before - after) / curvature if curvature < 0 else 0.0)


def _is_subdivision(smooth: np.ndarray, period: float) -> bool:
    """Whether a fast period's pattern repeats far more after 8 periods than after 2, 3, 4 or 6.

    A bar of eight beats is rare; such a period is a half-beat (syncopated hip-hop read as double
    time), and the beat is twice as long. Below 120 BPM the eight periods are rather a phrase of
    bars (techno repeating every four bars), so slower periods are kept.
    """
    if 8 * period > smooth.size - 1 or 60.0 * FRAME_RATE_HZ / period < HALVING_MIN_BPM:
        return False
    shorter_bars = max(_at(smooth, k * period) for k in (2, 3, 4, 6))
    return _at(smooth, 8 * period) > shorter_bars + BAR_MARGIN


def _at(smooth: np.ndarray, lag: float) -> float:
    return float(np.interp(lag, np.arange(smooth.size), smooth))


def _beats_per_bar(smooth: np.ndarray, period: float, frames: float) -> int:
    """3 when the pattern repeats more after three beats than after two and four, else 4.

    A tie (every beat alike, as in a click track) reads as 4, by far the more common metre; the
    margin allows for the noise of a short excerpt, which shrinks as the track gets longer.
    """
    if 4 * period > smooth.size - 1:
        return 4
    evens = (_at(smooth, 2 * period) + _at(smooth, 4 * period)) / 2
    margin = METRE_MARGIN + METRE_NOISE_FRAMES / max(frames, 1.0)
    return 3 if _at(smooth, 3 * period) > evens + margin else 4
