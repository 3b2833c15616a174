"""Benchmark of the cloud path on this machine: a real track through the dev stack.

Uploads a real track (Debian music) into the ingest bucket as the dev partner, once per run, each
time a copy with other bytes (remuxed with its own comment: content dedupe would otherwise serve
the first run's result), waits for DONE in the Firestore emulator and reports:
  1. upload-to-DONE wall time of each run (the first run of a fresh stack is cold: decoder
     child, Triton's first batch, librosa's compilation in the features function);
  2. the time from the upload to the track's first timeline event (the notification's way
     through fake GCS, the Pub/Sub emulator and its push) and between the next events;
  3. per step (ingest, features, infer, finalize): invocations, the median and max of the wall
     seconds (duration_s) and the median CPU seconds (cpu_s, the step's process: the decoder
     child's CPU is not in it) of the "step finished" lines the functions log, warm runs only.
Prints Markdown tables for BENCHMARKS.md. The functions cut segments at the cost model's
segment_s (Terraform's default) unless TRACKSCAN_SEGMENT_S is set.

--write-inputs records the warm runs' median wall seconds of ingest, features and finalize in
trackscan/costs/cost_inputs.toml: Cloud Run bills a request's wall time. Infer's is not written:
here Triton runs the model on this machine's CPU, where the cloud has a GPU.

Starts its own dev stack on free ports (functions and Triton included), or uses the running
one a `trackscan dev up` wrote to .dev.env:

    python -m benchmarks.bench_cloud_path --music ~/.cache/trackscan/music --runs 4 [--write-inputs]
    python -m benchmarks.bench_cloud_path --env-file .dev.env --logs ~/.local/state/trackscan/dev/logs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench_whole_track import cpu_description, write_input
from trackscan.costs.model import load_inputs
from trackscan.dev import DevPorts, DevStack
from trackscan.dev.layout import port_free
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.config import Config
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackRecord

DEFAULT_TRACK = "wesnoth-1.16-music/weight_of_revenge.ogg"  # 4:03, the cost model's 4-minute track
DONE_TIMEOUT_S = 600.0
POLL_S = 0.2
STEPS = ("ingest", "features", "infer", "finalize")
FUNCTIONS_SOURCE = REPO_ROOT / "functions" / "main.py"


@dataclass(frozen=True)
class Run:
    track_id: str
    upload_s: float  # the upload request itself
    upload_to_done_s: float  # from the start of the upload to DONE seen in Firestore
    uploaded_at: datetime  # when the upload request returned (UTC, like the timeline)
    record: TrackRecord


@contextmanager
def dev_stack(env_file: Path | None, logs: Path | None) -> Iterator[tuple[Mapping[str, str], Path]]:
    """The stack's env and log folder: a running one from env_file, or a fresh one of our own."""
    if env_file is not None:
        env = read_env_file(env_file)
        host, _, port = env["PUBSUB_EMULATOR_HOST"].rpartition(":")
        if port_free(int(port)):
            raise SystemExit(f"no dev stack answers at {host}:{port} ({env_file}): run `trackscan dev up`")
        yield env, logs or Path(Config.from_env().home_dir) / "dev" / "logs"
        return
    with tempfile.TemporaryDirectory(prefix="bench-cloud-") as state:
        stack = DevStack(ports=DevPorts.free(), state_dir=Path(state), functions_source=FUNCTIONS_SOURCE)
        stack.start()
        try:
            ready = ", ".join(f"{name} {seconds:.1f}" for name, seconds in stack.ready_s.items())
            print(f"dev stack ready after (s): {ready}")
            yield stack.env, Path(state) / "logs"
        finally:
            stack.stop()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as `trackscan dev up` writes them."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def distinct_copy(track: Path, folder: Path, label: str) -> Path:
    """The track remuxed (the same packets, no re-encoding) with a comment of its own: other bytes."""
    import av

    target = folder / f"{label}-{track.name}"
    with av.open(str(track)) as source, av.open(str(target), "w", format=source.format.name.split(",")[0]) as copy:
        audio = source.streams.audio[0]
        stream = copy.add_stream_from_template(audio)
        copy.metadata["comment"] = f"trackscan benchmark copy {label}"
        for packet in source.demux(audio):
            if packet.dts is not None:  # the demuxer's closing empty packet
                packet.stream = stream
                copy.mux(packet)
    return target


def upload_and_wait(track: Path, env: Mapping[str, str]) -> Run:
    """Uploads a distinct copy of the track under a fresh name and polls Firestore until it is final."""
    from google.cloud import firestore, storage

    config = Config.from_env()
    label = uuid.uuid4().hex[:8]
    name = f"{env['TRACKSCAN_DEV_PARTNER']}/bench-{label}-{track.name}"
    blob = storage.Client().bucket(config.ingest_bucket_name).blob(name)
    documents = firestore.Client(project=config.project_id).collection(config.tracks_collection)
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as folder:
        copy = distinct_copy(track, Path(folder), label)
        started = time.perf_counter()
        blob.upload_from_filename(str(copy))
        uploaded, uploaded_at = time.perf_counter(), datetime.now(UTC)
    track_id = track_id_for(f"gs://{config.ingest_bucket_name}/{name}", str(blob.generation))
    while time.perf_counter() - started < DONE_TIMEOUT_S:
        snapshot = documents.document(track_id).get()
        record = TrackRecord.from_dict(snapshot.to_dict()) if snapshot.exists else None
        if record is not None and record.state.is_final:
            if record.state.value != "DONE":
                raise SystemExit(f"track {track_id} ended {record.state.value}: {record.error}")
            return Run(track_id, uploaded - started, time.perf_counter() - started, uploaded_at, record)
        time.sleep(POLL_S)
    raise SystemExit(f"track {track_id} was not DONE within {DONE_TIMEOUT_S:.0f} s")


def step_seconds(logs: Path, track_ids: set[str]) -> dict[str, list[tuple[float, float]]]:
    """(duration_s, cpu_s) of every "step finished" line of the tracks, by step, from the functions' logs."""
    seconds: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"step finished"' not in line:
                continue
            entry = json.loads(line)
            if entry.get("track_id") in track_ids:
                seconds[entry["step"]].append((float(entry["duration_s"]), float(entry["cpu_s"])))
    return seconds


def logged_seconds(logs: Path, runs: list[Run], timeout_s: float = 10.0) -> dict[str, list[tuple[float, float]]]:
    """step_seconds once every run's finalize line is in (it is logged just after DONE commits)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seconds = step_seconds(logs, {run.track_id for run in runs})
        if len(seconds.get("finalize", [])) >= len(runs) or time.monotonic() > deadline:
            return seconds
        time.sleep(POLL_S)


def timeline_gaps(run: Run) -> list[tuple[str, float]]:
    """Seconds from the upload to the first timeline event and between the next ones, labelled "A→B"."""
    events = [("upload", run.uploaded_at), *((e.state, datetime.fromisoformat(e.time)) for e in run.record.timeline)]
    return [(f"{a}→{b}", (tb - ta).total_seconds()) for (a, ta), (b, tb) in zip(events, events[1:], strict=False)]


def print_report(track: Path, runs: list[Run], warm: dict[str, list[tuple[float, float]]]) -> None:
    result = runs[0].record.result
    segments = runs[0].record.segments_total
    print(
        f"date: {datetime.now(UTC).date()}, machine: {cpu_description()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"track: {track.name}, {result.duration_s:.0f} s of audio, {segments} segments of at most "
        f"{os.environ['TRACKSCAN_SEGMENT_S']} s (top tags: {', '.join(result.top_tags)})\n"
    )
    gap_names = [name for name, _ in timeline_gaps(runs[0])]
    print("| run | upload s | upload→DONE s | " + " | ".join(f"{g} s" for g in gap_names) + " |")
    print("|---|---|---|" + "---|" * len(gap_names))
    for number, run in enumerate(runs, 1):
        label = f"{number} ({'cold' if number == 1 else 'warm'})"
        gaps = " | ".join(f"{seconds:.2f}" for _, seconds in timeline_gaps(run))
        print(f"| {label} | {run.upload_s:.2f} | {run.upload_to_done_s:.2f} | {gaps} |")
    print(f"\nwarm runs ({len(runs) - 1}):\n")
    print("| step | invocations | wall s, median | max | CPU s, median |\n|---|---|---|---|---|")
    for step in STEPS:
        values = warm.get(step, [])
        if values:
            wall, cpu = [w for w, _ in values], [c for _, c in values]
            print(
                f"| {step} | {len(values)} | {statistics.median(wall):.2f} | {max(wall):.2f} "
                f"| {statistics.median(cpu):.2f} |"
            )
        else:
            print(f"| {step} | 0 | - | - | - |")


def write_inputs(track: Path, runs: list[Run], warm: dict[str, list[tuple[float, float]]]) -> None:
    """The warm runs' median wall seconds of ingest, features (per audio-minute) and finalize."""
    audio_min = runs[0].record.result.duration_s / 60
    source = (
        f"benchmarks/bench_cloud_path.py --write-inputs, {datetime.now(UTC).date()}, {cpu_description()}, "
        f"{track.name} ({audio_min * 60:.0f} s, one segment) through the dev stack, median of {len(runs) - 1} warm runs"
    )
    median_wall = {step: statistics.median(w for w, _ in warm[step]) for step in ("ingest", "features", "finalize")}
    write_input("ingest_s", median_wall["ingest"], source + ": ingest's wall time")
    write_input("finalize_s", median_wall["finalize"], source + ": finalize's wall time")
    # The step's whole wall time over the track's minutes: read, decode, patches, descriptors, write, publish.
    write_input(
        "features_s_per_audio_min",
        median_wall["features"] / audio_min,
        source + ": features' wall time per audio-minute",
    )
    write_input("features_fixed_s", 0.0, source + ": in features_s_per_audio_min (one segment a track)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--music",
        type=Path,
        default=Path.home() / ".cache" / "trackscan" / "music",
        help="folder made by scripts/fetch_music.sh",
    )
    parser.add_argument("--track", default=DEFAULT_TRACK, help="path of the track under --music")
    parser.add_argument("--runs", type=int, default=4, help="uploads, one after another (the first is cold)")
    parser.add_argument("--write-inputs", action="store_true", help="record the steps' wall times for the cost model")
    parser.add_argument("--env-file", type=Path, help="use the running stack `trackscan dev up` wrote here")
    parser.add_argument("--logs", type=Path, help="its log folder (default <TRACKSCAN_HOME>/dev/logs)")
    args = parser.parse_args()
    track = args.music / args.track
    if not track.is_file():
        raise SystemExit(f"{track} is missing: run scripts/fetch_music.sh")
    os.environ.setdefault("TRACKSCAN_SEGMENT_S", f"{load_inputs().segment_s:g}")
    with dev_stack(args.env_file, args.logs) as (env, logs):
        os.environ.update(env)
        runs = [upload_and_wait(track, env) for _ in range(args.runs)]
        warm = logged_seconds(logs, runs[1:])
    print_report(track, runs, warm)
    if args.write_inputs:
        write_inputs(track, runs, warm)


if __name__ == "__main__":
    main()
