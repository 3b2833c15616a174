"""Key on generated pop progressions, per progression family: trackscan against Essentia.

The cases are tests/key_fixtures.py's: ten progression families (six major, four minor, two
of them dwelling on the subdominant) in all 24 keys, with and without a bass line, over drums,
in rotating voicings and instruments; then the two that dwell on the subdominant, with a bass
line, in every key, instrument and voicing. The truth is the key they were written in. Systems:
trackscan; trackscan with the key settings it had before the subdominant fix (Albrecht &
Shanahan's profiles, plain energies, the bass weighted 0.5, no minimum of pitch classes), by setting those
constants for the run; Essentia's KeyExtractor with its default, edma and bgate profiles (with
--essentia-python, in its own venv: AGPL, never a dependency). Scores are MIREX (mir_eval's
weighting); a key left unnamed scores 0.

    python -m benchmarks.bench_key [--essentia-python .venv-bench/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile

from tests.key_fixtures import ProgressionCase, progression_audio, progression_cases, subdominant_cases
from tests.music_fixtures import mirex_key_score
from trackscan.audio import key as key_module
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate
from trackscan.domain.key_names import respelled

RATE = 22_050
BARS = 8
# key.py's settings before the subdominant fix: Albrecht & Shanahan's profiles (2013), plain
# energies, the bass weighted 0.5, no minimum of pitch classes.
PREVIOUS = {
    "ENERGY_EXPONENT": 1.0,
    "MAJOR_PROFILE": np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081]),
    "MINOR_PROFILE": np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052]),
    "BASS_WEIGHT": 0.5,
    "MIN_PITCH_CLASSES": 0.0,
}


def trackscan_key(audio: np.ndarray) -> str | None:
    samples = audio[None, :]
    return combine([segment_descriptors(samples, RATE, to_model_rate(samples, RATE))]).key


def essentia_keys(python: str, paths: list[Path]) -> dict[str, dict[str, str | None]]:
    runner = Path(__file__).with_name("essentia_runner.py")
    out = subprocess.run(
        [python, str(runner), "--keys", *map(str, paths)], capture_output=True, text=True, check=True
    ).stdout
    return {
        r["path"]: {name: respelled(value) for name, value in r.items() if name != "path"}
        for r in map(json.loads, out.splitlines())
    }


def answers(cases: list[ProgressionCase], essentia_python: str | None) -> dict[str, list[str | None]]:
    """Each system's key for every case, in case order."""
    found: dict[str, list[str | None]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, case in enumerate(cases):
            audio = progression_audio(case, BARS, RATE)
            found["trackscan"].append(trackscan_key(audio))
            with mock.patch.multiple(key_module, **PREVIOUS):
                found["trackscan before (A&S, bass 0.5)"].append(trackscan_key(audio))
            paths.append(Path(folder) / f"case{i:03d}.wav")
            soundfile.write(paths[-1], audio, RATE, subtype="FLOAT")
        if essentia_python:
            by_path = essentia_keys(essentia_python, paths)
            for name in next(iter(by_path.values())):
                found[f"Essentia KeyExtractor, {name.removeprefix('key ')}"] = [by_path[str(p)][name] for p in paths]
    return found


def report(
    title: str,
    cases: list[ProgressionCase],
    found: dict[str, list[str | None]],
    group_of: Callable[[ProgressionCase], str],
) -> None:
    """One row per group of cases and one for all: MIREX score (exact keys) by system."""
    systems = list(found)
    print(f"\n{title}, {len(cases)} cases: MIREX score (exact keys)\n")
    print("| cases | " + " | ".join(systems) + " |\n|---|" + "---|" * len(systems))
    groups: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        groups[group_of(case)].append(i)
    groups["all"] = list(range(len(cases)))
    for group, members in groups.items():
        cells = []
        for system in systems:
            scores = [mirex_key_score(found[system][i], cases[i].key) if found[system][i] else 0.0 for i in members]
            cells.append(f"{np.mean(scores):.2f} ({sum(s == 1 for s in scores)}/{len(scores)})")
        print(f"| {group} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--essentia-python", help="python of the venv with Essentia (make bench-venv)")
    args = parser.parse_args()
    cases = progression_cases()
    report(
        "Every family in all 24 keys",
        cases,
        answers(cases, args.essentia_python),
        lambda case: f"{case.family}, {'bass' if case.bass else 'no bass'}",
    )
    cases = subdominant_cases()
    report(
        "Dwelling on IV, with a bass line, every key, instrument and voicing",
        cases,
        answers(cases, args.essentia_python),
        lambda case: f"{case.mode}, {case.instrument}, {case.voicing}",
    )


if __name__ == "__main__":
    main()
