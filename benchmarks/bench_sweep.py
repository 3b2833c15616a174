"""Benchmark of the inventory sweep on the dev stack's emulators: how fast a pass covers a bucket.

Uploads --objects small objects to the ingest bucket, all but 1 % with a track record (the
notifications of the others were "lost"), then runs passes with the production settings (1,000
objects a page, 3 s of listing, at most 100 replays a pass) until the sweep wraps, and prints
the objects covered per pass and per second. Emulators answer on loopback: real GCS and Firestore
answer slower, so the production figure is lower; the figure bounds the sweep's own work.

    python -m benchmarks.bench_sweep --objects 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trackscan.dev import DevPorts, DevStack
from trackscan.domain.tracks import new_record

PARTNER = "dev-partner"


def fill_bucket(count: int) -> None:
    """count objects under the dev partner's prefix; all but every hundredth get a track record."""
    import google.cloud.storage as storage

    from trackscan.runtimes.cloud_runtime import cloud_deps

    deps = cloud_deps()
    bucket = storage.Client().bucket(deps.config.ingest_bucket_name)

    def upload(index: int) -> None:
        blob = bucket.blob(f"{PARTNER}/{uuid.uuid4().hex}.ogg")
        blob.upload_from_string(b"not audio: the sweep only lists it")
        if index % 100 != 0:
            deps.tracks.create_if_absent(
                new_record(f"gs://{bucket.name}/{blob.name}", str(blob.generation), PARTNER, "ingest")
            )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(upload, range(count)))


def sweep_until_wrapped() -> list[tuple[float, int, int]]:
    """(seconds, objects listed, uploads replayed) of each pass, until one reaches the bucket's end."""
    from dataclasses import replace

    from trackscan.pipeline.inventory import sweep
    from trackscan.runtimes.cloud_runtime import cloud_deps

    deps = cloud_deps()
    deps = replace(deps, config=replace(deps.config, sweep_after_s=0.0))
    passes = []
    while True:
        started = time.perf_counter()
        done = sweep(deps, f"gs://{deps.config.ingest_bucket_name}/")
        passes.append((time.perf_counter() - started, done.listed, done.replayed))
        if done.wrapped:
            return passes


def main() -> None:
    """Fills a bucket on a fresh dev stack and times the sweep over it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as state:
        stack = DevStack(ports=DevPorts.free(), state_dir=Path(state), functions_source=None, with_triton=False)
        stack.start()
        try:
            os.environ.update(stack.env)
            os.environ["TRACKSCAN_LOG_LEVEL"] = "WARNING"
            started = time.perf_counter()
            fill_bucket(args.objects)
            print(f"{args.objects} objects uploaded in {time.perf_counter() - started:.1f} s")
            passes = sweep_until_wrapped()
        finally:
            stack.stop()
    seconds = [p[0] for p in passes]
    listed = sum(p[1] for p in passes)
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; emulators on loopback\n")
    print("| passes to cover the bucket | objects listed | uploads replayed | pass p50 s | pass max s | objects/s |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(passes)} | {listed} | {sum(p[2] for p in passes)} | {statistics.median(seconds):.2f} "
        f"| {max(seconds):.2f} | {listed / sum(seconds):.0f} |"
    )


if __name__ == "__main__":
    main()
