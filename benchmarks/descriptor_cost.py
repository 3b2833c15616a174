"""Descriptor CPU cost per audio minute: the descriptors of this tree beside those of a baseline
commit (by default the last one before issue 11), interleaved, on the same 60 s segments.

    python -m benchmarks.descriptor_cost [--music DIR] [--repeats 7] [--baseline COMMIT]

The baseline module is read with `git show`, so this needs the repository's history.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from trackscan.audio import descriptors
from trackscan.audio.decode import decode_segment
from trackscan.audio.features import to_model_rate

BASELINE_COMMIT = "d71dca8"  # main before issue 11: tempogram lag grid, Krumhansl, pyloudnorm blocks
REPO_ROOT = Path(__file__).resolve().parents[1]
SEGMENT_S = 60.0


def baseline_module(commit: str = BASELINE_COMMIT) -> ModuleType | None:
    """The descriptors module as it was at ``commit``, or None without git history."""
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:shared/trackscan/audio/descriptors.py"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "baseline_descriptors.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_descriptors", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def segments(music: Path | None, count: int = 4) -> list[tuple[np.ndarray, int]]:
    """Up to ``count`` 60 s segments of real music (decoded as the pipeline decodes), else generated."""
    files = sorted(music.rglob("*.ogg"))[:count] if music else []
    found = []
    for path in files:
        with path.open("rb") as reader:
            decoded = decode_segment(reader, 0.0, SEGMENT_S)
        if decoded.duration_s >= SEGMENT_S - 1:
            found.append((decoded.samples, decoded.sample_rate))
    if found:
        return found
    from tests.audio_fixtures import music_like

    left = music_like(SEGMENT_S)
    return [(np.stack([left, 0.9 * left]), 44_100)]


def cpu_per_audio_minute(compute: Callable[[np.ndarray, int, np.ndarray], object],
                         audio: list[tuple[np.ndarray, int]]) -> float:
    """CPU seconds of ``compute`` per minute of audio, over all the segments."""
    monos = [to_model_rate(samples, rate) for samples, rate in audio]
    began = time.process_time()
    for (samples, rate), mono in zip(audio, monos, strict=True):
        compute(samples, rate, mono)
    minutes = sum(samples.shape[1] / rate for samples, rate in audio) / 60
    return (time.process_time() - began) / minutes


def compare(audio: list[tuple[np.ndarray, int]], repeats: int, commit: str = BASELINE_COMMIT) -> dict[str, list[float]]:
    """Interleaved repetitions of old and new; each is warmed first (numba, filter banks)."""
    runners = {"new": descriptors.segment_descriptors}
    old = baseline_module(commit)
    if old is not None:
        runners["old"] = old.segment_descriptors
    for compute in runners.values():
        cpu_per_audio_minute(compute, audio[:1])
    results: dict[str, list[float]] = {name: [] for name in runners}
    for repeat in range(repeats):
        order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in order:
            results[name].append(cpu_per_audio_minute(runners[name], audio))
    return results


def report(results: dict[str, list[float]]) -> str:
    lines = ["| descriptors | CPU s per audio minute, median | min | max |", "|---|---|---|---|"]
    for name, values in results.items():
        lines.append(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    if "old" in results:
        ratio = statistics.median(results["new"]) / statistics.median(results["old"])
        lines.append(f"\nnew / old: {ratio:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE_COMMIT)
    args = parser.parse_args()
    audio = segments(args.music)
    print(f"{len(audio)} segments of {SEGMENT_S:.0f} s, {args.repeats} interleaved repetitions")
    print(report(compare(audio, args.repeats, args.baseline)))


if __name__ == "__main__":
    sys.exit(main())
