"""Benchmark of the embedded default on real music, against a naive one-file-at-a-time loop.

Measures, on the demo corpus of Debian music:
  1. decode + features realtime factor (one process, per segment of TRACKSCAN_SEGMENT_S);
  2. model throughput in patches per second (onnxruntime, batches of 32);
  3. end to end: `trackscan run` audio seconds per wall second, all workers;
  4. the naive loop: librosa.load of the whole file, the same patches and descriptors (tempo,
     key, loudness on the 16 kHz mono signal), the same model, one file at a time.
Prints a Markdown table for BENCHMARKS.md.

    python -m benchmarks.bench_local --music ~/.cache/trackscan/music [--corpus drascula-music ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np

from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.audio.decode import decode_segment, probe
from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.features import SAMPLE_RATE, patches_from_audio, to_model_rate
from trackscan.config import Config
from trackscan.pipeline.ingest import plan_segments


def features_rtf(files: list[Path], segment_s: float) -> tuple[float, np.ndarray]:
    """Audio seconds per compute second for decode + features; returns all patches too."""
    audio_s, busy_s, patches = 0.0, 0.0, []
    for path in files:
        with path.open("rb") as reader:
            info = probe(reader, 1e9)
        for start_s, duration_s in plan_segments(info.duration_s, segment_s):
            began = time.perf_counter()
            with path.open("rb") as reader:
                decoded = decode_segment(reader, start_s, duration_s)
            mono = to_model_rate(decoded.samples, decoded.sample_rate)
            segment_descriptors(decoded.samples, decoded.sample_rate, mono)
            patches.append(patches_from_audio(mono))
            busy_s += time.perf_counter() - began
            audio_s += decoded.duration_s
    return audio_s / busy_s, np.concatenate(patches)


def model_patches_per_s(model_path: str, patches: np.ndarray, batch: int = 32) -> float:
    tagger = OnnxTagger(model_path)
    tagger.predict(patches[:batch])  # load and warm
    began = time.perf_counter()
    for i in range(0, len(patches), batch):
        tagger.predict(patches[i : i + batch])
    return len(patches) / (time.perf_counter() - began)


def end_to_end(files: list[Path], workers: int) -> float:
    """Wall seconds of `trackscan run` on a fresh state folder."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TRACKSCAN_HOME": home}
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "trackscan.cli", "run", "--json", "--workers", str(workers),
                        *map(str, files)], env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - began


def naive_loop(files: list[Path], model_path: str) -> float:
    """Wall seconds of the simple way: whole file in memory, one file at a time, the same
    patches, descriptors and model."""
    import onnxruntime

    began = time.perf_counter()
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    for path in files:
        audio, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
        combine([segment_descriptors(audio[None, :], SAMPLE_RATE, audio)])
        session.run(None, {"patches": patches_from_audio(audio)})
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--corpus", nargs="+", default=["demo"],
                        help="folders under --music to take every track from (default: the demo set)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    config = Config.from_env()
    files = sorted(p.resolve() for folder in args.corpus for p in (args.music / folder).iterdir())
    audio_s = sum(librosa.get_duration(path=p) for p in files)
    rtf, patches = features_rtf(files, config.segment_s)
    patches_per_s = model_patches_per_s(config.model_path, patches)
    naive_s = naive_loop(files, config.model_path)
    e2e_s = end_to_end(files, args.workers)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"corpus: {len(files)} tracks, {audio_s / 60:.1f} min of audio, {len(patches)} patches\n")
    print("| measure | value |\n|---|---|")
    print(f"| decode + features, one process | {rtf:.1f}x realtime |")
    print(f"| model (onnxruntime, batch 32) | {patches_per_s:.0f} patches/s |")
    e2e = f"{audio_s / e2e_s:.1f} audio s per wall s ({e2e_s:.1f} s)"
    naive = f"{audio_s / naive_s:.1f} audio s per wall s ({naive_s:.1f} s)"
    print(f"| end to end, `trackscan run --workers {args.workers}` | {e2e} |")
    print(f"| naive loop (librosa.load + same features + same model) | {naive} |")
    print(f"| ratio trackscan / naive | {naive_s / e2e_s:.2f} |")


if __name__ == "__main__":
    main()
