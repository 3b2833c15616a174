"""Key and mode from pitch-class energy, combinable across segments.

Each segment keeps its pitch-class energy in thirds of a semitone (36 bins), for the whole range
and for the bass alone. The sums over segments tell where the track's tuning lies within the
semitone, so a track tuned 30 cents flat is folded onto the right pitch classes before the
profiles are compared. Energies enter as square roots: a chord held for more bars (the IV a
song dwells on) then outweighs less the few notes only the dominant brings (the leading tone),
which are what tell the tonic from the subdominant. The bass counts extra, a little: the lowest
note most often names the tonic, but weighted more it read songs that dwell on IV in the key of
IV. Too few pitch classes (a tone, one chord) name no key: any of several keys holds them; nor does
audio where every frame fills the whole octave alike (noise): it has no pitch to hold a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np

from trackscan.audio.front_end import SAMPLE_RATE
from trackscan.audio.spectrum import power_spectrogram
from trackscan.domain.key_names import key_name

CHROMA_FFT = 4096  # 3.9 Hz bins at 16 kHz: fine enough to separate low semitones
BINS_PER_SEMITONE = 3
CHROMA_BINS = 12 * BINS_PER_SEMITONE
BASS_RANGE_HZ = (30.0, 250.0)
# On the IV-heavy progressions of tests/key_fixtures.py in every key, instrument and voicing with a
# bass line, the right key for 93 % at 0.25 (85 % at 0.5); 0 gets 99 % but agrees less with
# Essentia on the 73 real tracks (49 against 53). BENCHMARKS.md, "Key".
BASS_WEIGHT = 0.25
# Pitch-class energy enters raised to this power (see the module docstring); 1 before the fix.
ENERGY_EXPONENT = 0.5
# The effective number of pitch classes (the perplexity of the pitch-class distribution) below
# which no key is named: a tone has 1, a triad about 3, a cadence 7 or more, real music 7.3-12.
MIN_PITCH_CLASSES = 4.5
CHROMA_HOP = CHROMA_FFT // 2
# How many of the 36 bins a frame fills on average, each counted by its level against the frame's
# loudest (pitch_spread). Above this nothing has a pitch to speak of: 2.0-14.1 on the 73 real
# tracks, 21-27 for white, pink and brown noise or rain of 10 to 240 s, up to 19.7 for drums alone.
MAX_PITCH_SPREAD = 18.0
# A frame quieter than this, relative to the loudest bin of the segment, carries no pitch.
SILENT_FRAME = 1e-8
# Temperley's key profiles from the Kostka-Payne corpus (2007, "Music and Probability"). Against
# Albrecht & Shanahan's (2013, used before) and Krumhansl & Kessler's, with and without square
# roots and with the bass weighted 0 to 1, these scored best on the generated progressions.
MAJOR_PROFILE = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
MINOR_PROFILE = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])


KEY_MODES = ("major", "minor")
# The softmax temperature that turns the 24 fits into probabilities (key_probabilities): the one
# that makes the true key likeliest on 480 generated progressions and cadences with known keys
# (0.0695 fitted on the half in even keys, 0.0702 on all; benchmarks/calibrate_key.py). Their
# calibration error is 0.03 (0.09 with the best fit's correlation as the confidence).
KEY_TEMPERATURE = 0.07


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode, and how well the track fits its profile."""

    tonic: int
    mode: str  # "major" or "minor"
    confidence: float  # the key's probability among the 24 (key_probabilities), in [0, 1]

    @property
    def name(self) -> str:
        """The key as musicians write it, e.g. "A minor" or "Bb major"."""
        return key_name(self.tonic, self.mode)


@lru_cache(maxsize=1)
def _filters() -> np.ndarray:
    """Spectrum-to-pitch-class filters, [bins, 72] float32: the whole range, then the bass.

    Column 3p (and 36 + 3p) is the centre of pitch class p.
    """
    full = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=CHROMA_FFT, n_chroma=CHROMA_BINS)
    bass = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=CHROMA_FFT, n_chroma=CHROMA_BINS, octwidth=None)
    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=CHROMA_FFT)
    bass[:, (freqs < BASS_RANGE_HZ[0]) | (freqs > BASS_RANGE_HZ[1])] = 0.0
    return np.ascontiguousarray(np.concatenate([full, bass]).T, dtype=np.float32)


def pitch_class_energy(mono_16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A segment's [36] pitch-class energy over the whole range and in the bass.

    Each frame is scaled to its loudest bin first, so quiet passages weigh as much as loud ones.
    """
    if mono_16k.size < CHROMA_FFT:
        return np.zeros(CHROMA_BINS), np.zeros(CHROMA_BINS)
    both = (power_spectrogram(mono_16k, CHROMA_FFT, CHROMA_HOP) @ _filters()).T
    full, bass = both[:CHROMA_BINS], both[CHROMA_BINS:]
    keep = full.max(axis=0) > SILENT_FRAME * max(float(full.max()), float(np.finfo(np.float32).tiny))
    return _frame_normalised_sum(full[:, keep]), _frame_normalised_sum(bass[:, keep])


def _frame_normalised_sum(chroma: np.ndarray) -> np.ndarray:
    peaks = chroma.max(axis=0)
    return np.asarray((chroma[:, peaks > 0] / peaks[peaks > 0]).sum(axis=1), dtype=np.float64)


def estimate_key(chroma: np.ndarray, bass_chroma: np.ndarray, duration_s: float) -> Key | None:
    """The best-fitting of the 24 keys for the summed pitch-class energy of all segments.

    None for silence, where too few pitch classes sound to tell a key (MIN_PITCH_CLASSES), and
    where nothing has a pitch (MAX_PITCH_SPREAD).
    """
    if not np.any(chroma > 0) or pitch_spread(chroma, duration_s) > MAX_PITCH_SPREAD:
        return None
    offset = tuning_offset(chroma)
    if effective_pitch_classes(fold(chroma, offset)) < MIN_PITCH_CLASSES:
        return None
    fits = key_fits(fold(chroma, offset), fold(bass_chroma, offset))
    best = int(np.argmax(fits))
    return Key(best % 12, KEY_MODES[best // 12], round(float(key_probabilities(fits)[best]), 3))


def key_fits(pitch_classes: np.ndarray, bass_pitch_classes: np.ndarray) -> np.ndarray:
    """The [24] correlations of the track's pitch classes with each key's profile: C..B major, then minor."""
    full, bass = _scaled(pitch_classes), _scaled(bass_pitch_classes)
    profile = full**ENERGY_EXPONENT + BASS_WEIGHT * bass**ENERGY_EXPONENT
    references = (MAJOR_PROFILE, MINOR_PROFILE)
    return np.array(
        [np.corrcoef(profile, np.roll(reference, tonic))[0, 1] for reference in references for tonic in range(12)]
    )


def key_probabilities(fits: np.ndarray, temperature: float = KEY_TEMPERATURE) -> np.ndarray:
    """How likely each of the 24 keys is, from their fits: a softmax at ``temperature``.

    Close fits share the probability, so a track whose tonic and subdominant fit almost alike
    gets a low confidence in either.
    """
    scaled = (fits - fits.max()) / temperature
    weights = np.exp(scaled)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def pitch_spread(chroma: np.ndarray, duration_s: float) -> float:
    """How many of the 36 bins a frame fills on average, each counted by its level against the frame's loudest.

    About 1 where one pitch sounds, 36 where every bin sounds alike; from the segments' summed
    energy over their duration (a silent frame counts as filling none).
    """
    frames = duration_s * SAMPLE_RATE / CHROMA_HOP
    return float(chroma.sum() / frames) if frames > 0 else 0.0


def effective_pitch_classes(pitch_classes: np.ndarray) -> float:
    """How many pitch classes sound, counting each by its share: exp of the distribution's entropy."""
    shares = pitch_classes[pitch_classes > 0] / pitch_classes.sum()
    return float(np.exp(-np.sum(shares * np.log(shares))))


def tuning_offset(chroma: np.ndarray) -> int:
    """Where the energy sits within the semitone: -1 (a third flat), 0 (in tune) or 1 (sharp)."""
    by_position = chroma.reshape(12, BINS_PER_SEMITONE).sum(axis=0)  # centre, sharp, flat
    return (0, 1, -1)[int(np.argmax(by_position))]


def fold(chroma: np.ndarray, offset: int) -> np.ndarray:
    """[36] -> [12]: each pitch class gathers the three bins around its tuned centre."""
    centred = np.roll(chroma, -offset)
    return np.asarray(np.roll(centred, 1).reshape(12, BINS_PER_SEMITONE).sum(axis=1), dtype=np.float64)


def _scaled(chroma: np.ndarray) -> np.ndarray:
    peak = chroma.max()
    return chroma / peak if peak > 0 else chroma
