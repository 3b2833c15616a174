"""Tempo, key and loudness, computed per segment and combined per track.

Each segment keeps sums that combine exactly across segments (tempogram and chroma sums, the
EBU R128 400 ms block loudnesses), so a track cut into segments gets the same descriptors as one
analysed whole, apart from the few frames at segment boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import pyloudnorm

from trackscan.audio.features import SAMPLE_RATE

ONSET_HOP = 512
CHROMA_FFT = 4096  # 3.9 Hz bins at 16 kHz: fine enough to separate low semitones
LOUDNESS_BLOCK_S = 0.4
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl-Kessler key profiles (probe-tone ratings, Krumhansl 1990).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class SegmentDescriptors:
    """Partial descriptors of one segment, combinable across segments."""

    duration_s: float
    tempogram_sum: np.ndarray  # [384] autocorrelation tempogram summed over frames
    tempogram_frames: int
    chroma_sum: np.ndarray  # [12] chroma energy summed over frames
    loudness_blocks: np.ndarray  # loudness (LUFS) of each 400 ms block, 75 % overlap


@dataclass(frozen=True)
class TrackDescriptors:
    duration_s: float
    tempo_bpm: float | None
    key: str | None
    loudness_lufs: float | None


def segment_descriptors(samples: np.ndarray, sample_rate: int, mono_16k: np.ndarray) -> SegmentDescriptors:
    """Descriptors of one segment from its decoded audio and its 16 kHz mono version."""
    onset = librosa.onset.onset_strength(y=mono_16k, sr=SAMPLE_RATE, hop_length=ONSET_HOP)
    tempogram = librosa.feature.tempogram(onset_envelope=onset, sr=SAMPLE_RATE, hop_length=ONSET_HOP)
    power = np.abs(librosa.stft(mono_16k, n_fft=CHROMA_FFT, hop_length=CHROMA_FFT // 2)) ** 2
    chroma = librosa.feature.chroma_stft(S=power, sr=SAMPLE_RATE, n_fft=CHROMA_FFT, tuning=0.0)
    return SegmentDescriptors(
        duration_s=samples.shape[1] / sample_rate,
        tempogram_sum=tempogram.sum(axis=1),
        tempogram_frames=tempogram.shape[1],
        chroma_sum=chroma.sum(axis=1),
        loudness_blocks=_loudness_blocks(samples, sample_rate),
    )


def _loudness_blocks(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    if samples.shape[1] < LOUDNESS_BLOCK_S * sample_rate:
        return np.zeros(0)
    meter = pyloudnorm.Meter(sample_rate)
    meter.integrated_loudness(samples.T.astype(np.float64))
    return np.asarray(meter.blockwise_loudness, dtype=np.float64)


def combine(segments: list[SegmentDescriptors]) -> TrackDescriptors:
    """Track descriptors from the descriptors of all its segments."""
    return TrackDescriptors(
        duration_s=float(sum(s.duration_s for s in segments)),
        tempo_bpm=_tempo_bpm(segments),
        key=estimate_key(np.sum([s.chroma_sum for s in segments], axis=0)),
        loudness_lufs=gated_loudness(np.concatenate([s.loudness_blocks for s in segments])),
    )


def _tempo_bpm(segments: list[SegmentDescriptors]) -> float | None:
    frames = sum(s.tempogram_frames for s in segments)
    if frames == 0:
        return None
    mean_tempogram = np.sum([s.tempogram_sum for s in segments], axis=0) / frames
    bpm = librosa.feature.tempo(tg=mean_tempogram[:, None], sr=SAMPLE_RATE, hop_length=ONSET_HOP)
    return round(float(bpm[0]), 1)


def estimate_key(chroma_sum: np.ndarray) -> str | None:
    """Key and mode ("A minor") by correlating the chroma with the Krumhansl-Kessler profiles."""
    if not np.any(chroma_sum > 0):
        return None
    best = max(
        ((np.corrcoef(chroma_sum, np.roll(profile, tonic))[0, 1], tonic, mode)
         for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE))
         for tonic in range(12)),
    )
    return f"{PITCH_CLASSES[best[1]]} {best[2]}"


def gated_loudness(block_lufs: np.ndarray) -> float | None:
    """Integrated loudness (ITU-R BS.1770-4 gating) from the loudness of 400 ms blocks."""
    blocks = block_lufs[block_lufs >= ABSOLUTE_GATE_LUFS]
    if blocks.size == 0:
        return None
    relative_gate = _mean_loudness(blocks) + RELATIVE_GATE_LU
    gated = blocks[blocks > relative_gate]
    return round(_mean_loudness(gated), 2) if gated.size else None


def _mean_loudness(block_lufs: np.ndarray) -> float:
    # Blocks are averaged as powers, not as decibels.
    return float(10 * np.log10(np.mean(10 ** (block_lufs / 10))))
