"""Descriptors side by side with the field's tools: trackscan now, trackscan before issue 11,
Essentia and librosa's beat tracker, on generated audio whose answer is known and on real music.

    make bench-descriptors      # creates .venv-bench (Essentia, AGPL-3.0: benchmark only) and runs this
    python -m benchmarks.bench_descriptors --music DIR --essentia-python .venv-bench/bin/python [--limit N]

Prints the accuracy tables on the known-truth cases (tempo, key, loudness), the agreement and
disagreement tables on real music (tempo, key, loudness), and descriptor CPU per audio minute.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import soundfile

from benchmarks import descriptor_cost
from tests import music_fixtures as fx
from trackscan.audio.decode import decode_segment, probe
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate
from trackscan.domain.key_names import respelled
from trackscan.pipeline.segment_plan import plan_segments

RATE = 44_100
TEMPO_SECONDS = 30.0
KEY_SECONDS = 8.0
MULTIPLES = (1.0, 2.0, 0.5, 3.0, 1 / 3)
CORPORA = ("drascula-music", "torus-trooper-data", "wesnoth-1.16-music")
Result = dict[str, object]


def ours(samples: np.ndarray, rate: int) -> Result:
    track = combine([segment_descriptors(samples, rate, to_model_rate(samples, rate))])
    return {
        "tempo_bpm": track.tempo_bpm,
        "key": track.key,
        "loudness_lufs": track.loudness_lufs,
        "loudness_range_lu": track.loudness_range_lu,
        "true_peak_dbtp": track.true_peak_dbtp,
    }


def old(module, samples: np.ndarray, rate: int) -> Result:
    track = module.combine([module.segment_descriptors(samples, rate, to_model_rate(samples, rate))])
    return {"tempo_bpm": track.tempo_bpm, "key": track.key, "loudness_lufs": track.loudness_lufs}


def librosa_tempo(path: Path) -> Result:
    audio, rate = librosa.load(path, sr=22_050, mono=True)
    tempo, _ = librosa.beat.beat_track(y=audio, sr=rate)
    return {"tempo_bpm": round(float(np.atleast_1d(tempo)[0]), 2)}


def essentia(python: str | None, paths: list[Path]) -> dict[str, Result]:
    """Essentia's answers by file path, from benchmarks/essentia_runner.py in its own venv."""
    if not python or not paths:
        return {}
    runner = Path(__file__).with_name("essentia_runner.py")
    out = subprocess.run([python, str(runner), *map(str, paths)], capture_output=True, text=True, check=True).stdout
    # Keys spelled as trackscan spells them, so the two compare as strings.
    return {r["path"]: {**r, "key": respelled(r["key"])} for r in map(json.loads, out.splitlines())}


def truth_cases(folder: Path) -> list[tuple[str, str, object, np.ndarray, int, Path]]:
    """(table, name, truth, [channels, n] audio, rate, wav) for every generated case, written as WAV."""
    cases: list[tuple[str, str, object, np.ndarray, int]] = []
    for case in fx.TEMPO_CASES:
        cases.append(
            (
                "tempo, plain mix",
                f"{case.style} {case.bpm}",
                case.bpm,
                fx.drum_pattern(case, TEMPO_SECONDS, RATE)[None, :],
                RATE,
            )
        )
    for i, (case, mix) in enumerate(fx.random_mix_cases(6, seed=11)):
        cases.append(
            (
                "tempo, random mix",
                f"{case.style} {case.bpm}",
                case.bpm,
                fx.drum_pattern(case, TEMPO_SECONDS, RATE, seed=i, mix=mix)[None, :],
                RATE,
            )
        )
    for key_case in fx.KEY_CASES:
        cases.append(("key", key_case.name, key_case.name, fx.key_cadence(key_case, KEY_SECONDS, RATE)[None, :], RATE))
    for name, (parts, lufs) in fx.EBU_LOUDNESS_CASES.items():
        cases.append(("loudness", name, lufs, fx.stereo_sine(parts), fx.EBU_RATE))
    for name, (parts, lu) in fx.EBU_RANGE_CASES.items():
        cases.append(("loudness range", name, lu, fx.stereo_sine(parts), fx.EBU_RATE))
    for name, (freq, phase, amplitude, rate) in fx.TRUE_PEAK_CASES.items():
        sine = fx.true_peak_sine(freq, phase, amplitude, rate)
        cases.append(("true peak", name, 20 * np.log10(amplitude), sine, rate))
    written = []
    for i, (table, name, truth, audio, rate) in enumerate(cases):
        path = folder / f"case{i:03d}.wav"
        soundfile.write(path, audio.T, rate, subtype="FLOAT")
        written.append((table, name, truth, audio.astype(np.float32), rate, path))
    return written


def tempo_row(system: str, pairs: list[tuple[float, float | None]]) -> str:
    def error(estimate: float | None, truth: float, multiple: float = 1.0) -> float:
        return abs(estimate / (truth * multiple) - 1) if estimate else 1.0

    right = [abs(e - t) for t, e in pairs if e and error(e, t) <= 0.02]
    related = sum(min(error(e, t, m) for m in MULTIPLES) <= 0.04 for t, e in pairs)
    median = f"{statistics.median(right):.2f}" if right else "-"
    return f"| {system} | {len(right)}/{len(pairs)} | {related}/{len(pairs)} | {median} |"


def accuracy(cases, answers: dict[str, dict[Path, Result]]) -> None:
    by_table: dict[str, list] = {}
    for case in cases:
        by_table.setdefault(case[0], []).append(case)
    for table in ("tempo, plain mix", "tempo, random mix"):
        print(f"\n### Tempo, {len(by_table[table])} drum and bass-line patterns, {table.split(', ')[1]}\n")
        print(
            "| system | within 2 % | within 4 % of truth, x2, x1/2, x3 or x1/3 | median error when within 2 % (BPM) |"
            "\n|---|---|---|---|"
        )
        for system, results in answers.items():
            pairs = [(truth, results[path].get("tempo_bpm")) for _, _, truth, _, _, path in by_table[table]]
            print(tempo_row(system, pairs))
    print("\n### Key, cadences in all 24 keys (MIREX score)\n\n| system | mean score | exact |\n|---|---|---|")
    for system, results in answers.items():
        scores = [
            fx.mirex_key_score(str(results[p].get("key") or "C minor"), truth)
            for _, _, truth, _, _, p in by_table["key"]
            if results[p].get("key") is not None
        ]
        if scores:
            print(f"| {system} | {np.mean(scores):.3f} | {sum(s == 1 for s in scores)}/{len(scores)} |")
    print("\n### Loudness, EBU test signals (inside the EBU tolerance / cases; largest error)\n")
    print(
        "| system | Tech 3341 1-5, LUFS +-0.1 | Tech 3342 1-4, LRA +-1 LU | true peak +0.2/-0.4 dB |\n|---|---|---|---|"
    )
    checks = {
        "loudness": ("loudness_lufs", -0.1, 0.1),
        "loudness range": ("loudness_range_lu", -1.0, 1.0),
        "true peak": ("true_peak_dbtp", -0.4, 0.2),
    }
    for system, results in answers.items():
        cells = []
        for table, (field, low, high) in checks.items():
            errors = [
                float(results[p][field]) - truth
                for _, _, truth, _, _, p in by_table[table]
                if results[p].get(field) is not None
            ]
            inside = sum(low <= e <= high for e in errors)
            cells.append(f"{inside}/{len(by_table[table])} ({max(map(abs, errors)):.2f})" if errors else "-")
        print(f"| {system} | " + " | ".join(cells) + " |")


def real_music(music: Path, limit: int | None, python: str | None, baseline) -> None:
    files = [f for corpus in CORPORA for f in sorted((music / corpus).glob("*.ogg"))[:limit]]
    ess = essentia(python, files)
    rows, minutes, cpu = [], 0.0, {"trackscan (decode + descriptors)": 0.0, "librosa beat_track": 0.0}
    for path in files:
        with path.open("rb") as reader:
            duration_s = probe(reader, 1e9).duration_s
        minutes += duration_s / 60
        began = time.process_time()
        segments = []
        for start_s, length_s in plan_segments(duration_s, 60.0):
            with path.open("rb") as reader:
                decoded = decode_segment(reader, start_s, length_s)
            segments.append(
                segment_descriptors(
                    decoded.samples, decoded.sample_rate, to_model_rate(decoded.samples, decoded.sample_rate)
                )
            )
        track = combine(segments)
        cpu["trackscan (decode + descriptors)"] += time.process_time() - began
        began = time.process_time()
        lib = librosa_tempo(path)
        cpu["librosa beat_track"] += time.process_time() - began
        rows.append((path, track, lib, ess.get(str(path), {})))
    if ess:
        cpu["Essentia (load + 4 algorithms)"] = sum(float(r["cpu_s"]) for r in ess.values())
    agreement(rows)
    print(f"\nCPU seconds per audio minute on these {len(files)} tracks ({minutes:.1f} min):\n")
    for system, seconds in cpu.items():
        print(f"- {system}: {seconds / minutes:.2f}")


def agreement(rows) -> None:
    def near(a, b, multiples=(1.0,)) -> bool:
        return bool(a and b) and min(abs(a / (b * m) - 1) for m in multiples) <= 0.04

    print(f"\n### Real music, {len(rows)} tracks: trackscan against Essentia and librosa\n")
    print("| measure | value |\n|---|---|")
    have_ess = [r for r in rows if r[3]]
    summary = [
        (
            "tempo within 4 % of librosa beat_track",
            sum(near(t.tempo_bpm, lib["tempo_bpm"]) for _, t, lib, _ in rows),
            len(rows),
        )
    ]
    if have_ess:
        summary += [
            (name, count, len(have_ess))
            for name, count in (
                ("tempo within 4 % of Essentia", sum(near(t.tempo_bpm, e["tempo_bpm"]) for _, t, _, e in have_ess)),
                (
                    "tempo within 4 % of Essentia or x2, x1/2, x3, x1/3",
                    sum(near(t.tempo_bpm, e["tempo_bpm"], MULTIPLES) for _, t, _, e in have_ess),
                ),
                (
                    "Essentia within 4 % of librosa beat_track",
                    sum(near(e["tempo_bpm"], lib["tempo_bpm"]) for _, _, lib, e in have_ess),
                ),
                ("same key as Essentia", sum(t.key == e["key"] for _, t, _, e in have_ess)),
            )
        ]
    for name, count, total in summary:
        print(f"| {name} | {count}/{total} |")
    for field, label in (("loudness_lufs", "LUFS"), ("loudness_range_lu", "LRA"), ("true_peak_dbtp", "true peak")):
        diffs = [abs(getattr(t, field) - e[field]) for _, t, _, e in have_ess if getattr(t, field) is not None]
        if diffs:
            print(
                f"| {label}: median / largest difference from Essentia | {statistics.median(diffs):.2f} / "
                f"{max(diffs):.2f} |"
            )
    print(
        "\n| track | trackscan BPM | Essentia BPM | librosa BPM | trackscan key | Essentia key | LUFS (ts / ess) |"
        " LRA (ts / ess) | dBTP (ts / ess) |\n|---|---|---|---|---|---|---|---|---|"
    )
    for path, t, lib, e in rows:
        print(
            f"| {path.parent.name}/{path.name} | {t.tempo_bpm} ({t.tempo_confidence:.2f}) | {e.get('tempo_bpm')} | "
            f"{lib['tempo_bpm']} | {t.key} | {e.get('key')} | {t.loudness_lufs} / {e.get('loudness_lufs')} | "
            f"{t.loudness_range_lu} / {e.get('loudness_range_lu')} | "
            f"{t.true_peak_dbtp} / {e.get('true_peak_dbtp')} |"
        )


def run_all(cases, analyse: Callable[[np.ndarray, int, Path], Result]) -> dict[Path, Result]:
    return {path: analyse(audio, rate, path) for _, _, _, audio, rate, path in cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--essentia-python", help="python of the venv with Essentia (make bench-venv)")
    parser.add_argument("--limit", type=int, help="at most this many tracks per corpus")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions of the CPU comparison")
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, librosa "
        f"{librosa.__version__}"
    )
    baseline = descriptor_cost.baseline_module()
    with tempfile.TemporaryDirectory() as folder:
        cases = truth_cases(Path(folder))
        answers = {"trackscan": run_all(cases, lambda audio, rate, _: ours(audio, rate))}
        if baseline is not None:
            answers["trackscan before issue 11"] = run_all(cases, lambda audio, rate, _: old(baseline, audio, rate))
        ess = essentia(args.essentia_python, [case[-1] for case in cases])
        if ess:
            answers["Essentia 2.1b6"] = {case[-1]: ess[str(case[-1])] for case in cases}
        answers["librosa beat_track"] = {
            path: librosa_tempo(path) if table.startswith("tempo") else {} for table, _, _, _, _, path in cases
        }
        accuracy(cases, answers)
    if args.music:
        real_music(args.music, args.limit, args.essentia_python, baseline)
        audio = descriptor_cost.segments(args.music)
        print(f"\n### Descriptor CPU, {len(audio)} real 60 s segments, {args.repeats} interleaved repetitions\n")
        print(descriptor_cost.report(descriptor_cost.compare(audio, args.repeats)))


if __name__ == "__main__":
    main()
