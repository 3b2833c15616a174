"""Tempo, metre, key and loudness, computed per segment and combined per track.

Each segment keeps partials that combine exactly across segments (see tempo, key and loudness),
so a track cut into segments gets the same descriptors as one analysed whole, apart from the few
frames at segment boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from trackscan.audio import loudness
from trackscan.audio.key import MAX_PITCH_SPREAD, estimate_key, pitch_class_energy, pitch_spread
from trackscan.audio.spectrum import blas_on_one_thread
from trackscan.audio.tempo import estimate_tempo, onset_autocorrelation


@dataclass(frozen=True)
class SegmentDescriptors:
    """Partial descriptors of one segment, combinable across segments."""

    duration_s: float
    onset_autocorrelation: np.ndarray  # [601] raw autocorrelation of the onset envelope
    onset_pairs: np.ndarray  # [601] frame pairs behind each lag
    chroma: np.ndarray  # [36] pitch-class energy in thirds of a semitone
    bass_chroma: np.ndarray  # [36] the same, 30-250 Hz only
    loudness_power: np.ndarray  # K-weighted power of each 100 ms, summed over channels
    true_peak: float  # 4x oversampled peak, linear full scale

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The wire form: one numpy array per field, for an .npz work blob."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SegmentDescriptors:
        """Reads the wire form written by ``to_arrays``.

        Raises:
            KeyError: a field is missing (a blob written before these fields existed).
        """
        return cls(
            duration_s=float(arrays["duration_s"]),
            onset_autocorrelation=np.asarray(arrays["onset_autocorrelation"]),
            onset_pairs=np.asarray(arrays["onset_pairs"]),
            chroma=np.asarray(arrays["chroma"]),
            bass_chroma=np.asarray(arrays["bass_chroma"]),
            loudness_power=np.asarray(arrays["loudness_power"]),
            true_peak=float(arrays["true_peak"]),
        )


@dataclass(frozen=True)
class TrackDescriptors:
    """The descriptors of a whole track; None where the audio gives no answer (e.g. silence)."""

    duration_s: float
    tempo_bpm: float | None
    tempo_confidence: float | None
    time_signature: int | None
    key: str | None
    key_confidence: float | None
    loudness_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None


def segment_descriptors(samples: np.ndarray, sample_rate: int, mono_16k: np.ndarray) -> SegmentDescriptors:
    """Descriptors of one segment from its decoded [channels, n] audio and its 16 kHz mono version.

    Loudness and true peak read the audio at its own rate, as BS.1770 defines them; tempo and key
    read the 16 kHz mono audio the model's patches are made from.
    """
    with blas_on_one_thread():
        autocorrelation, pairs = onset_autocorrelation(mono_16k)
        chroma, bass_chroma = pitch_class_energy(mono_16k)
        return SegmentDescriptors(
            duration_s=samples.shape[1] / sample_rate,
            onset_autocorrelation=autocorrelation,
            onset_pairs=pairs,
            chroma=chroma,
            bass_chroma=bass_chroma,
            loudness_power=loudness.subblock_power(samples, sample_rate),
            true_peak=loudness.true_peak(samples, sample_rate),
        )


def combine(segments: list[SegmentDescriptors]) -> TrackDescriptors:
    """Track descriptors from the descriptors of all its segments, in order."""
    duration_s = float(sum(s.duration_s for s in segments))
    chroma = np.sum([s.chroma for s in segments], axis=0)
    unpitched = pitch_spread(chroma, duration_s) > MAX_PITCH_SPREAD
    beat = estimate_tempo(
        np.sum([s.onset_autocorrelation for s in segments], axis=0),
        np.sum([s.onset_pairs for s in segments], axis=0),
        unpitched,
    )
    key = estimate_key(chroma, np.sum([s.bass_chroma for s in segments], axis=0), duration_s)
    level = loudness.measure(np.concatenate([s.loudness_power for s in segments]), max(s.true_peak for s in segments))
    return TrackDescriptors(
        duration_s=duration_s,
        tempo_bpm=beat.bpm if beat else None,
        tempo_confidence=beat.confidence if beat else None,
        time_signature=beat.time_signature if beat else None,
        key=key.name if key else None,
        key_confidence=key.confidence if key else None,
        loudness_lufs=level.integrated_lufs,
        loudness_range_lu=level.range_lu,
        true_peak_dbtp=level.true_peak_dbtp,
    )
