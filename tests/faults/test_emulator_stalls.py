"""Fault matrix row 25: each backend stalled in turn while tracks flow through the emulator stack.

The functions reach GCS, Firestore, Pub/Sub and Triton through the fault proxy. Each backend in
turn goes silent for STALL_S (every new connection unanswered, every open one frozen from its
next chunk), then comes back with its connections reset. Every step must end within its budget
(Config.step_budget_s: one deadline per step, trackscan.domain.step_deadline), and every track
must end DONE once the stalls are over, none lost, none doubled, results equal to the embedded
default's.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.faults.emulator_stack import Cloud
from tests.faults.outcomes import expected_results, fault_row, make_songs, reference_results
from tests.faults.pull_workers import log_lines
from tests.faults.report import ROWS
from tests.faults.tcp_proxy import Faults, FaultyProxy
from trackscan.pipeline.step_policy import FAILED_NOTE_RESERVE_S
from trackscan.pipeline.steps import STEP_NAMES

pytestmark = pytest.mark.faults
STALL = Faults(stall=1.0, freeze=1.0)
SONGS_PER_STALL = 2
STALL_S = 15.0  # longer than the step budget: some step waits on the stalled backend until its deadline
# The stalls cost a message several deliveries, none of which may dead-letter it; no retry policy:
# the emulator stops redelivering messages that fail together under one (test_emulator_webhooks.py).
ATTEMPTS = 100
# The log line is written after the handler, the failed-attempt note and the log call itself:
# scheduling on a busy 2-core machine, far below the 21.8-62 s steps took before the deadline.
LOG_SLACK_S = 1.0


def test_every_step_ends_within_its_budget_and_every_track_finishes_when_each_backend_stalls_in_turn(
    stack, cloud, tmp_path
):
    songs = make_songs(tmp_path, SONGS_PER_STALL * 4, first_seed=240)
    references = reference_results(songs, tmp_path / "reference")
    ports = stack.ports
    proxies = {
        "GCS": FaultyProxy(ports.storage, seed=24).start(),
        "Firestore": FaultyProxy(ports.firestore, seed=25).start(),
        "Pub/Sub": FaultyProxy(ports.pubsub, seed=26).start(),
        "Triton": FaultyProxy(ports.triton_grpc, seed=27).start(),
    }
    env = {
        "STORAGE_EMULATOR_HOST": f"http://{proxies['GCS'].address}",
        "FIRESTORE_EMULATOR_HOST": proxies["Firestore"].address,
        "PUBSUB_EMULATOR_HOST": proxies["Pub/Sub"].address,
        "TRITON_GRPC_URL": proxies["Triton"].address,
    }
    budget_s = stack.config.step_budget_s
    try:
        with _many_attempts(cloud), stack.restarted(STEP_NAMES, env):
            started, uploads = time.monotonic(), []
            for index, proxy in enumerate(proxies.values()):
                proxy.set(STALL)
                # Uploaded as the stall begins, so it meets steps in flight whichever backend it is.
                uploads += [cloud.upload(path) for path in songs[index * SONGS_PER_STALL :][:SONGS_PER_STALL]]
                time.sleep(STALL_S)
                proxy.set(Faults())
                proxy.sever()
            records = cloud.wait_final([u.track_id for u in uploads], timeout_s=600)
            recover_s = time.monotonic() - started
    finally:
        for proxy in proxies.values():
            proxy.stop()
    ids = [u.track_id for u in uploads]
    steps = [
        line
        for name in STEP_NAMES
        for message in ("step finished", "step failed")
        for line in log_lines(stack.log_path(name), message, ids)
    ]
    longest = max(steps, key=lambda line: line["duration_s"])
    failed = [line for line in steps if line["message"] == "step failed"]
    # A call's own timeout is what was left, so a step that waited out a stall ends at its deadline.
    at_deadline = sum(line["duration_s"] >= budget_s - FAILED_NOTE_RESERVE_S - 0.1 for line in failed)
    row = fault_row(
        f"each backend stalled in turn for {STALL_S:.0f} s (GCS, Firestore, Pub/Sub, Triton): every new "
        "connection unanswered, every open one silent; then back, its connections reset",
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=recover_s,
    )
    silent = {name: proxy.counts["stalled"] + proxy.counts["frozen"] for name, proxy in proxies.items()}
    stalled = ", ".join(f"{name} {count}" for name, count in silent.items())
    row.note = (
        f"connections unanswered or frozen: {stalled}; {len(steps)} step runs, the longest "
        f"{longest['duration_s']:.1f} s ({longest['step']}) against a budget of {budget_s:g} s; "
        f"{len(failed)} failed and were redelivered, {at_deadline} of them ended at the step's deadline"
    )
    ROWS.append(row)
    assert all(silent.values()), f"a stall met no connection: {silent}"
    assert (row.done, row.lost, row.duplicated) == (len(uploads), 0, 0)
    assert longest["duration_s"] <= budget_s + LOG_SLACK_S, longest


def _many_attempts(cloud: Cloud) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    for step in STEP_NAMES:
        stack.enter_context(cloud.retry_settings(step, ATTEMPTS, False))
    return stack
