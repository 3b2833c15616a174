"""Tempo and metre on real accompaniment arrangements whose tempo is written in their own files.

MMA (Musical MIDI Accompaniment, Debian package `mma`) plays a song file's chords in one of its
library's grooves: ballads, hymns, lullabies, waltzes, 6/8 marches and blues, folk, swing, latin,
each an arrangement of drums, bass, piano, guitar, strings or brass. Each clip here is a song file
this script writes: one groove, a tempo, 30 s or more of a common progression. fluidsynth renders
the MIDI with the FluidR3 General MIDI soundfont (`fluid-soundfont-gm`), so the truth is the
`Tempo` line of the song file, read through the groove's metre (GROOVES, checked against the
`Time` line of the groove's library file). The set leans to slow and acoustic material, where
the electronic set says nothing.

The beat is the quarter note in 4/4 and 3/4 grooves and the dotted quarter in 6/8 ones. Acc1:
within 4 % of that tempo; Acc2: within 4 % of it or of twice, half, three times or a third of
it. Metre: 3 beats to the bar against 4, on the 4/4 and 3/4 grooves (trackscan says 3 or 4).

    make bench-descriptors    # installs mma, fluidsynth and the soundfont (apt-get), runs this too
    python -m benchmarks.arrangement_tempo --essentia-python .venv-bench/bin/python [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from benchmarks.bench_descriptors import MULTIPLES, librosa_tempo
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate

MMA_LIBRARY = Path("/usr/share/mma/lib/stdlib")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 44_100
MIN_SECONDS = 30.0
TOLERANCE = 0.04
PROGRESSION = ("C", "Am", "F", "G", "C", "F", "Dm7", "G7")


@dataclass(frozen=True)
class Metre:
    """How a groove counts: MMA beats (the unit of its Tempo) to a felt beat, and felt beats to the bar."""

    mma_per_beat: int
    beats_per_bar: int
    compound: bool  # 6/8: the felt beat is a dotted quarter


SIMPLE_4 = Metre(1, 4, False)
SIMPLE_3 = Metre(1, 3, False)
# The library writes 6/8 three ways (each groove file says which in its Time line and notes):
SIX_EIGHT_IN_6 = Metre(3, 2, True)  # Time 6: an MMA beat per eighth
SIX_EIGHT_IN_4 = Metre(2, 2, True)  # Time 4 (ballad68: "multiply the real tempo by 2")
SIX_EIGHT_IN_2 = Metre(1, 2, True)  # Time 2: an MMA beat per dotted quarter
# (groove, its metre, beat tempi): slow and acoustic first, then waltzes and 6/8, then the rest.
GROOVES: tuple[tuple[str, Metre, tuple[float, ...]], ...] = (
    ("Ballad", SIMPLE_4, (58, 72)),
    ("PianoBallad", SIMPLE_4, (54, 66)),
    ("GuitarBallad", SIMPLE_4, (62, 76)),
    ("FolkBallad", SIMPLE_4, (68, 84)),
    ("StringBallad", SIMPLE_4, (52, 64)),
    ("Hymn", SIMPLE_4, (60, 78)),
    ("Lullaby", SIMPLE_4, (56, 70)),
    ("SlowBolero", SIMPLE_4, (66, 80)),
    ("SlowCountry", SIMPLE_4, (64, 82)),
    ("SlowJazz", SIMPLE_4, (60, 74)),
    ("SlowBlues", SIMPLE_4, (56, 68)),
    ("SlowSpiritual", SIMPLE_4, (58, 70)),
    ("SlowBroadway", SIMPLE_4, (62, 78)),
    ("PopBallad", SIMPLE_4, (66, 80)),
    ("Waltz", SIMPLE_3, (96, 132)),
    ("JazzWaltz", SIMPLE_3, (112, 150)),
    ("CountryWaltz", SIMPLE_3, (100, 138)),
    ("FrenchWaltz", SIMPLE_3, (120, 160)),
    ("VieneseWaltz", SIMPLE_3, (150, 180)),
    ("BroadwayWaltz", SIMPLE_3, (104, 140)),
    ("ArpeggioWaltz", SIMPLE_3, (88, 116)),
    ("68March", SIX_EIGHT_IN_2, (104, 120)),
    ("Ballad68", SIX_EIGHT_IN_4, (48, 60)),
    ("Blues68", SIX_EIGHT_IN_6, (48, 58)),
    ("68Swing", SIX_EIGHT_IN_6, (56, 70)),
    ("Arpeggio68", SIX_EIGHT_IN_6, (50, 62)),
    ("Folk", SIMPLE_4, (92, 118)),
    ("March", SIMPLE_4, (108, 124)),
    ("Spiritual", SIMPLE_4, (84, 102)),
    ("BossaNova", SIMPLE_4, (118, 136)),
    ("Tango", SIMPLE_4, (112, 126)),
    ("Swing", SIMPLE_4, (126, 168)),
    ("SoftRock", SIMPLE_4, (86, 104)),
    ("Ragtime", SIMPLE_4, (92, 110)),
    ("Polka", SIMPLE_4, (116, 138)),
)


@dataclass(frozen=True)
class Clip:
    """One rendered clip and its truth."""

    groove: str
    tempo_bpm: float  # of the felt beat
    metre: Metre
    path: Path


def mma_beats_per_bar(groove: str) -> int:
    """The first `Time` line of the groove's library file: the MMA beats to its bar."""
    text = (MMA_LIBRARY / f"{groove.lower()}.mma").read_text(errors="replace")
    found = re.search(r"^\s*Time\s+(\d+)", text, re.IGNORECASE | re.MULTILINE)
    if not found:
        raise ValueError(f"{groove}: no Time line in its library file")
    return int(found[1])


def render(groove: str, metre: Metre, beat_bpm: float, folder: Path) -> Clip:
    """Writes the song file, and MMA's MIDI and fluidsynth's WAV beside it."""
    mma_beats = mma_beats_per_bar(groove)
    if mma_beats != metre.mma_per_beat * metre.beats_per_bar:
        raise ValueError(f"{groove}: its library counts {mma_beats} MMA beats to the bar, not {metre}")
    mma_tempo = beat_bpm * metre.mma_per_beat
    bar_s = mma_beats * 60 / mma_tempo
    bars = max(8, math.ceil(MIN_SECONDS / bar_s))
    stem = folder / f"{groove.lower()}-{beat_bpm:g}"
    chords = "\n".join(f"{bar + 1} {PROGRESSION[bar % len(PROGRESSION)]}" for bar in range(bars))
    # RndSeed: MMA humanises timing and velocity at random; seeded, every render is the same.
    stem.with_suffix(".mma").write_text(f"RndSeed 1\nGroove {groove}\nTempo {mma_tempo:g}\n{chords}\n")
    subprocess.run(
        ["mma", "-f", str(stem.with_suffix(".mid")), str(stem.with_suffix(".mma"))], check=True, capture_output=True
    )
    wav = stem.with_suffix(".wav")
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(RATE), str(SOUNDFONT), str(stem.with_suffix(".mid"))],
        check=True,
        capture_output=True,
    )
    return Clip(groove, beat_bpm, metre, wav)


def ours(path: Path) -> dict[str, float | int | None]:
    frames, rate = soundfile.read(path, dtype="float32", always_2d=True)
    samples = np.ascontiguousarray(frames.T)  # [channels, n], as the decoder gives them
    track = combine([segment_descriptors(samples, rate, to_model_rate(samples, rate))])
    return {"tempo_bpm": track.tempo_bpm, "time_signature": track.time_signature}


def essentia_tempos(python: str, paths: list[Path]) -> dict[str, dict[str, float]]:
    """RhythmExtractor2013's tempo per method, by path (benchmarks/essentia_runner.py --tempos)."""
    runner = Path(__file__).with_name("essentia_runner.py")
    done = subprocess.run(
        [python, str(runner), "--tempos", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return {line["path"]: line for line in map(json.loads, done.stdout.splitlines())}


def right(estimate: float | None, truth: float, multiples: tuple[float, ...]) -> bool:
    """Whether the estimate is within TOLERANCE of the truth times one of the multiples."""
    return estimate is not None and any(abs(estimate / (truth * m) - 1) <= TOLERANCE for m in multiples)


def table(clips: list[Clip], answers: dict[str, list[float | None]]) -> list[str]:
    """Acc1 and Acc2 per system, over all clips and per family of grooves."""
    families = {
        "slow (beat < 85 BPM)": [c.tempo_bpm < 85 for c in clips],
        "3/4": [c.metre is SIMPLE_3 for c in clips],
        "6/8": [c.metre.compound for c in clips],
        "all": [True] * len(clips),
    }
    out = [
        "| system | " + " | ".join(f"{name}: Acc1 / Acc2" for name in families) + " |",
        "|---|" + "---|" * len(families),
    ]
    for system, estimates in answers.items():
        cells = []
        for mask in families.values():
            chosen = [(c, e) for c, e, keep in zip(clips, estimates, mask, strict=True) if keep]
            acc1 = sum(right(e, c.tempo_bpm, (1.0,)) for c, e in chosen)
            acc2 = sum(right(e, c.tempo_bpm, MULTIPLES) for c, e in chosen)
            cells.append(f"{acc1}/{len(chosen)} / {acc2}/{len(chosen)}")
        out.append(f"| {system} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--essentia-python", help="the benchmark venv's python (.venv-bench/bin/python)")
    parser.add_argument("--out", type=Path, default=Path(".trackscan/arrangement-tempo"), help="where the clips go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clips = [render(groove, metre, bpm, args.out) for groove, metre, tempi in GROOVES for bpm in tempi]
    ours_answers = [ours(c.path) for c in clips]
    answers: dict[str, list[float | None]] = {"trackscan": [a["tempo_bpm"] for a in ours_answers]}
    if args.essentia_python:
        found = essentia_tempos(args.essentia_python, [c.path for c in clips])
        for method in ("multifeature", "degara"):
            answers[f"Essentia RhythmExtractor2013 {method}"] = [found[str(c.path)][f"tempo {method}"] for c in clips]
    answers["librosa beat_track"] = [float(librosa_tempo(c.path)["tempo_bpm"]) for c in clips]
    minutes = sum(soundfile.info(c.path).duration for c in clips) / 60
    print(f"machine: {platform.processor() or platform.machine()}; {len(clips)} clips, {minutes:.1f} min")
    print("\n".join(table(clips, answers)))
    simple = [(c, a) for c, a in zip(clips, ours_answers, strict=True) if not c.metre.compound]
    metre_right = sum((a["time_signature"] == 3) == (c.metre is SIMPLE_3) for c, a in simple)
    print(f"\ntrackscan's metre (3 beats to the bar or 4), 3/4 and 4/4 grooves: {metre_right}/{len(simple)}")
    print("\n| groove | metre | truth BPM | " + " | ".join(answers) + " |")
    print("|---|---|---|" + "---|" * len(answers))
    for index, clip in enumerate(clips):
        cells = " | ".join("-" if v[index] is None else f"{v[index]:.1f}" for v in answers.values())
        metre = "6/8" if clip.metre.compound else f"{clip.metre.beats_per_bar}/4"
        print(f"| {clip.groove} | {metre} | {clip.tempo_bpm:g} | {cells} |")


if __name__ == "__main__":
    main()
