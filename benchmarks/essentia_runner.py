"""Essentia's reference descriptors for a list of audio files, one JSON object per line.

Runs in the benchmark-only venv (`make bench-venv`, .venv-bench): Essentia is AGPL-3.0, so it is
never imported by trackscan and never a runtime dependency; bench_descriptors.py starts this
script as a separate process and reads its output.

    .venv-bench/bin/python benchmarks/essentia_runner.py FILE...
    .venv-bench/bin/python benchmarks/essentia_runner.py --keys FILE...
    .venv-bench/bin/python benchmarks/essentia_runner.py --tempos FILE...

Per file: RhythmExtractor2013 (multifeature) tempo, KeyExtractor key (default profile), and
LoudnessEBUR128 integrated loudness and loudness range plus TruePeakDetector (4x) on the file
at its own sample rate, with the CPU seconds they took (loading included). With --keys, only
KeyExtractor, once per profile in KEY_PROFILES. With --tempos, only RhythmExtractor2013, once per
method in TEMPO_METHODS.
"""

from __future__ import annotations

import json
import sys
import time

import essentia
import essentia.standard as es
import numpy as np

ANALYSIS_RATE = 44_100  # what RhythmExtractor2013 and KeyExtractor are built for
# KeyExtractor's default, then the profiles the key issue compares against by name.
KEY_PROFILES = ("default", "edma", "bgate")
TEMPO_METHODS = ("multifeature", "degara")


def describe(path: str) -> dict[str, object]:
    began = time.process_time()
    mono = es.MonoLoader(filename=path, sampleRate=ANALYSIS_RATE)()
    bpm = es.RhythmExtractor2013(method="multifeature")(mono)[0]
    key, scale, strength = es.KeyExtractor(sampleRate=ANALYSIS_RATE)(mono)
    stereo, rate, channels, *_ = es.AudioLoader(filename=path)()
    if channels == 1:
        stereo = np.column_stack([stereo[:, 0], np.zeros_like(stereo[:, 0])]).astype(np.float32)
    _, _, integrated, loudness_range = es.LoudnessEBUR128(sampleRate=rate)(stereo)
    peak = max(
        float(np.max(np.abs(es.TruePeakDetector(sampleRate=rate, version=4)(essentia.array(stereo[:, channel]))[1])))
        for channel in range(2)
    )
    return {
        "path": path,
        "tempo_bpm": round(float(bpm), 2),
        "key": f"{key} {scale}",  # Essentia's spelling (Eb, Bb, C#); bench_descriptors respells it
        "key_strength": round(float(strength), 3),
        "loudness_lufs": round(float(integrated), 2),
        "loudness_range_lu": round(float(loudness_range), 2),
        "true_peak_dbtp": round(20 * float(np.log10(max(peak, 1e-10))), 2),
        "cpu_s": round(time.process_time() - began, 3),
    }


def keys(path: str) -> dict[str, object]:
    """The key KeyExtractor reads with each of KEY_PROFILES, e.g. {"key default": "Eb minor", ...}."""
    mono = es.MonoLoader(filename=path, sampleRate=ANALYSIS_RATE)()
    found: dict[str, object] = {"path": path}
    for profile in KEY_PROFILES:
        options = {} if profile == "default" else {"profileType": profile}
        key, scale, _ = es.KeyExtractor(sampleRate=ANALYSIS_RATE, **options)(mono)
        found[f"key {profile}"] = f"{key} {scale}"
    return found


def tempos(path: str) -> dict[str, object]:
    """The tempo RhythmExtractor2013 reads with each of TEMPO_METHODS, e.g. {"tempo degara": 92.3, ...}."""
    mono = es.MonoLoader(filename=path, sampleRate=ANALYSIS_RATE)()
    found: dict[str, object] = {"path": path}
    for method in TEMPO_METHODS:
        found[f"tempo {method}"] = round(float(es.RhythmExtractor2013(method=method)(mono)[0]), 2)
    return found


MODES = {"--keys": keys, "--tempos": tempos}


def main() -> None:
    essentia.log.infoActive = False
    essentia.log.warningActive = False
    paths = sys.argv[1:]
    analyse = MODES.get(paths[0], describe) if paths else describe
    for path in paths[1:] if analyse is not describe else paths:
        print(json.dumps(analyse(path)), flush=True)


if __name__ == "__main__":
    main()
