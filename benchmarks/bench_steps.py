"""Step budget of the embedded default: every handler invocation for a 60-minute track.

Runs `trackscan run` on a 60-minute MP3 built from Debian music (benchmarks/long_track.py)
with TRACKSCAN_LOG_LEVEL=INFO, reads the "step finished" log lines and prints p50, p99 and
max per step as Markdown. The promise: no invocation over 10 s.

    python benchmarks/bench_steps.py --music ~/.cache/trackscan/music
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.long_track import build

STEPS = ("ingest", "features", "infer", "finalize")


def step_durations(log_lines: list[str], field: str = "duration_s") -> dict[str, list[float]]:
    """Per step, the wall (duration_s) or CPU (cpu_s) seconds of each invocation."""
    durations: dict[str, list[float]] = defaultdict(list)
    for line in log_lines:
        if line.startswith("{") and '"step finished"' in line:
            entry = json.loads(line)
            durations[entry["step"]].append(entry[field])
    return durations


def run_once(track: Path, workers: int) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TRACKSCAN_HOME": home, "TRACKSCAN_LOG_LEVEL": "INFO"}
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "trackscan.cli", "run", "--json", "--workers", str(workers), str(track)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return time.perf_counter() - began, done.stderr.splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    track = build(args.music, args.music / f"long-{args.minutes:.0f}min.mp3", args.minutes)
    wall_s, log_lines = run_once(track, args.workers)
    print(
        f"track: {args.minutes:.0f} min MP3 ({track.stat().st_size >> 20} MiB), {args.workers} workers, "
        f"wall {wall_s:.1f} s ({args.minutes * 60 / wall_s:.1f}x realtime)\n"
    )
    print_table(step_durations(log_lines), step_durations(log_lines, "cpu_s"))


def print_table(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    """p50/p99/max of wall time, and max CPU time, per step, as Markdown."""
    print("| step | invocations | p50 (s) | p99 (s) | max (s) | max CPU (s) |\n|---|---|---|---|---|---|")
    for step in STEPS:
        times = np.array(wall.get(step) or [np.nan])
        cpu_max = max(cpu.get(step) or [np.nan])
        print(
            f"| {step} | {len(wall.get(step, []))} | {np.percentile(times, 50):.2f} "
            f"| {np.percentile(times, 99):.2f} | {times.max():.2f} | {cpu_max:.2f} |"
        )


if __name__ == "__main__":
    main()
