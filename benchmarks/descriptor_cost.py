"""Front-end CPU cost: decode + features + descriptors per core, this tree beside a baseline.

    python -m benchmarks.descriptor_cost --music DIR [--corpus drascula-music torus-trooper-data]
        [--rounds 5] [--baseline COMMIT]

Every 60 s segment of the corpora goes through what the features step runs (decode_segment,
to_model_rate, segment_descriptors, patches_from_audio), in worker processes that import either
this tree's shared/ or the baseline commit's (extracted with `git archive`), round after round,
interleaved, in rotating order. CPU time is each worker's own (all its threads), so the figure is
audio seconds per CPU second: x realtime per core. The baseline runs twice, as it shipped
(OpenBLAS's default threads) and with OPENBLAS_NUM_THREADS=1. The first pass of each worker is a
warm-up whose results (track descriptors, patches) are compared between the trees.

The functions below `compare` time the descriptors alone against the pre-issue-11 module
(bench_descriptors uses them). Both need the repository's history.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import numpy as np

from trackscan.audio import descriptors
from trackscan.audio.decode import decode_segment, probe
from trackscan.audio.front_end import patches_from_audio, to_model_rate

BASELINE_COMMIT = "d71dca8"  # main before issue 11: tempogram lag grid, Krumhansl, pyloudnorm blocks
FRONT_END_BASELINE = "73887a2"  # main before issue 13 item 3 (the shared front end)
CORPORA = ("drascula-music", "torus-trooper-data")
STAGES = ("decode", "model rate", "descriptors", "patches")
PARTS = ("onset envelope", "chroma", "K-weighting", "true peak")
REPO_ROOT = Path(__file__).resolve().parents[1]
SEGMENT_S = 60.0


def baseline_module(commit: str = BASELINE_COMMIT) -> ModuleType | None:
    """The descriptors module as it was at ``commit``, or None without git history."""
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:shared/trackscan/audio/descriptors.py"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
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


def cpu_per_audio_minute(
    compute: Callable[[np.ndarray, int, np.ndarray], object], audio: list[tuple[np.ndarray, int]]
) -> float:
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


# --- The front end, old tree against new, in worker processes. ---


def corpus_files(music: Path, corpora: tuple[str, ...] | list[str]) -> list[Path]:
    return sorted(p for corpus in corpora for p in (music / corpus).iterdir() if p.is_file())


def _planned(files: list[Path]) -> list[tuple[Path, float, float]]:
    from trackscan.pipeline.segment_plan import plan_segments

    planned = []
    for path in files:
        with path.open("rb") as reader:
            info = probe(reader, 1e9)
        planned += [(path, start, length) for start, length in plan_segments(info.duration_s, SEGMENT_S)]
    return planned


class _Clock:
    """Adds the CPU seconds since the last tick to a stage."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        self.cpu = dict.fromkeys(stages, 0.0)
        self.last = time.process_time()

    def tick(self, stage: str | None = None) -> None:
        now = time.process_time()
        if stage is not None:
            self.cpu[stage] += now - self.last
        self.last = now


def _front_end_pass(planned: list[tuple[Path, float, float]], dump: Path | None) -> dict[str, float]:
    """CPU seconds per stage over all segments, as the features step runs them."""
    clock = _Clock(STAGES)
    audio_s, by_track, patches = 0.0, {}, []
    for path, start, length in planned:
        clock.tick()
        with path.open("rb") as reader:
            decoded = decode_segment(reader, start, length)
        clock.tick("decode")
        mono = to_model_rate(decoded.samples, decoded.sample_rate)
        clock.tick("model rate")
        segment = descriptors.segment_descriptors(decoded.samples, decoded.sample_rate, mono)
        clock.tick("descriptors")
        patches.append(patches_from_audio(mono))
        clock.tick("patches")
        audio_s += decoded.duration_s
        by_track.setdefault(str(path), []).append(segment)
    if dump is not None:
        tracks = {name: asdict(descriptors.combine(parts)) for name, parts in by_track.items()}
        dump.with_suffix(".json").write_text(json.dumps(tracks))
        np.save(dump.with_suffix(".npy"), np.concatenate(patches))
    return {**clock.cpu, "audio_s": audio_s}


def _parts_pass(planned: list[tuple[Path, float, float]]) -> dict[str, float]:
    """CPU seconds of each part of the descriptors, called one by one."""
    from trackscan.audio import key, loudness, tempo

    try:  # this tree: as segment_descriptors runs them
        from trackscan.audio.spectrum import blas_on_one_thread as limit
    except ImportError:
        limit = nullcontext
    clock = _Clock(PARTS)
    for path, start, length in planned:
        with path.open("rb") as reader:
            decoded = decode_segment(reader, start, length)
        mono = to_model_rate(decoded.samples, decoded.sample_rate)
        with limit():
            clock.tick()
            tempo.onset_autocorrelation(mono)
            clock.tick("onset envelope")
            key.pitch_class_energy(mono)
            clock.tick("chroma")
            loudness.subblock_power(decoded.samples, decoded.sample_rate)
            clock.tick("K-weighting")
            loudness.true_peak(decoded.samples, decoded.sample_rate)
            clock.tick("true peak")
    return clock.cpu


def front_end_worker(music: Path, corpora: list[str], dump: Path) -> None:
    """Answers commands on stdin ("warm", "run", "parts") with one JSON line each."""
    planned = _planned(corpus_files(music, corpora))
    for command in sys.stdin:
        if command.strip() == "warm":
            result = _front_end_pass(planned, dump)
        elif command.strip() == "run":
            result = _front_end_pass(planned, None)
        else:
            result = _parts_pass(planned)
        print(json.dumps(result), flush=True)


class _Worker:
    """One worker process on one tree, with its own environment."""

    def __init__(self, name: str, shared: Path, env: dict[str, str], music: Path, corpora: list[str], dump: Path):
        self.name, self.dump = name, dump
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.descriptor_cost",
                "--worker",
                "--music",
                str(music),
                "--dump",
                str(dump),
                "--corpus",
                *corpora,
            ],
            cwd=REPO_ROOT,
            env={**env, "PYTHONPATH": f"{shared}{os.pathsep}{REPO_ROOT}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> dict[str, float]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()


def compare_front_end(music: Path, corpora: list[str], rounds: int, baseline: str) -> dict[str, object]:
    """Per runner: each round's stage CPU seconds, the parts, and the warm-up's outputs."""
    folder = Path(tempfile.mkdtemp(prefix="front-end-"))
    archive = subprocess.run(["git", "archive", baseline, "shared"], cwd=REPO_ROOT, capture_output=True, check=True)
    (folder / "old").mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder / "old")], input=archive.stdout, check=True)
    plain = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    old_shared = folder / "old" / "shared"
    runners = {
        f"old ({baseline}), default threads": (old_shared, plain),
        f"old ({baseline}), OPENBLAS_NUM_THREADS=1": (old_shared, {**plain, "OPENBLAS_NUM_THREADS": "1"}),
        "new (this tree)": (REPO_ROOT / "shared", plain),
    }
    workers = [
        _Worker(name, shared, env, music, corpora, folder / f"dump{i}")
        for i, (name, (shared, env)) in enumerate(runners.items())
    ]
    for worker in workers:
        worker.ask("warm")
    results: dict[str, object] = {w.name: {"rounds": []} for w in workers}
    for round_index in range(rounds):
        shift = round_index % len(workers)
        for worker in workers[shift:] + workers[:shift]:
            results[worker.name]["rounds"].append(worker.ask("run"))  # type: ignore[index]
    for worker in workers:
        results[worker.name]["parts"] = worker.ask("parts")  # type: ignore[index]
        worker.close()
    results["agreement"] = _agreement(workers[0].dump, workers[-1].dump)
    return results


def _agreement(old: Path, new: Path) -> dict[str, float]:
    """How the new tree's outputs differ from the old one's on the same segments."""
    old_tracks = json.loads(old.with_suffix(".json").read_text())
    new_tracks = json.loads(new.with_suffix(".json").read_text())
    same = {
        field: sum(old_tracks[t][field] == new_tracks[t][field] for t in old_tracks)
        for field in ("tempo_bpm", "time_signature", "key", "loudness_lufs", "loudness_range_lu")
    }
    peaks = [
        abs((old_tracks[t]["true_peak_dbtp"] or 0.0) - (new_tracks[t]["true_peak_dbtp"] or 0.0)) for t in old_tracks
    ]
    old_patches, new_patches = np.load(old.with_suffix(".npy")), np.load(new.with_suffix(".npy"))
    return {
        "tracks": len(old_tracks),
        **{f"same {k}": v for k, v in same.items()},
        "true peak max diff dB": max(peaks),
        "patches max abs diff": float(np.abs(old_patches - new_patches).max()),
    }


def front_end_report(results: dict[str, object]) -> str:
    lines = ["| code | x realtime per core, median | min | max | CPU s per audio minute |", "|---|---|---|---|---|"]
    stage_lines = ["| code | " + " | ".join(STAGES) + " | total |", "|---" * (len(STAGES) + 2) + "|"]
    part_lines = ["| code | " + " | ".join(PARTS) + " |", "|---" * (len(PARTS) + 1) + "|"]
    for name, runner in results.items():
        if name == "agreement":
            continue
        rounds = runner["rounds"]  # type: ignore[index]
        audio_s = rounds[0]["audio_s"]
        speeds = [r["audio_s"] / sum(r[s] for s in STAGES) for r in rounds]
        lines.append(
            f"| {name} | **{statistics.median(speeds):.0f}x** | {min(speeds):.0f}x | {max(speeds):.0f}x "
            f"| {60 / statistics.median(speeds):.3f} |"
        )
        per_minute = {s: 60 * statistics.median(r[s] for r in rounds) / audio_s for s in STAGES}
        stage_lines.append(
            f"| {name} | "
            + " | ".join(f"{v:.3f}" for v in per_minute.values())
            + f" | {sum(per_minute.values()):.3f} |"
        )
        parts = runner["parts"]  # type: ignore[index]
        part_lines.append(f"| {name} | " + " | ".join(f"{60 * parts[p] / audio_s:.3f}" for p in PARTS) + " |")
    agreement = results["agreement"]
    return "\n".join(
        [
            *lines,
            "",
            "CPU s per audio minute by stage (median of the rounds):",
            "",
            *stage_lines,
            "",
            "Descriptor parts, CPU s per audio minute (one pass, each part called alone):",
            "",
            *part_lines,
            "",
            f"New against old on the same segments: {agreement}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--corpus", nargs="+", default=list(CORPORA))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default=FRONT_END_BASELINE)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        front_end_worker(args.music, args.corpus, args.dump)
        return
    started = time.strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()
    results = compare_front_end(args.music, args.corpus, args.rounds, args.baseline)
    audio_s = results["new (this tree)"]["rounds"][0]["audio_s"]  # type: ignore[index]
    print(
        f"{started}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end; corpora {', '.join(args.corpus)}: "
        f"{audio_s / 60:.1f} min of audio in 60 s segments, {args.rounds} interleaved rounds\n"
    )
    print(front_end_report(results))


if __name__ == "__main__":
    sys.exit(main())
