"""Benchmark of one scheduled reconcile pass on the dev stack's emulators.

Uploads --stalled small objects to the ingest bucket, records an EXTRACTING track for each whose
last update was an hour ago (its next message lost), and times --passes reconcile passes of
--batch tracks each (the production default: 100 a pass). Nothing consumes the replays, so every
pass finds the same backlog: each measures a full batch.

The emulators answer on loopback, so a stat or publish here costs far less than against the real
services; the figure bounds the pass's own work (queries, serialisation), not production latency.

    python -m benchmarks.bench_reconcile --stalled 1000 --passes 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trackscan.dev import DevPorts, DevStack
from trackscan.domain.config import Config
from trackscan.domain.tracks import TrackState, new_record
from trackscan.pipeline.reconcile import reconcile, stalled_tracks


def make_backlog(count: int) -> None:
    """count objects and, for each, an EXTRACTING track last updated an hour ago."""
    from google.cloud import storage

    from trackscan.runtimes.cloud_runtime import cloud_deps

    config = Config.from_env()
    bucket = storage.Client().bucket(config.ingest_bucket_name)
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    for _ in range(count):
        blob = bucket.blob(f"bench/{uuid.uuid4().hex}.ogg")
        blob.upload_from_string(b"not audio: reconcile only stats it")
        record = new_record(f"gs://{bucket.name}/{blob.name}", str(blob.generation), "bench", "ingest")
        cloud_deps().tracks.create_if_absent(replace(record, state=TrackState.EXTRACTING, updated_at=an_hour_ago))


def time_passes(passes: int, batch: int) -> tuple[list[float], list[float]]:
    """Seconds of each pass, and of its stalled-track query alone."""
    from trackscan.runtimes.cloud_runtime import cloud_deps

    deps = cloud_deps()
    pass_s, query_s = [], []
    for _ in range(passes):
        started = time.perf_counter()
        stalled_tracks(deps.queries, 900, datetime.now(UTC), batch)
        query_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        done = reconcile(deps, 900, batch)
        pass_s.append(time.perf_counter() - started)
        if done.replayed != batch:
            raise SystemExit(f"a pass replayed {done.replayed} of {batch}: {done}")
    return pass_s, query_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stalled", type=int, default=1000, help="stalled tracks in the store")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--batch", type=int, default=Config().reconcile_batch, help="tracks a pass replays")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as state:
        stack = DevStack(ports=DevPorts.free(), state_dir=Path(state), functions_source=None, with_triton=False)
        stack.start()
        try:
            os.environ.update(stack.env)
            os.environ["TRACKSCAN_LOG_LEVEL"] = "WARNING"  # not a line per replay
            started = time.perf_counter()
            make_backlog(args.stalled)
            print(f"backlog of {args.stalled} stalled tracks made in {time.perf_counter() - started:.1f} s")
            pass_s, query_s = time_passes(args.passes, args.batch)
        finally:
            stack.stop()
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; emulators on loopback\n")
    print("| what | p50 s | max s |")
    print("|---|---|---|")
    print(
        f"| stalled query ({args.batch} of {args.stalled}, 3 states) | {statistics.median(query_s):.2f} "
        f"| {max(query_s):.2f} |"
    )
    print(f"| reconcile pass of {args.batch} replays | {statistics.median(pass_s):.2f} | {max(pass_s):.2f} |")
    print(
        f"| per replay (stat + publish), ms | {1000 * statistics.median(pass_s) / args.batch:.1f} "
        f"| {1000 * max(pass_s) / args.batch:.1f} |"
    )


if __name__ == "__main__":
    main()
