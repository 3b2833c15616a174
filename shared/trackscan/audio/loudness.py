"""Loudness as mastering engineers read it, combinable across segments.

Integrated loudness (ITU-R BS.1770-4), loudness range (EBU Tech 3342) and true peak (BS.1770-4
Annex 2).

Each segment keeps the K-weighted power of every 100 ms of its audio, summed over channels, and
its 4x oversampled peak. Segments start on multiples of 100 ms, so the 400 ms gating blocks
(75 % overlap) and the 3 s short-term blocks (10 per second) of the whole track are rebuilt
exactly from the concatenated 100 ms powers, across segment boundaries too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyloudnorm
import scipy.signal
import soxr

SUBBLOCK_S = 0.1
MOMENTARY_SUBBLOCKS = 4  # 400 ms gating blocks
SHORT_TERM_SUBBLOCKS = 30  # 3 s blocks
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0  # BS.1770-4, integrated loudness
LRA_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342
LRA_PERCENTILES = (10.0, 95.0)
LOUDNESS_OFFSET_DB = -0.691  # BS.1770: a 997 Hz sine at 0 dBFS reads -3.01 LUFS per channel
OVERSAMPLING = 4
EDGE_GUARD_S = 0.001
TRUE_PEAK_FLOOR = 1e-10  # -200 dBTP: digital silence
# BS.1770 K-weighting (a high shelf and a high pass) as derived by Brecht De Man for any sample
# rate; at 48 kHz it gives the recommendation's coefficients. pyloudnorm designs the biquads.
K_WEIGHTING = (
    (3.99984385397, 0.7071752369554193, 1681.9744509555319, "high_shelf_DeMan"),
    (0.0, 0.5003270373253953, 38.13547087613982, "high_pass_DeMan"),
)


@dataclass(frozen=True)
class Loudness:
    """A track's integrated loudness, loudness range and true peak (None where undefined)."""

    integrated_lufs: float | None
    range_lu: float | None
    true_peak_dbtp: float | None


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> np.ndarray:
    sections = []
    for gain_db, q, centre_hz, kind in K_WEIGHTING:
        stage = pyloudnorm.IIRfilter(gain_db, q, centre_hz, sample_rate, kind)
        sections.append(np.concatenate([stage.b, stage.a]))
    return np.array(sections)


def subblock_power(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted mean square of each whole 100 ms of [channels, n] audio, summed over channels.

    Channels weigh 1.0 (BS.1770: left, right and centre); the decoder gives at most two.
    """
    weighted = scipy.signal.sosfilt(_k_weighting(sample_rate), samples.astype(np.float64), axis=1)
    count = int(samples.shape[1] / (SUBBLOCK_S * sample_rate))
    if count == 0:
        return np.zeros(0)
    edges = np.round(np.arange(count + 1) * SUBBLOCK_S * sample_rate).astype(np.int64)
    energy = np.add.reduceat((weighted**2).sum(axis=0)[: edges[-1]], edges[:-1])
    return energy / np.diff(edges)


def true_peak(samples: np.ndarray, sample_rate: int) -> float:
    """The largest absolute value of the audio oversampled 4x (soxr), in linear full scale.

    The first and last millisecond count at their sample values only: the resampler rings where
    the audio is cut off, and a segment boundary is such a cut, not a peak in the music.
    """
    if samples.size == 0:
        return 0.0
    upsampled = soxr.resample(samples.T.astype(np.float32), sample_rate, OVERSAMPLING * sample_rate, quality="HQ")
    guard = int(EDGE_GUARD_S * sample_rate) * OVERSAMPLING
    interior = upsampled[guard : upsampled.shape[0] - guard]
    return float(max(np.abs(samples).max(), np.abs(interior).max(initial=0.0)))


def measure(power: np.ndarray, peak: float) -> Loudness:
    """Integrated loudness, loudness range and true peak from a track's 100 ms powers and peak."""
    return Loudness(
        integrated_lufs=_rounded(integrated_loudness(power)),
        range_lu=_rounded(loudness_range(power)),
        true_peak_dbtp=round(float(20 * np.log10(max(peak, TRUE_PEAK_FLOOR))), 2) if power.size else None,
    )


def integrated_loudness(power: np.ndarray) -> float | None:
    """BS.1770-4 gated loudness over 400 ms blocks with 75 % overlap."""
    blocks = _sliding_mean(power, MOMENTARY_SUBBLOCKS)
    return _gated_mean(blocks, RELATIVE_GATE_LU)


def loudness_range(power: np.ndarray) -> float | None:
    """EBU Tech 3342: spread (10th to 95th percentile) of the gated 3 s short-term loudness."""
    blocks = _sliding_mean(power, SHORT_TERM_SUBBLOCKS)
    loudness = _lufs(blocks[_lufs(blocks) >= ABSOLUTE_GATE_LUFS])
    if loudness.size == 0:
        return None
    gated = loudness[loudness >= _power_mean_lufs(loudness) + LRA_RELATIVE_GATE_LU]
    low, high = np.percentile(gated, LRA_PERCENTILES)
    return float(high - low)


def _gated_mean(blocks: np.ndarray, relative_gate_lu: float) -> float | None:
    loud = blocks[_lufs(blocks) >= ABSOLUTE_GATE_LUFS]
    if loud.size == 0:
        return None
    threshold = float(_lufs(np.mean(loud))) + relative_gate_lu
    gated = loud[_lufs(loud) > threshold]
    return float(_lufs(np.mean(gated))) if gated.size else None


def _sliding_mean(power: np.ndarray, width: int) -> np.ndarray:
    if power.size < width:
        return np.zeros(0)
    totals = np.concatenate([[0.0], np.cumsum(power)])
    return np.asarray((totals[width:] - totals[:-width]) / width, dtype=np.float64)


def _lufs(power: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10 * np.log10(power)


def _power_mean_lufs(loudness: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (loudness / 10))))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
