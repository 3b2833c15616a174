"""The model alone: which runtime, precision and batch size tag fastest while agreeing with fp32.

1. Speed: patches/s of onnxruntime fp32 (as configured before, batches of 32, and batch 1),
   OpenVINO fp32 and OpenVINO bf16 over a batch sweep, with 1 thread (as each embedded worker
   runs) and 2 threads. Interleaved: every round runs every configuration once, in a rotated
   order; median and spread (min-max) over the rounds.
2. Faithfulness: every track of the corpora, cut into segments and patches as the pipeline
   does, scored by each variant and compared with onnxruntime fp32 by trackscan.pipeline.model_gate.
3. Before and after in the infer step: patches per model call on the corpora's segments
   and patches/s, onnxruntime at batch 32 against the variant `auto` picks at each --batch.
Prints Markdown for BENCHMARKS.md.

    python -m benchmarks.bench_model --music ~/.cache/trackscan/music [--rounds 5] [--patches 128]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.adapters.openvino_tagger import OpenVinoTagger
from trackscan.domain.config import Config
from trackscan.domain.ports import Tagger
from trackscan.pipeline.infer import predict_in_batches
from trackscan.pipeline.model_gate import Agreement, agreement, score_tracks, segment_patches
from trackscan.runtimes.bootstrap import local_tagger

CORPORA = ("wesnoth-1.16-music", "drascula-music", "torus-trooper-data")
BATCHES = (1, 2, 4, 8, 16, 32, 64)
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx512f")


def taggers(model_path: str, threads: int) -> dict[str, Tagger]:
    return {
        "onnxruntime-fp32": OnnxTagger(model_path, threads=threads),
        "openvino-fp32": OpenVinoTagger(model_path, "fp32", threads=threads),
        "openvino-bf16": OpenVinoTagger(model_path, "bf16", threads=threads),
    }


def configurations(threads: int) -> list[tuple[str, int, int]]:
    """(variant, batch, threads): onnxruntime at batch 32 (the old default) and 1, OpenVINO swept."""
    runs = [("onnxruntime-fp32", 32, threads), ("onnxruntime-fp32", 1, threads)]
    return runs + [(variant, b, threads) for variant in ("openvino-fp32", "openvino-bf16") for b in BATCHES]


def patches_per_s(tagger: Tagger, segments: list[np.ndarray], batch: int) -> tuple[float, float]:
    """Patches per wall second and per CPU second of this process (all its threads), scoring each
    segment batch patches at a time as the infer step does (its last call may be short).

    On a shared machine the wall figure depends on the neighbours; the CPU figure much less.
    """
    tagger.predict(segments[0][:batch])  # loaded and warm before the clock starts
    wall, cpu = time.perf_counter(), time.process_time()
    for patches in segments:
        predict_in_batches(tagger, patches, batch)
    count = sum(len(patches) for patches in segments)
    return count / (time.perf_counter() - wall), count / (time.process_time() - cpu)


def sweep(model_path: str, sample: np.ndarray, threads: int, rounds: int) -> dict[tuple, list[tuple[float, float]]]:
    """(wall, CPU) patches/s per configuration, one pair per round, configurations rotated each round."""
    runtimes = taggers(model_path, threads)
    runs = configurations(threads)
    figures: dict[tuple, list[tuple[float, float]]] = {run: [] for run in runs}
    for round_index in range(rounds):
        shift = round_index % len(runs)
        for run in runs[shift:] + runs[:shift]:
            figures[run].append(patches_per_s(runtimes[run[0]], [sample], run[1]))
    return figures


def gate(model_path: str, tracks: list[np.ndarray], batch: int) -> dict[str, Agreement]:
    runtimes = taggers(model_path, threads=0)
    reference = score_tracks(runtimes.pop("onnxruntime-fp32"), tracks, 32)
    return {name: agreement(reference, score_tracks(t, tracks, batch)) for name, t in runtimes.items()}


def calls_per_segment(segment_sizes: list[int], batch: int) -> float:
    """Mean patches per model call when each segment is scored batch patches at a time."""
    return sum(segment_sizes) / sum(math.ceil(n / batch) for n in segment_sizes)


def interleaved(measures: dict[str, Callable[[], tuple[float, float]]], rounds: int) -> dict[str, list]:
    figures: dict[str, list] = {name: [] for name in measures}
    for round_index in range(rounds):
        names = list(measures)
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            figures[name].append(measures[name]())
    return figures


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def cpu_description() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    lines = text.splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    model = names[0] if names else platform.processor()
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    present = [flag for flag in BF16_FLAGS if flag in flags]
    return f"{model}, {os.cpu_count()} cores, flags: {' '.join(present) or 'none of ' + ' '.join(BF16_FLAGS)}"


def print_sweep(figures: dict[tuple, list[tuple[float, float]]], threads: int) -> None:
    rounds = len(next(iter(figures.values())))
    for index, unit in enumerate(("wall", "CPU")):
        print(f"\n### patches per {unit} second, {threads} thread(s): median (min-max) of {rounds} rounds\n")
        print("| variant | " + " | ".join(f"batch {b}" for b in BATCHES) + " |")
        print("|---|" + "---|" * len(BATCHES))
        for variant in ("onnxruntime-fp32", "openvino-fp32", "openvino-bf16"):
            runs = [figures.get((variant, b, threads)) for b in BATCHES]
            print(f"| {variant} | " + " | ".join(cell([r[index] for r in run]) if run else "" for run in runs) + " |")


def print_gate(results: dict[str, Agreement], batch: int, tracks: int) -> None:
    print(f"\n### Agreement with onnxruntime fp32, {tracks} whole tracks (batch {batch})\n")
    print("| variant | top-5 same, MTT | MSD | both | min embedding cosine | gate |\n|---|---|---|---|---|---|")
    for name, a in results.items():
        verdict = "pass" if a.passed else "FAIL"
        print(
            f"| {name} | {a.same_top_mtt:.1%} | {a.same_top_msd:.1%} | {a.same_top_both:.1%} "
            f"| {a.min_embedding_cosine:.5f} | {verdict} |"
        )


def before_after(config: Config, segments: list[np.ndarray], batches: list[int], rounds: int) -> None:
    """onnxruntime at batch 32 (before) against the variant `auto` picks at each batch, 1 thread."""
    chosen = local_tagger(config, threads=1)
    runs = {("onnxruntime-fp32", 32): OnnxTagger(config.model_path, threads=1)}
    runs |= {(chosen.model_info().variant, b): chosen for b in batches}
    measures = {run: functools.partial(patches_per_s, tagger, segments, run[1]) for run, tagger in runs.items()}
    figures = interleaved(measures, rounds)
    sizes = [len(s) for s in segments]
    print(
        f"\n### In the infer step, 1 thread per worker, {len(segments)} segments of {config.segment_s:g} s, "
        f"{sum(sizes)} patches\n"
    )
    print("| runtime | batch | patches per model call | patches per wall s | patches per CPU s |")
    print("|---|---|---|---|---|")
    for (variant, batch), pairs in figures.items():
        wall, cpu = cell([w for w, _ in pairs]), cell([c for _, c in pairs])
        print(f"| {variant} | {batch} | {calls_per_segment(sizes, batch):.1f} | {wall} | {cpu} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--corpus", nargs="+", default=list(CORPORA))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--patches", type=int, default=128, help="patches timed per configuration and round")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--parts", nargs="+", default=["sweep", "gate", "pipeline"], help="which parts to run")
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[Config.from_env().infer_batch_patches],
        help="batches of the 'after' rows; the gate uses the first (default: the configured one)",
    )
    args = parser.parse_args()
    config = Config.from_env()
    files = sorted(p for folder in args.corpus for p in (args.music / folder).iterdir())
    per_track = [segment_patches(path, config.segment_s) for path in files]
    segments = [s for track in per_track for s in track]
    tracks = [np.concatenate(track) for track in per_track]
    sample = np.concatenate(tracks)[np.random.default_rng(0).permutation(sum(map(len, tracks)))[: args.patches]]
    print(f"date: {datetime.date.today()}, machine: {cpu_description()}, load average {os.getloadavg()[0]:.1f}")
    print(
        f"Python {platform.python_version()}; corpus: {len(files)} tracks, {len(segments)} segments, "
        f"{len(sample)} of {sum(map(len, tracks))} patches timed per configuration"
    )
    for threads in args.threads if "sweep" in args.parts else []:
        print_sweep(sweep(config.model_path, sample, threads, args.rounds), threads)
    if "gate" in args.parts:
        print_gate(gate(config.model_path, tracks, args.batch[0]), args.batch[0], len(tracks))
    if "pipeline" in args.parts:  # a dozen segments spread over the corpus keep this part short
        before_after(config, segments[:: max(1, len(segments) // 12)], args.batch, args.rounds)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
