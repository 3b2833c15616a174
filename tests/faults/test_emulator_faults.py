"""Faults injected into the emulator stack (`trackscan dev up`: the Pub/Sub and Firestore
emulators, fake GCS, Triton and every function behind push subscriptions): duplicate
notifications, crashes and signals in pull workers, a Triton outage, an emulator restart,
poison files, a step that always fails, and a burst. Every track must end DONE or FAILED with
a reason; none lost, none with two results; results equal the embedded default's.

The tests share one stack with the other emulator modules (tests/faults/conftest.py) and run in
file order; each leaves the stack as it found it.
FAULTS_BURST sets the size of the burst (default BURST_DEFAULT).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import bytes_file, music_like, pdf_named, tone, truncated_copy, write_audio
from tests.faults.emulator_stack import (
    Cloud,
    Upload,
    gone_services,
)
from tests.faults.outcomes import (
    SEGMENTS,
    done_count,
    expected_results,
    fault_row,
    make_songs,
    reference_results,
    segments_scored,
)
from tests.faults.pull_workers import PulledStep, Tail, comeback, log_lines, wait_or_replay
from tests.faults.report import ROWS
from tests.processes import session_members, wait_until_gone
from trackscan.dev.layout import MAX_DELIVERY_ATTEMPTS, subscriptions
from trackscan.dev.provision import provision
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.reconcile import reconcile

pytestmark = pytest.mark.faults
BURST_DEFAULT = 100
QUIET_S = 10.0  # after an emulator restart, how long the steps in hand get to end
# The scheduled reconcile, scaled down from production's every 60 s for tracks idle 900 s.
RECONCILE_EVERY_S = 5.0
RECONCILE_AFTER_S = 5.0


def test_ingest_keeps_one_track_and_one_result_when_a_notification_is_delivered_five_times(stack, cloud, tmp_path):
    first, spread, second = make_songs(tmp_path, 3)
    references = reference_results([first, spread, second], tmp_path / "reference")
    ingest_log = Tail(stack.log_path("ingest"))
    started = time.monotonic()
    at_once = cloud.upload(first, "same.flac")  # fake GCS announces it once ...
    with ThreadPoolExecutor(4) as pool:  # ... and GCS "announces" it 4 times more at once
        list(pool.map(lambda _: cloud.publish_finalize(at_once), range(4)))
    late = cloud.upload(spread, "spread.flac")
    for _ in range(4):  # 4 more copies over 10 s: while it runs, and after it finished
        time.sleep(2.5)
        cloud.publish_finalize(late)
    ingest_log.wait_for("step finished", [at_once.track_id, late.track_id], 10, timeout_s=60)
    records = cloud.wait_final([at_once.track_id, late.track_id], timeout_s=120)
    recover_s = time.monotonic() - started
    overwrite = cloud.upload(second, "same.flac")  # a new generation of the same object
    records |= cloud.wait_final([overwrite.track_id], timeout_s=120)
    ingest_log.close()
    uploads = [at_once, late, overwrite]
    row = fault_row(
        "the same OBJECT_FINALIZE 5x at once, another 5x over 10 s; then the object overwritten",
        uploads,
        records,
        expected_results(uploads, [first, spread, second], references),
        recover_s=recover_s,
    )
    scored = segments_scored(stack, [u.track_id for u in uploads])
    deliveries = len(ingest_log.matching("step finished", [at_once.track_id, late.track_id]))
    row.note = (
        f"copies published with the GCS attributes; {deliveries} ingest runs for the 2 tracks; "
        f"segments scored {sum(scored.values())} of {SEGMENTS * len(uploads)}; "
        f"new generation = new track {overwrite.track_id != at_once.track_id}; "
        f"work blobs left {cloud.work_blobs(u.track_id for u in uploads)}"
    )
    ROWS.append(row)
    assert overwrite.track_id != at_once.track_id
    assert (row.done, row.lost, row.duplicated) == (3, 0, 0)
    assert all(done_count(records[u.track_id]) == 1 for u in uploads)
    assert scored == {u.track_id: SEGMENTS for u in uploads}  # no segment scored twice


@pytest.fixture(scope="module")
def poison(tmp_path_factory) -> dict[Path, str]:
    folder = tmp_path_factory.mktemp("poison")
    whole = write_audio(folder / "whole.mp3", music_like(30.0))
    cases = {
        bytes_file(folder / "zero.mp3", b""): "EMPTY",
        pdf_named(folder / "report.mp3"): "UNSUPPORTED",
        truncated_copy(whole, folder / "truncated.mp3", 0.4): "TRUNCATED",
        # The functions run with TRACKSCAN_FAILPOINTS=decode@crashme=crash: the decoder child
        # dies on this file, as a codec crashing on a crafted file would.
        write_audio(folder / "crashme.flac", music_like(5.0)): "DECODER_CRASHED",
    }
    whole.unlink()
    return cases


def test_functions_fail_each_poison_file_with_its_code_when_mixed_with_good_ones(stack, cloud, poison, tmp_path):
    good = make_songs(tmp_path, 2, seconds=12.0, first_seed=10)
    references = reference_results(good, tmp_path / "reference")
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        uploads = list(pool.map(cloud.upload, [*poison, *good]))
    records = cloud.wait_final([u.track_id for u in uploads], timeout_s=120)
    by_name = {Path(u.name).name: records[u.track_id] for u in uploads}
    row = fault_row(
        "poison files (zero bytes, PDF named .mp3, truncated MP3, decoder crash) beside 2 good tracks",
        uploads,
        records,
        expected_results(uploads[len(poison) :], good, references),
        recover_s=time.monotonic() - started,
    )
    gone = gone_services(stack)
    row.note = f"uploaded at once; every function process still running: {not gone}"
    ROWS.append(row)
    assert {p.name: (by_name[p.name] or {}).get("error", {}).get("code") for p in poison} == {
        p.name: code for p, code in poison.items()
    }
    assert (row.done, row.lost, row.duplicated) == (len(good), 0, 0)
    assert not gone


def test_dead_letter_function_fails_the_track_when_a_step_keeps_failing(stack, cloud, tmp_path):
    (song,) = make_songs(tmp_path, 1, seconds=5.0, first_seed=20)
    stack.restart_service("infer", {"TRACKSCAN_FAILPOINTS": "infer=error"})
    infer_log = Tail(stack.log_path("infer"))
    try:
        started = time.monotonic()
        upload = cloud.upload(song)
        records = cloud.wait_final([upload.track_id], timeout_s=180)
        failed_after_s = time.monotonic() - started
        attempts = infer_log.matching("step failed", [upload.track_id])
    finally:
        infer_log.close()
        stack.restart_service("infer")
    record = records[upload.track_id]
    times = [t for t, _ in attempts]
    gaps = ", ".join(f"{b - a:.0f}" for a, b in zip(times, times[1:], strict=False))
    span_s = times[-1] - times[0] if times else 0.0
    row = fault_row(
        "the infer step fails every time (failpoint infer=error in the function)",
        [upload],
        records,
        {},
        recover_s=failed_after_s,
    )
    row.note = (
        f"{len(attempts)} pushes in {span_s:.0f} s, gaps {gaps} s (subscription: "
        f"{MAX_DELIVERY_ATTEMPTS} attempts, backoff 1-10 s); then the dead_letter function recorded: "
        f'"{record["error"]["message"][:60]}..."'
    )
    ROWS.append(row)
    assert record["state"] == "FAILED"
    assert record["error"]["code"] == "RETRIES_EXHAUSTED"
    assert len(attempts) == MAX_DELIVERY_ATTEMPTS


def test_pull_worker_keeps_the_written_prediction_when_the_worker_dies_before_the_ack(stack, cloud, deps, tmp_path):
    (song,) = make_songs(tmp_path, 1, first_seed=30)
    references = reference_results([song], tmp_path / "reference")
    with PulledStep(stack, cloud, "infer", tmp_path) as step:
        crashing = step.worker("worker1", failpoints="after_prediction_write=crash")
        upload = cloud.upload(song)
        crashing.wait_for("predictions written", [upload.track_id])
        crashing.process.wait(timeout=30)
        crashed_at = time.monotonic()
        replacement = step.worker("worker2")  # the pod is replaced, as Kubernetes would
        records, replayed = wait_or_replay(step, cloud, deps, [upload.track_id])
        recover_s = time.monotonic() - crashed_at
    steps = replacement.tail.matching("step finished", [upload.track_id])
    scored = segments_scored(stack, [upload.track_id], crashing.log_path, replacement.log_path)
    reused = log_lines(replacement.log_path, "predictions exist, reused", [upload.track_id])
    row = fault_row(
        "pull worker (infer) killed after writing a prediction, before the ack",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    row.note = (
        f"failpoint after_prediction_write=crash (exit {crashing.process.returncode}), worker replaced; "
        f"{comeback(steps, crashed_at, replayed)}; segments scored {sum(scored.values())} of {SEGMENTS}: "
        f"the dead worker's prediction was kept ({len(reused)} later deliveries found and reused it)"
    )
    ROWS.append(row)
    assert crashing.process.returncode == 137
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)
    assert scored[upload.track_id] == SEGMENTS  # the dead worker's prediction was kept, not redone


def test_pull_worker_finishes_the_step_in_hand_and_takes_no_new_work_when_sigterm(stack, cloud, deps, tmp_path):
    (song,) = make_songs(tmp_path, 1, seconds=60.0, first_seed=40)  # six 10 s segments
    references = reference_results([song], tmp_path / "reference")
    with PulledStep(stack, cloud, "features", tmp_path) as step:
        worker = step.worker("worker1")
        upload = cloud.upload(song)
        worker.wait_for("step finished", [upload.track_id])
        signalled_at = worker.terminate()  # the next segment is in hand by now
        ((drained_at, _),) = worker.wait_for("worker draining", None, timeout_s=60)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=60)
        drain_s = time.monotonic() - signalled_at
        step.hand_back()  # the function takes the rest
        records, replayed = wait_or_replay(step, cloud, deps, [upload.track_id])
        recover_s = time.monotonic() - signalled_at
    # In the log's own order: lines the tail saw in one poll share a time stamp, and a 0.1 s step
    # finished just before the signal would pass for one finished after it.
    messages = [line["message"] for _, line in worker.tail.lines]
    in_hand = [m for m in messages[messages.index("worker draining") :] if m == "step finished"]
    row = fault_row(
        "SIGTERM to a pull worker (features) mid-step",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    row.note = (
        f"exit code {worker.process.returncode} {drain_s:.1f} s after the signal, having finished "
        f"{len(in_hand)} step after it and started none; the rest: "
        + ("replayed by reconcile (nacked messages stranded)" if replayed else "pushed to the function")
    )
    ROWS.append(row)
    timing = f"draining {drained_at - signalled_at:.1f} s after the signal, exit after {drain_s:.1f} s"
    assert worker.process.returncode == 0 and drain_s < 10, timing  # Cloud Run's grace period
    assert len(in_hand) <= 1  # the step in hand, and no new one
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)


@pytest.mark.parametrize("alone", [False, True], ids=["group", "process-alone"])
def test_pull_worker_message_comes_back_when_the_worker_is_killed_mid_step(stack, cloud, deps, tmp_path, alone):
    (song,) = make_songs(tmp_path, 1, seconds=60.0, first_seed=45 + alone)
    references = reference_results([song], tmp_path / "reference")
    with PulledStep(stack, cloud, "features", tmp_path) as step:
        victim = step.worker("worker1")
        upload = cloud.upload(song)
        victim.wait_for("step finished", [upload.track_id])
        before = session_members(victim.process.pid)  # the worker and its decoder child
        killed_at = victim.kill_alone() if alone else victim.kill()  # the next segment is in hand by now
        victim.process.wait(timeout=10)
        left = wait_until_gone(victim.process.pid, ORPHAN_LIMIT_S)
        replacement = step.worker("worker2")
        records, replayed = wait_or_replay(step, cloud, deps, [upload.track_id])
        recover_s = time.monotonic() - killed_at
    steps = replacement.tail.matching("step finished", [upload.track_id])
    fault = "the worker process alone (the OOM killer)" if alone else "its process group (a pod kill)"
    row = fault_row(
        f"SIGKILL to a pull worker (features) mid-step: {fault}",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    row.note = (
        f"{len(before)} processes before, {len(left)} left {ORPHAN_LIMIT_S:.0f} s after; worker replaced; "
        f"{comeback(steps, killed_at, replayed)}"
    )
    ROWS.append(row)
    assert len(before) >= 2 and left == []
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)


ORPHAN_LIMIT_S = 5.0


OUTAGE_S = 60.0
OUTAGE_ATTEMPTS = 100
# (name, max_delivery_attempts, keep the 1-10 s retry policy): the dev stack as provisioned, and
# as adjusted for an outage on the emulator (see FAULTS.md: with a retry policy the emulator stops
# redelivering once several messages of a subscription fail together; without one it redelivers
# about once a second, so 100 attempts outlast a minute).
RETRY_SETTINGS = [("dev-stack", MAX_DELIVERY_ATTEMPTS, True), ("no-backoff-100", OUTAGE_ATTEMPTS, False)]
STALL_WAIT_S = 30.0  # after the outage, how long the dev settings get before reconcile steps in


@pytest.mark.parametrize(("settings", "attempts", "backoff"), RETRY_SETTINGS, ids=[s[0] for s in RETRY_SETTINGS])
def test_infer_completes_every_track_when_triton_is_down_for_a_minute(
    stack, cloud, deps, tmp_path, settings, attempts, backoff
):
    songs = make_songs(tmp_path, 3, first_seed=50 + attempts)
    references = reference_results(songs, tmp_path / "reference")
    infer_log = Tail(stack.log_path("infer"))
    replayed = 0
    with cloud.retry_settings("infer", attempts, backoff):
        uploads = [cloud.upload(path) for path in songs]
        ids = [u.track_id for u in uploads]
        infer_log.wait_for("predictions written", ids, 1, timeout_s=60)  # tracks in flight
        down_at = time.monotonic()
        stack.stop_service("triton")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        stack.start_service("triton")
        up_at = time.monotonic()
        records = cloud.wait_final(ids, timeout_s=STALL_WAIT_S if backoff else 120)
        redelivered = sum(1 for t, _ in infer_log.matching("predictions written", ids) if t > up_at)
        if backoff and not all(r and r["state"] in ("DONE", "FAILED") for r in records.values()):
            replayed = reconcile(deps, older_than_s=0).replayed
            records = cloud.wait_final(ids, timeout_s=120)
        recover_s = time.monotonic() - up_at
    infer_log.close()
    pushes = [t for t, _ in infer_log.matching("step failed", ids) if down_at < t < up_at]
    row = fault_row(
        f"Triton stopped for {up_at - down_at:.0f} s with 3 tracks in flight; infer subscription: "
        f"{attempts} attempts, {'1-10 s backoff' if backoff else 'no retry policy'}",
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=recover_s,
    )
    row.note = (
        f"{len(pushes)} failed infer pushes during the outage; {redelivered} segments scored from "
        f"redeliveries after it"
        + (f", then reconcile replayed {replayed} stalled tracks" if replayed else "")
        + f"; segments scored {sum(segments_scored(stack, ids).values())} of {SEGMENTS * len(uploads)}"
    )
    ROWS.append(row)
    assert (row.lost, row.duplicated) == (0, 0)
    assert set(row.failed) <= {"RETRIES_EXHAUSTED"}  # the dev settings may give up before the minute is over
    if not backoff:
        assert row.done == len(uploads) and replayed == 0  # redelivery alone rode out the outage


def test_functions_lose_no_track_when_a_burst_of_short_tracks_arrives(stack, cloud, tmp_path):
    count = int(os.environ.get("FAULTS_BURST", BURST_DEFAULT))
    rng = np.random.default_rng(70)
    paths = []
    for i in range(count):
        seconds = 1.0 + (i % 11) / 10  # 1 to 2 s
        audio = tone(110.0 + 7.0 * i, seconds) + rng.normal(0, 0.01, int(seconds * 44_100)).astype(np.float32)
        paths.append(write_audio(tmp_path / f"short{i:04d}.flac", audio))
    clients = threading.local()

    def upload(path: Path) -> Upload:
        if not hasattr(clients, "cloud"):
            clients.cloud = Cloud(stack)
        return clients.cloud.upload(path)

    started_wall, started = time.time(), time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        uploads = list(pool.map(upload, paths))
    uploaded_s = time.monotonic() - started
    ids = [u.track_id for u in uploads]
    records = cloud.wait_final(ids, timeout_s=120 + 2.0 * count)
    finished = [r for r in records.values() if r and r["state"] in ("DONE", "FAILED")]
    last_s = max((_epoch(r["updated_at"]) for r in finished), default=started_wall) - started_wall
    scored = segments_scored(stack, ids)
    row = fault_row(f"a burst of {count} tracks of 1-2 s uploaded at once", uploads, records, {}, recover_s=last_s)
    row.duplicated += sum(1 for n in scored.values() if n > 1)
    row.note = (
        f"uploads took {uploaded_s:.0f} s (16 threads); all finished {last_s:.0f} s after the first "
        f"upload: {count / last_s:.2f} tracks/s"
    )
    ROWS.append(row)
    assert (row.done, row.lost, row.duplicated) == (count, 0, 0)


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _scheduled_reconcile(cloud: Cloud, deps: Deps, track_ids: list[str], timeout_s: float) -> tuple[dict, int, int]:
    """What Cloud Scheduler does in production, faster: a reconcile pass every RECONCILE_EVERY_S
    until every track is final. A pass skips a track whose last step was still running when it
    looked; a later pass finds it.

    Returns the records, the number of passes and how many replays they made.
    """
    deadline, passes, replayed = time.monotonic() + timeout_s, 0, 0
    while True:
        records = cloud.records(track_ids)
        if all(r and r["state"] in ("DONE", "FAILED") for r in records.values()) or time.monotonic() > deadline:
            return records, passes, replayed
        passes += 1
        replayed += reconcile(deps, older_than_s=RECONCILE_AFTER_S).replayed
        time.sleep(RECONCILE_EVERY_S)


def test_reconcile_completes_every_track_when_the_pubsub_emulator_restarts(stack, cloud, deps, tmp_path):
    songs = make_songs(tmp_path, 4, first_seed=80)
    (late_song,) = make_songs(tmp_path, 1, seconds=5.0, first_seed=90)
    references = reference_results([*songs, late_song], tmp_path / "reference")
    uploads = [cloud.upload(path) for path in songs]
    ids = [u.track_id for u in uploads]
    deadline = time.monotonic() + 60
    while not all(cloud.records(ids).values()) and time.monotonic() < deadline:
        time.sleep(0.2)  # every track has a record: ingest took each notification
    stopped_at = time.monotonic()
    stack.stop_service("pubsub")
    in_flight = Counter(r["state"] for r in cloud.records(ids).values() if r)
    stack.start_service("pubsub")
    kept = [t.name for t in cloud.publisher.list_topics(project=f"projects/{stack.config.project_id}")]
    provision(stack.config, subscriptions(stack.config, stack.ports), stack.env)
    time.sleep(QUIET_S)  # the steps in hand end; what they publish now goes nowhere
    stuck = Counter(r["state"] for r in cloud.records(ids).values() if r)
    records, passes, replayed = _scheduled_reconcile(cloud, deps, ids, timeout_s=180)
    recover_s = time.monotonic() - stopped_at
    late = cloud.upload(late_song)  # fake GCS announces new uploads on the new topic
    # 60 s was once not enough on a busy machine (load average 3 to 4): fake GCS's publisher
    # retries its first publish to the restarted emulator for up to 60 s.
    records |= cloud.wait_final([late.track_id], timeout_s=150)
    row = fault_row(
        "Pub/Sub emulator restarted with 4 tracks in flight; topics re-provisioned; reconcile",
        [*uploads, late],
        records,
        expected_results([*uploads, late], [*songs, late_song], references),
        recover_s=recover_s,
    )
    row.note = (
        f"in flight at the stop: {dict(in_flight)}; topics kept by the emulator: {len(kept)}; "
        f"{sum(stuck.values()) - stuck['DONE'] - stuck['FAILED']} stuck {QUIET_S:.0f} s later, "
        f"reconcile replayed {replayed} in {passes} passes; an upload after the restart was announced "
        f"and DONE: {(records[late.track_id] or {}).get('state') == 'DONE'}"
    )
    ROWS.append(row)
    assert kept == []
    assert (row.done, row.lost, row.duplicated) == (len(uploads) + 1, 0, 0)
