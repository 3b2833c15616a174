"""The soak (fault matrix row 20): many tracks through the emulator stack while what runs the steps
is SIGKILLed at random and restarted, and the Pub/Sub emulator is restarted once (losing every
message in flight). FAULTS_SOAK_LANE picks the lane (tests/faults/soak_lanes.py): cloud-run (the
default: the step functions and Triton are killed) or workers (the pull workers of the chain's
steps, the model in process, and deliver's function). A scheduled reconcile pass (reconcile and the inventory sweep,
as Cloud Scheduler runs them) recovers what the kills strand. Every track must end DONE once;
none lost, none scored twice; a sample of results equals the embedded default's.

FAULTS_SOAK sets the number of tracks (default SOAK_DEFAULT, a few minutes; the matrix asks for
10,000, see FAULTS.md for the sizes run). The test fails if the run ended before a kill and the
Pub/Sub restart: a soak without its faults proves nothing. A soak of more than KILL_OFTEN_UP_TO
tracks kills less often (KILL_GAP_LONG_S): each restart of a step function costs its warm-up,
and the point is to keep killing through a long run, not to spend it restarting.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import tone, write_audio
from tests.faults.emulator_stack import Cloud, FaultStack, Upload
from tests.faults.outcomes import expected_results, fault_row, make_songs, reference_results, segments_scored
from tests.faults.report import ROWS
from tests.faults.soak_lanes import FunctionVictims, WorkerVictims, run_counts
from trackscan.dev.layout import subscriptions
from trackscan.dev.provision import provision
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.inventory import sweep
from trackscan.pipeline.reconcile import reconcile
from trackscan.pipeline.steps import CLOUD_RUN_LANE, LANES, STEP_NAMES, WORKERS_LANE, step_named

pytestmark = pytest.mark.faults
SOAK_DEFAULT = 60
IN_FLIGHT = 40  # uploads outstanding at once: a steady stream rather than one burst
LONG_EVERY = 25  # every 25th track is 25 s (three segments); the others 1-2 s (one)
SAMPLE = 12  # tracks whose results are compared with the embedded default's
KILL_GAP_S = (5.0, 15.0)  # between kills: the default soak takes under a minute without its faults
KILL_OFTEN_UP_TO = 200
KILL_GAP_LONG_S = (60.0, 120.0)
DOWN_S = (0.0, 5.0)  # a killed process stays down this long before it is restarted
RECONCILE_EVERY_S = 10.0
STALL_DUMP_S = 180.0  # no track finished for this long: the emulators' thread stacks are saved
RECONCILE_AFTER_S = 120.0  # stalled: not updated for this long (with IN_FLIGHT queued, well past a healthy wait)
ATTEMPTS = step_named("features").deployment.max_delivery_attempts  # production's 15


def _tracks(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(200)
    long_ones = iter(make_songs(folder, count // LONG_EVERY + 1, first_seed=2000))
    paths = []
    for i in range(count):
        if i % LONG_EVERY == LONG_EVERY - 1:
            paths.append(next(long_ones))
            continue
        seconds = 1.0 + (i % 11) / 10
        audio = tone(110.0 + 3.0 * (i % 500), seconds) + rng.normal(0, 0.01, int(seconds * 44_100)).astype(np.float32)
        paths.append(write_audio(folder / f"soak{i:05d}.flac", audio))
    return paths


class Chaos:
    """Kills a random victim every gap_s seconds and restarts it; restarts the Pub/Sub emulator
    once when asked. Runs in a thread until stopped; keeps a log of what it did and of what failed
    (a failed strike used to end the thread silently, and the soak then ran without faults)."""

    def __init__(
        self,
        stack: FaultStack,
        cloud: Cloud,
        victims: FunctionVictims | WorkerVictims,
        seed: int,
        gap_s: tuple[float, float],
    ) -> None:
        self.stack, self.cloud, self.victims, self.gap_s = stack, cloud, victims, gap_s
        self.random = random.Random(seed)
        self.kills: Counter[str] = Counter()
        self.pubsub_restarts = 0
        self.errors: list[str] = []  # tracebacks of strikes that failed (a restart that timed out)
        self.restart_pubsub = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="chaos")

    def _run(self) -> None:
        while not self.stop.wait(self.random.uniform(*self.gap_s)):
            try:
                self._strike()
            except Exception:  # noqa: BLE001 - kept for the test to report; the next strike tries again
                self.errors.append(traceback.format_exc())

    def _strike(self) -> None:
        self.victims.heal()
        if self.restart_pubsub.is_set() and not self.pubsub_restarts:
            self._restart_pubsub()
            return
        victim = self.random.choice(self.victims.names)
        self.victims.kill(victim)
        self.kills[victim] += 1
        time.sleep(self.random.uniform(*DOWN_S))
        self.victims.start(victim)

    def _restart_pubsub(self) -> None:
        self.stack.kill_service("pubsub")
        self.stack.start_service("pubsub")
        provision(self.stack.config, subscriptions(self.stack.config, self.stack.ports), self.stack.env)
        production_retries(self.cloud).__enter__()  # the new subscriptions get the same settings
        self.victims.after_pubsub_restart(self.cloud)
        self.pubsub_restarts += 1


def production_retries(cloud: Cloud) -> contextlib.ExitStack:
    """Every step subscription with production's delivery attempts (terraform: 15)."""
    stack = contextlib.ExitStack()
    for step in STEP_NAMES:
        stack.enter_context(cloud.retry_settings(step, ATTEMPTS, True))
    return stack


class Scheduler:
    """Cloud Scheduler's part: a reconcile pass and an inventory sweep pass every RECONCILE_EVERY_S."""

    def __init__(self, deps: Deps, bucket_name: str) -> None:
        self.deps, self.root = deps, f"gs://{bucket_name}/"
        self.replayed = self.swept = self.passes = self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="scheduler")

    def _run(self) -> None:
        while not self.stop.wait(RECONCILE_EVERY_S):
            try:
                self.replayed += reconcile(self.deps, RECONCILE_AFTER_S).replayed
                self.swept += sweep(self.deps, self.root).replayed
            except Exception:  # noqa: BLE001 - a pass during the Pub/Sub restart fails; the next runs
                self.errors += 1
            self.passes += 1


def _stream(cloud: Cloud, paths: list[Path], half_done: threading.Event, timeout_s: float) -> tuple[list[Upload], dict]:
    """Uploads the files keeping IN_FLIGHT unfinished; returns the uploads and the final records."""
    uploads: list[Upload] = []
    records: dict[str, dict | None] = {}
    waiting: list[str] = []
    deadline = time.monotonic() + timeout_s
    pending = list(paths)
    progress_at, finished = time.monotonic(), 0
    while (pending or waiting) and time.monotonic() < deadline:
        if len(uploads) - len(waiting) > finished:
            progress_at, finished = time.monotonic(), len(uploads) - len(waiting)
        elif time.monotonic() - progress_at > STALL_DUMP_S:
            dumps = [cloud.stack.thread_dump(name) for name in ("pubsub", "firestore")]
            print(f"soak: no track finished for {STALL_DUMP_S:.0f} s at {finished} done; thread stacks in {dumps}")
            progress_at = time.monotonic()
        while pending and len(waiting) < IN_FLIGHT:
            uploads.append(cloud.upload(pending.pop(0)))
            waiting.append(uploads[-1].track_id)
        if len(uploads) >= len(paths) // 2:
            half_done.set()
        time.sleep(1.0)
        fresh = cloud.records(waiting)
        records |= fresh
        waiting = [t for t, r in fresh.items() if not (r and r["state"] in ("DONE", "FAILED"))]
    return uploads, records | cloud.records([u.track_id for u in uploads])


def test_soak_loses_no_track_when_what_runs_the_steps_is_killed_at_random(stack, cloud, deps, tmp_path):
    count = int(os.environ.get("FAULTS_SOAK", SOAK_DEFAULT))
    lane = os.environ.get("FAULTS_SOAK_LANE", CLOUD_RUN_LANE)
    assert lane in LANES, f"FAULTS_SOAK_LANE is one of {LANES}"
    paths = _tracks(tmp_path, count)
    sample = paths[:: max(1, count // SAMPLE)][:SAMPLE] + paths[LONG_EVERY - 1 : LONG_EVERY]  # and a long one
    references = reference_results(sample, tmp_path / "reference")
    gap_s = KILL_GAP_S if count <= KILL_OFTEN_UP_TO else KILL_GAP_LONG_S
    started = time.monotonic()
    with production_retries(cloud):
        victims = WorkerVictims(stack, cloud, tmp_path) if lane == WORKERS_LANE else FunctionVictims(stack)
        chaos, scheduler = Chaos(stack, cloud, victims, count, gap_s), Scheduler(deps, stack.config.ingest_bucket_name)
        chaos.thread.start()
        scheduler.thread.start()
        try:
            uploads, records = _stream(cloud, paths, chaos.restart_pubsub, timeout_s=300 + 10.0 * count)
            elapsed_s = time.monotonic() - started
            chaos.stop.set()
            chaos.thread.join(timeout=300)
            time.sleep(0.5)  # the last log lines seen
            runs = run_counts(victims.tails, set(records))
        finally:
            chaos.stop.set()
            chaos.thread.join(timeout=300)
            scheduler.stop.set()
            scheduler.thread.join(timeout=120)
            victims.close()
    by_path = dict(zip(paths, uploads, strict=False))
    sampled = [by_path[p] for p in sample if p in by_path]
    expected = expected_results(sampled, [p for p in sample if p in by_path], references)
    row = fault_row(
        f"soak ({lane} lane): {count} tracks streamed ({IN_FLIGHT} in flight), SIGKILLs of "
        + ("the pull workers and deliver's function" if lane == WORKERS_LANE else "the step functions and Triton")
        + f" every {gap_s[0]:.0f}-{gap_s[1]:.0f} s, the Pub/Sub emulator restarted once",
        uploads,
        records,
        expected,
        recover_s=elapsed_s,
    )
    planned = {u.track_id: 3 if Path(u.name).name.startswith("song") else 1 for u in uploads}
    scored = segments_scored(stack, list(planned))
    row.duplicated += sum(1 for t, n in scored.items() if n > planned[t])
    row.note = (
        f"kills {dict(sorted(chaos.kills.items()))}, Pub/Sub restarts {chaos.pubsub_restarts}; "
        f"{scheduler.passes} scheduled passes replayed {scheduler.replayed} stalled tracks and swept "
        f"{scheduler.swept} unannounced uploads ({scheduler.errors} passes failed); {len(sampled)} results "
        f"compared; {runs['runs']} step runs of {runs['messages']} messages (the rest redeliveries and "
        f"replays), {runs['duplicated work']} of them duplicated work (two runs of one message at once); "
        f"{count / elapsed_s:.2f} tracks/s"
    )
    ROWS.append(row)
    assert len(uploads) == count
    assert not chaos.errors, "a strike of the chaos thread failed:\n" + "\n".join(chaos.errors)
    faults = f"{sum(chaos.kills.values())} kills and {chaos.pubsub_restarts} Pub/Sub restarts in {elapsed_s:.0f} s"
    assert sum(chaos.kills.values()) > 0 and chaos.pubsub_restarts == 1, f"the soak ended before its faults: {faults}"
    assert (row.done, row.lost, row.duplicated) == (count, 0, 0)
