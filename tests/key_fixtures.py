"""Pop progressions in every key, with known keys: one chord a bar over drums, with or without a
bass line, in several voicings and instruments. The set the key estimate is tuned and tested on
(and the descriptor benchmark reports), built so the relation a key estimate most often confuses,
the subdominant (IV) a fourth above the tonic, gets its share of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.music_fixtures import TempoCase, drum_pattern
from trackscan.domain.key_names import key_name

# Chords on each scale degree as semitones above the tonic: major keys, then natural minor.
MAJOR_CHORDS = {
    "I": (0, 4, 7),
    "ii": (2, 5, 9),
    "iii": (4, 7, 11),
    "IV": (5, 9, 12),
    "V": (7, 11, 14),
    "vi": (9, 12, 16),
}
MINOR_CHORDS = {
    "i": (0, 3, 7),
    "III": (3, 7, 10),
    "iv": (5, 8, 12),
    "v": (7, 10, 14),
    "V": (7, 11, 14),
    "VI": (8, 12, 15),
    "VII": (10, 14, 17),
}
# Progression families, one chord a bar. The IV-heavy ones spend more bars on IV than on I.
PROGRESSIONS = {
    "major": {
        "I-IV-V-I": ("I", "IV", "V", "I"),
        "I-vi-IV-V": ("I", "vi", "IV", "V"),
        "I-IV-I-V": ("I", "IV", "I", "V"),
        "ii-V-I": ("ii", "V", "I", "I"),
        "I-V-vi-IV": ("I", "V", "vi", "IV"),
        "IV-I-IV-V (IV-heavy)": ("IV", "I", "IV", "V"),
    },
    "minor": {
        "i-iv-v-i": ("i", "iv", "v", "i"),
        "i-VI-III-VII": ("i", "VI", "III", "VII"),
        "i-iv-VII-III": ("i", "iv", "VII", "III"),
        "iv-i-iv-V (iv-heavy)": ("iv", "i", "iv", "V"),
    },
}
INSTRUMENTS = ("organ", "piano", "pad")
VOICINGS = ("close", "first inversion", "open")
BPM = 100.0


@dataclass(frozen=True)
class ProgressionCase:
    """A progression family played in one key, in one voicing and instrument."""

    tonic: int  # pitch class, 0 = C
    mode: str
    family: str
    instrument: str = "organ"
    voicing: str = "close"
    bass: bool = True

    @property
    def key(self) -> str:
        return key_name(self.tonic, self.mode)

    @property
    def label(self) -> str:
        return f"{self.key}, {self.family}, {self.instrument}, {self.voicing}, {'bass' if self.bass else 'no bass'}"


def progression_cases(bass: bool | None = None) -> list[ProgressionCase]:
    """Every family in all 24 keys; instruments and voicings rotate over the keys."""
    cases = []
    for mode, families in PROGRESSIONS.items():
        for family in families:
            for tonic in range(12):
                for with_bass in (True, False) if bass is None else (bass,):
                    spin = tonic + len(cases)
                    cases.append(
                        ProgressionCase(
                            tonic, mode, family, INSTRUMENTS[spin % 3], VOICINGS[(spin // 3) % 3], with_bass
                        )
                    )
    return cases


def subdominant_cases() -> list[ProgressionCase]:
    """The IV-heavy families with a bass line in every key, instrument and voicing: the bias's test."""
    return [
        ProgressionCase(tonic, mode, family, instrument, voicing)
        for mode, families in PROGRESSIONS.items()
        for family in families
        if "heavy" in family
        for tonic in range(12)
        for instrument in INSTRUMENTS
        for voicing in VOICINGS
    ]


def progression_audio(case: ProgressionCase, bars: int = 8, sample_rate: int = 22_050) -> np.ndarray:
    """The case's progression, one chord a bar at 100 BPM in 4/4, over drums (and a bass line)."""
    chords = MAJOR_CHORDS if case.mode == "major" else MINOR_CHORDS
    names = PROGRESSIONS[case.mode][case.family]
    bar_s = 4 * 60.0 / BPM
    base = 36 + case.tonic if case.tonic >= 9 else 48 + case.tonic  # MIDI: the tonic between A2 and G#3
    out = np.zeros(int(bars * bar_s * sample_rate))
    for bar in range(bars):
        steps = chords[names[bar % len(names)]]
        start = int(bar * bar_s * sample_rate)
        for midi in _voiced(base + 12, steps, case.voicing):
            _add(out, 0.25 * _note(_hz(midi), bar_s, case.instrument, sample_rate), start)
        if case.bass:
            for beat in range(4):  # the root on every beat, an octave below the tonic's register
                _add(
                    out,
                    0.35 * _note(_hz(base - 12 + steps[0]), 0.9 * bar_s / 4, "bass", sample_rate),
                    start + int(beat * bar_s / 4 * sample_rate),
                )
    drums = drum_pattern(
        TempoCase(BPM, "rock"), out.size / sample_rate, sample_rate, seed=case.tonic, mix=(1.0, 0.7, 0.2, 0.0)
    )
    mixed = out / np.max(np.abs(out)) + 0.5 * drums[: out.size]
    return (0.5 * mixed / np.max(np.abs(mixed))).astype(np.float32)


def _voiced(root_midi: int, steps: tuple[int, ...], voicing: str) -> list[int]:
    notes = [root_midi + step for step in steps]
    if voicing == "first inversion":
        return [*notes[1:], notes[0] + 12]
    if voicing == "open":
        return [notes[0], notes[2], notes[1] + 12]
    return notes


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _note(freq_hz: float, seconds: float, instrument: str, sample_rate: int) -> np.ndarray:
    t = np.arange(max(1, int(seconds * sample_rate))) / sample_rate
    # (harmonic amplitudes as a power of 1/k, decay time constant in s)
    rolloff, decay_s = {"organ": (1.0, 3.0), "piano": (2.0, 0.8), "pad": (3.0, 6.0), "bass": (1.0, 0.6)}[instrument]
    wave = sum(np.sin(2 * np.pi * k * freq_hz * t) / k**rolloff for k in range(1, 7) if k * freq_hz < sample_rate / 2)
    attack = np.minimum(1, t / (0.05 if instrument == "pad" else 0.005))
    release = np.minimum(1, (seconds - t) / 0.02)
    return wave * attack * release * np.exp(-t / decay_s)


def _add(out: np.ndarray, sound: np.ndarray, start: int) -> None:
    part = sound[: max(0, out.size - start)]
    out[start : start + part.size] += part
