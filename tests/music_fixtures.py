"""Generated music whose tempo, metre and key are known by construction: drum and bass-line
patterns in common styles, and cadences in every key. Shared by the truth tests and the
descriptor benchmark; nothing is committed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trackscan.domain.key_names import key_name, parse_key

EIGHTHS = tuple(i / 2 for i in range(8))


@dataclass(frozen=True)
class Style:
    """One bar of a drum and bass-line pattern; positions in beats, hats with their velocity."""

    beats_per_bar: int
    kick: tuple[float, ...]
    snare: tuple[float, ...]
    hats: tuple[tuple[float, float], ...]
    bass: tuple[float, ...]


def _accented_eighths(offbeat: float) -> tuple[tuple[float, float], ...]:
    return tuple((p, 1.0 if p % 1 == 0 else offbeat) for p in EIGHTHS)


STYLES = {
    "ballad": Style(4, (0, 2), (1, 3), _accented_eighths(0.6), (0, 1, 2, 3)),
    "boom-bap": Style(4, (0, 1.5, 2.5), (1, 3), _accented_eighths(0.6), (0, 1.5, 2.5)),
    "rock": Style(4, (0, 2, 2.5), (1, 3), _accented_eighths(0.7), (0, 1, 2, 3)),
    "four-on-the-floor": Style(4, (0, 1, 2, 3), (1, 3), tuple((p + 0.5, 1.0) for p in range(4)), (0.5, 1.5, 2.5, 3.5)),
    "waltz": Style(3, (0,), (1, 2), ((0, 1.0), (1, 0.7), (2, 0.7)), (0,)),
    "punk": Style(4, (0, 2), (1, 3), tuple((p, 1.0) for p in range(4)), EIGHTHS),
    "two-step": Style(4, (0, 2.5), (1, 3), _accented_eighths(0.6), (0, 2.5)),
}
# kick, snare, hats, bass: a plain mix, the kick loudest.
MIX = (1.0, 0.7, 0.2, 0.5)
BASS_ROOTS_HZ = tuple(55.0 * 2 ** (semitones / 12) for semitones in (0, 5, 7, 3))


@dataclass(frozen=True)
class TempoCase:
    bpm: float
    style: str

    @property
    def beats_per_bar(self) -> int:
        return STYLES[self.style].beats_per_bar


# Each style at tempi where it is played; many are off the old 1875/lag grid (117.2, 125.0 ...).
TEMPO_CASES = tuple(
    TempoCase(bpm, style)
    for style, tempi in (
        ("ballad", (60.0, 63.5, 66.6, 72.5, 78.0)),
        ("boom-bap", (83.3, 92.5)),
        ("rock", (86.0, 100.0, 104.4, 110.7, 117.5, 121.0, 128.0, 136.4, 145.0, 155.5)),
        ("four-on-the-floor", (118.0, 122.2, 124.0, 126.0, 128.7, 133.3)),
        ("waltz", (90.0, 108.5, 135.0, 162.0)),
        ("punk", (160.0, 171.5, 182.0, 190.0)),
        ("two-step", (165.0, 170.0, 174.0, 178.3)),
    )
    for bpm in tempi
)


def drum_pattern(
    case: TempoCase, seconds: float, sample_rate: int = 22_050, seed: int = 0, mix: tuple[float, ...] = MIX
) -> np.ndarray:
    """Kick, snare, hi-hats and a bass line (gains ``mix``) playing the case's style, peak 0.5."""
    style = STYLES[case.style]
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / case.bpm
    out = np.zeros(int((seconds + 1) * sample_rate))
    sounds = (_kick(sample_rate), _snare(sample_rate, rng), _hat(sample_rate, rng))
    for bar in range(int(np.ceil(seconds / (style.beats_per_bar * beat_s)))):
        start_s = bar * style.beats_per_bar * beat_s
        hits = [(sounds[0], p, mix[0]) for p in style.kick] + [(sounds[1], p, mix[1]) for p in style.snare]
        hits += [(sounds[2], p, mix[2] * velocity) for p, velocity in style.hats]
        for sound, position, gain in hits:
            _add(out, sound * gain, start_s + position * beat_s, sample_rate)
        ends = (*style.bass[1:], style.beats_per_bar)
        for position, end in zip(style.bass, ends, strict=True):
            note = _bass(BASS_ROOTS_HZ[bar % 4], 0.9 * (end - position) * beat_s, sample_rate)
            _add(out, note * mix[3], start_s + position * beat_s, sample_rate)
    out = out[: int(seconds * sample_rate)]
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


def random_mix_cases(count_per_style: int, seed: int) -> list[tuple[TempoCase, tuple[float, ...]]]:
    """Harder cases: each style at random tempi within its range, each instrument 6 dB up or down."""
    rng = np.random.default_rng(seed)
    cases = []
    for style in STYLES:
        tempi = sorted(case.bpm for case in TEMPO_CASES if case.style == style)
        for _ in range(count_per_style):
            bpm = round(float(rng.uniform(tempi[0], tempi[-1] + 0.01)), 1)
            cases.append((TempoCase(bpm, style), tuple(gain * 2 ** rng.uniform(-1, 1) for gain in MIX)))
    return cases


def _add(out: np.ndarray, sound: np.ndarray, at_s: float, sample_rate: int) -> None:
    start = int(round(at_s * sample_rate))
    if start < out.size:
        part = sound[: out.size - start]
        out[start : start + part.size] += part


def _decay(n: int, decay_s: float, sample_rate: int) -> np.ndarray:
    return np.exp(-np.arange(n) / sample_rate / decay_s)


def _kick(sample_rate: int) -> np.ndarray:
    n = int(0.25 * sample_rate)
    pitch_hz = 45 + 110 * _decay(n, 0.03, sample_rate)  # the usual downward sweep
    return np.sin(2 * np.pi * np.cumsum(pitch_hz) / sample_rate) * _decay(n, 0.08, sample_rate)


def _snare(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.2 * sample_rate)
    body = np.sin(2 * np.pi * 190 * np.arange(n) / sample_rate) * _decay(n, 0.04, sample_rate)
    return 0.6 * rng.uniform(-1, 1, n) * _decay(n, 0.05, sample_rate) + 0.5 * body


def _hat(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.05 * sample_rate)
    return 0.5 * np.diff(rng.uniform(-1, 1, n + 1)) * _decay(n, 0.012, sample_rate)


def _bass(freq_hz: float, seconds: float, sample_rate: int) -> np.ndarray:
    n = max(1, int(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    wave = sum(np.sin(2 * np.pi * k * freq_hz * t) / k for k in range(1, 6))
    envelope = np.minimum(1, t / 0.005) * np.minimum(1, (seconds - t) / 0.02) * _decay(n, 0.6, sample_rate)
    return 0.35 * wave * envelope


# Cadences: I-IV-V-I in major, i-iv-V-i in (harmonic) minor, as semitones above the tonic.
CADENCES = {
    "major": ((0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)),
    "minor": ((0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7)),
}


@dataclass(frozen=True)
class KeyCase:
    tonic: int  # pitch class, 0 = C
    mode: str
    detune_cents: float = 0.0

    @property
    def name(self) -> str:
        return key_name(self.tonic, self.mode)


# All 24 keys; every third one played off A440 to exercise the tuning estimate.
KEY_CASES = tuple(
    KeyCase(tonic, mode, (0.0, -30.0, 40.0)[(2 * tonic + (mode == "minor")) % 3])
    for tonic in range(12)
    for mode in ("major", "minor")
)


def key_cadence(case: KeyCase, seconds: float, sample_rate: int = 22_050) -> np.ndarray:
    """The case's cadence in organ-like tones (six harmonics) over its bass notes, 2 s a chord."""
    base = 60 + case.tonic if case.tonic < 6 else 48 + case.tonic  # tonic between F#3 and F4
    chords = []
    for triad in CADENCES[case.mode]:
        notes = [(base + step, 1.0) for step in triad] + [(base - 12 + triad[0], 0.8)]
        tones = [gain * _organ_note(_midi_hz(midi, case.detune_cents), 2.0, sample_rate) for midi, gain in notes]
        chords.append(np.sum(tones, axis=0))
    repeats = int(np.ceil(seconds / (2.0 * len(chords))))
    audio = np.concatenate(chords * repeats)[: int(seconds * sample_rate)]
    return (0.5 * audio / np.max(np.abs(audio))).astype(np.float32)


def _midi_hz(midi: float, detune_cents: float) -> float:
    return 440.0 * 2 ** ((midi + detune_cents / 100 - 69) / 12)


def _organ_note(freq_hz: float, seconds: float, sample_rate: int) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = sum(np.sin(2 * np.pi * k * freq_hz * t) / k for k in range(1, 7) if k * freq_hz < sample_rate / 2)
    return wave * np.minimum(1, t / 0.01) * np.exp(-t / 1.5)


def mirex_key_score(estimate: str, truth: str) -> float:
    """MIREX key score (as mir_eval computes it): same key 1.0, a fifth above 0.5, relative 0.3,
    parallel 0.2, else 0."""
    (tonic, mode), (true_tonic, true_mode) = (parse_key(estimate), parse_key(truth))
    interval = (tonic - true_tonic) % 12
    if mode == true_mode:
        return 1.0 if interval == 0 else 0.5 if interval == 7 else 0.0
    if interval == (9 if true_mode == "major" else 3):
        return 0.3
    return 0.2 if interval == 0 else 0.0


# EBU Tech 3341 (integrated loudness, cases 1-5) and Tech 3342 (loudness range, cases 1-4): stereo
# 1 kHz sines at 48 kHz as (level dBFS, seconds) stretches, with the documents' expected values.
EBU_LOUDNESS_CASES = {
    "3341-1": ([(-23, 20)], -23.0),
    "3341-2": ([(-33, 20)], -33.0),
    "3341-3": ([(-36, 10), (-23, 60), (-36, 10)], -23.0),
    "3341-4": ([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),
    "3341-5": ([(-26, 20), (-20, 20.1), (-26, 20)], -23.0),
}
EBU_RANGE_CASES = {
    "3342-1": ([(-20, 20), (-30, 20)], 10.0),
    "3342-2": ([(-20, 20), (-15, 20)], 5.0),
    "3342-3": ([(-40, 20), (-20, 20)], 20.0),
    "3342-4": ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
}
EBU_RATE = 48_000
# Sines whose peaks fall between samples, in the manner of Tech 3341 cases 15-19:
# (frequency Hz, phase degrees, amplitude, sample rate); the true peak is the amplitude.
TRUE_PEAK_CASES = {
    "fs/4": (12_000, 0.0, 0.5, 48_000),
    "fs/4-45deg": (12_000, 45.0, 0.5, 48_000),
    "fs/6": (8_000, 0.0, 0.5, 48_000),
    "fs/8": (6_000, 22.5, 0.5, 48_000),
    "fs/4-plus-3-dBTP": (12_000, 45.0, 2**0.5, 48_000),
    "44.1kHz": (11_025, 45.0, 0.5, 44_100),
}
LOUDNESS_TOLERANCE_LU = 0.1  # Tech 3341
RANGE_TOLERANCE_LU = 1.0  # Tech 3342
TRUE_PEAK_TOLERANCE_DB = (-0.4, 0.2)  # Tech 3341


def stereo_sine(parts: list[tuple[float, float]], freq_hz: float = 1000.0, sample_rate: int = EBU_RATE) -> np.ndarray:
    """Consecutive (level dBFS, seconds) stretches of a sine in both channels, [2, n]."""
    pieces = []
    for level_dbfs, seconds in parts:
        t = np.arange(int(round(seconds * sample_rate))) / sample_rate
        pieces.append(10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq_hz * t))
    mono = np.concatenate(pieces)
    return np.stack([mono, mono])


def true_peak_sine(freq_hz: float, phase_deg: float, amplitude: float, sample_rate: int) -> np.ndarray:
    """One second of a stereo sine, [2, n]."""
    t = np.arange(sample_rate) / sample_rate
    sine = amplitude * np.sin(2 * np.pi * freq_hz * t + np.radians(phase_deg))
    return np.stack([sine, sine])
