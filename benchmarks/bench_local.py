"""End to end on real music: `trackscan run` against the naive loop and the musicnn reference.

Measures, on a corpus of Debian music (the demo set by default):
  1. decode + features realtime factor (one process, per segment of TRACKSCAN_SEGMENT_S);
  2. model throughput in patches per second (onnxruntime fp32, batches of 32);
  3. end to end, each as its own process tree with its start-up, in interleaved rounds: the
     naive loop (benchmarks/naive_loop.py), the musicnn reference (benchmarks/musicnn_reference.py,
     with --musicnn-python) and `trackscan run` with its default model runtime; wall time, CPU
     time of every process, cores busy (CPU s over wall s: a run that leaves cores idle shows),
     and where trackscan's CPU goes per step (its "step finished" logs). With --baseline, the
     same `trackscan run` from another checkout (the code a change replaces) runs beside it.
Prints Markdown tables for BENCHMARKS.md.

    python -m benchmarks.bench_local --music ~/.cache/trackscan/music [--corpus drascula-music ...]
        [--musicnn-python .venv-musicnn/bin/python] [--rounds 3] [--baseline ../old-checkout]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np

from benchmarks.bench_steps import step_durations
from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.audio.decode import decode_segment, probe
from trackscan.audio.descriptors import segment_descriptors
from trackscan.audio.front_end import patches_from_audio, to_model_rate
from trackscan.domain.config import Config
from trackscan.pipeline.segment_plan import plan_segments

MUSICNN_REFERENCE = Path(__file__).with_name("musicnn_reference.py")


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


@dataclass
class Contender:
    """One way of tagging the corpus, run as its own process tree, start-up included."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to the environment of its runs
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # user + system of the whole process tree
    step_cpu_s: list[dict[str, float]] = field(default_factory=list)  # trackscan only, from its logs


def run_contender(contender: Contender, env: dict[str, str]) -> None:
    """Runs it once on a fresh state folder; records wall time, CPU time and per-step CPU."""
    with tempfile.TemporaryDirectory() as home:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(
            contender.argv,
            env={**env, **contender.env, "TRACKSCAN_HOME": home},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        contender.wall_s.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    contender.cpu_s.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    per_step = step_durations(done.stderr.splitlines(), "cpu_s")
    if per_step:
        contender.step_cpu_s.append({step: sum(times) for step, times in per_step.items()})


def contenders(
    files: list[Path], workers: int, musicnn_python: str | None, baseline: Path | None = None
) -> list[Contender]:
    """The naive loop, the musicnn reference (when its venv is given), the baseline checkout's
    `trackscan run` (when given) and this checkout's `trackscan run`, which comes last."""
    paths = [str(p) for p in files]
    found = [Contender("naive loop", [sys.executable, "-m", "benchmarks.naive_loop", *paths])]
    if musicnn_python:
        found.append(Contender("musicnn reference (MTT + MSD)", [musicnn_python, str(MUSICNN_REFERENCE), *paths]))
    run = [
        sys.executable,
        "-m",
        "trackscan.cli",
        "run",
        "--json",
        "--log-format",
        "json",
        "--workers",
        str(workers),
        *paths,
    ]
    if baseline:
        # Its package ahead of this one on the path; the model and the venv are this checkout's.
        found.append(
            Contender(
                f"`trackscan run --workers {workers}` (baseline: {baseline.name})",
                run,
                {
                    "PYTHONPATH": str(baseline.resolve() / "shared"),
                    "TRACKSCAN_MODEL_PATH": Config.from_env().model_path,
                },
            )
        )
    found.append(Contender(f"`trackscan run --workers {workers}`", run))
    return found


def compare(runners: list[Contender], rounds: int) -> None:
    """Runs every contender once per round, the order rotating so none always goes first."""
    env = {**os.environ, "TRACKSCAN_LOG_LEVEL": "INFO"}
    for round_index in range(rounds):
        shift = round_index % len(runners)
        for contender in runners[shift:] + runners[:shift]:
            run_contender(contender, env)
            print(f"round {round_index + 1}: {contender.name} {contender.wall_s[-1]:.1f} s", file=sys.stderr)


def spread(values: list[float], digits: int = 1) -> str:
    """Median (min-max) of the values."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_comparison(runners: list[Contender], audio_s: float, rounds: int) -> None:
    """The end-to-end table, ratios against the naive loop's median, and trackscan's CPU per step."""
    naive = statistics.median(runners[0].wall_s)
    print(f"\nEnd to end, {rounds} interleaved rounds, median (min-max):\n")
    print("| contender | wall s | audio s per wall s | CPU s (all processes) | cores busy | speed vs naive loop |")
    print("|---|---|---|---|---|---|")
    for contender in runners:
        wall = statistics.median(contender.wall_s)
        busy = [cpu / wall for cpu, wall in zip(contender.cpu_s, contender.wall_s, strict=True)]
        print(
            f"| {contender.name} | {spread(contender.wall_s)} | {audio_s / wall:.1f} | {spread(contender.cpu_s)} "
            f"| {spread(busy, digits=2)} | {naive / wall:.2f}x |"
        )
    trackscan = runners[-1]
    if trackscan.step_cpu_s:
        steps = sorted({step for run in trackscan.step_cpu_s for step in run})
        cpu = statistics.median(trackscan.cpu_s)
        print(
            "\nWhere `trackscan run`'s CPU goes (median over rounds; the steps' own processes, decoder "
            "children excluded):\n"
        )
        print("| part | CPU s | share |\n|---|---|---|")
        measured = 0.0
        for step in steps:
            seconds = statistics.median(run.get(step, 0.0) for run in trackscan.step_cpu_s)
            measured += seconds
            print(f"| {step} step | {seconds:.1f} | {seconds / cpu:.0%} |")
        rest = cpu - measured
        rest_name = "the rest: start-up, model loads, decoder children, queue and SQLite"
        print(f"| {rest_name} | {rest:.1f} | {rest / cpu:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument(
        "--corpus",
        nargs="+",
        default=["demo"],
        help="folders under --music to take every track from (default: the demo set)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each contender")
    parser.add_argument("--musicnn-python", help="python of the musicnn reference venv (make bench-musicnn-venv)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add ../base HEAD~1`) whose trackscan runs beside",
    )
    args = parser.parse_args()
    config = Config.from_env()
    files = sorted(p.resolve() for folder in args.corpus for p in (args.music / folder).iterdir())
    audio_s = sum(librosa.get_duration(path=p) for p in files)
    rtf, patches = features_rtf(files, config.segment_s)
    patches_per_s = model_patches_per_s(config.model_path, patches)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"corpus: {', '.join(args.corpus)}: {len(files)} tracks, {audio_s / 60:.1f} min of audio, "
        f"{len(patches)} patches\n"
    )
    print("| measure | value |\n|---|---|")
    print(f"| decode + features, one process | {rtf:.1f}x realtime |")
    print(f"| model (onnxruntime fp32, batch 32) | {patches_per_s:.0f} patches/s |")
    runners = contenders(files, args.workers, args.musicnn_python, args.baseline)
    compare(runners, args.rounds)
    print_comparison(runners, audio_s, args.rounds)


if __name__ == "__main__":
    main()
