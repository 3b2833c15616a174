"""The rest of the fault matrix (FAULTS.md maps every row to its test) on the emulator stack:
a crash after the state write and before the ack (row 5), a step slower than its ack deadline
(8), a preemption storm against the dead-letter limit (9), contention on one track's record (13),
Triton draining (15), network delay and loss (16), lost publish acknowledgements (17) and
notifications that never arrive (19). Same stack, same promises as test_emulator_faults.py:
every track DONE or FAILED with a reason, none lost, none with two results, results equal to
the embedded default's.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.emulator_stack import TRITON_TOKEN, Cloud, FaultStack, Upload, gone_services
from tests.faults.outcomes import (
    SEGMENTS,
    done_count,
    expected_results,
    fault_row,
    make_songs,
    reference_results,
    segments_scored,
)
from tests.faults.pull_workers import REDELIVERY_WAIT_S, PulledStep, PullWorker, Tail, log_lines, wait_or_replay
from tests.faults.report import ROWS
from tests.faults.tcp_proxy import Faults, FaultyProxy
from trackscan.dev.layout import function_url, subscriptions
from trackscan.dev.provision import provision
from trackscan.domain.errors import RetryableError
from trackscan.domain.tracks import TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.steps import STEP_NAMES, step_named, topic_name

pytestmark = pytest.mark.faults
REGISTRY_ATTEMPTS = step_named("features").deployment.max_delivery_attempts  # 15, as terraform sets it


def _final(records: dict) -> bool:
    return all(r and r["state"] in ("DONE", "FAILED") for r in records.values())


# Row 5 --------------------------------------------------------------------------------------------

CRASH_AFTER_STATE_WRITE = [("ingest", "after_ingest_commit", "EXTRACTING"), ("finalize", "after_result_commit", "DONE")]


@pytest.mark.parametrize(
    ("step", "failpoint", "state_at_crash"), CRASH_AFTER_STATE_WRITE, ids=[c[0] for c in CRASH_AFTER_STATE_WRITE]
)
def test_redelivery_finishes_the_track_once_when_a_worker_dies_between_its_state_write_and_the_ack(
    stack, cloud, deps, tmp_path, step, failpoint, state_at_crash
):
    (song,) = make_songs(tmp_path, 1, first_seed=100 + len(step))
    references = reference_results([song], tmp_path / "reference")
    features_log, step_log = Tail(stack.log_path("features")), Tail(stack.log_path(step))
    with PulledStep(stack, cloud, step, tmp_path) as pulled:
        crashing = pulled.worker("worker1", failpoints=f"{failpoint}=crash")
        upload = cloud.upload(song)
        crashing.process.wait(timeout=180)  # it dies at the failpoint
        crashed_at = time.monotonic()
        record_at_crash = cloud.records([upload.track_id])[upload.track_id] or {}
        at_crash = record_at_crash.get("state")
        # Pushes are immediate, so later steps may already have moved the track on: what counts
        # is that the dead step's own state write is on the record.
        written = [(event["state"], event["step"]) for event in record_at_crash.get("timeline", [])]
        replacement = pulled.worker("worker2")
        records, replayed = wait_or_replay(pulled, cloud, deps, [upload.track_id])
        redelivered = _redelivery(replacement, upload.track_id)
        how = "redelivered to the replacement worker"
        if not redelivered:  # stranded in the emulator: the step's function gets it once pushed again
            how = "stranded by the emulator, then pushed to the function"
            pulled.hand_back()
            # A message that reached the replacement as it was stopped is finished in its drain.
            redelivered = _redelivery(replacement, upload.track_id)
            if redelivered:
                how = "redelivered to the replacement worker as it was stopped, finished in its drain"
            else:
                with contextlib.suppress(AssertionError):
                    step_log.wait_for("step finished", [upload.track_id], 1, timeout_s=REDELIVERY_WAIT_S)
                redelivered = [line for _, line in step_log.matching("step finished", [upload.track_id])]
        recover_s = time.monotonic() - crashed_at
    features_log.close()
    step_log.close()
    scored = segments_scored(stack, [upload.track_id])
    features_runs = len(features_log.matching("step finished", [upload.track_id]))
    row = fault_row(
        f"pull worker ({step}) killed after its state write ({state_at_crash}), before the ack",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    row.note = (
        f"failpoint {failpoint}=crash (exit {crashing.process.returncode}); the record said {at_crash} "
        f"at the crash; the unacked message was handled again {len(redelivered)} time(s) ({how})"
        f"{', and reconcile replayed' if replayed else ''}; "
    )
    if step == "ingest":
        row.note += (
            f"{features_runs} features runs for {SEGMENTS} segments, segments scored "
            f"{sum(scored.values())} of {SEGMENTS}"
        )
    else:
        row.note += (
            f"the redelivery found DONE and only deleted the work blobs "
            f"(left: {cloud.work_blobs([upload.track_id])}); segments scored {sum(scored.values())}"
        )
    ROWS.append(row)
    assert crashing.process.returncode == 137 and (state_at_crash, step) in written
    assert redelivered, "the unacknowledged message never came back"
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)
    assert scored[upload.track_id] == SEGMENTS  # the duplicate publish did no work twice


def _redelivery(worker: PullWorker, track_id: str) -> list[dict]:
    """The replacement worker's runs of the crashed message (waits for one up to REDELIVERY_WAIT_S)."""
    with contextlib.suppress(AssertionError):
        worker.wait_for("step finished", [track_id], timeout_s=REDELIVERY_WAIT_S)
    return [line for _, line in worker.tail.matching("step finished", [track_id])]


# Row 8 --------------------------------------------------------------------------------------------

ACK_DEADLINE_S = 10  # the least Pub/Sub allows
SLOW_S = 25


def test_one_prediction_wins_when_an_infer_push_outlasts_its_ack_deadline(stack, cloud, tmp_path):
    (song,) = make_songs(tmp_path, 1, first_seed=110)
    references = reference_results([song], tmp_path / "reference")
    infer_log = Tail(stack.log_path("infer"))
    # The first prediction of the process waits SLOW_S before its write; 4 threads, as Cloud Run
    # would give the redelivered copy another instance.
    slow = {"TRACKSCAN_FAILPOINTS": f"before_prediction_write=sleep{SLOW_S}:1", "THREADS": "4"}
    with cloud.ack_deadline("infer", ACK_DEADLINE_S), stack.restarted(["infer"], slow):
        started = time.monotonic()
        upload = cloud.upload(song)
        records = cloud.wait_final([upload.track_id], timeout_s=180)
        recover_s = time.monotonic() - started
        time.sleep(SLOW_S)  # the slow copy's end
    infer_log.close()
    orphans = cloud.work_blobs([upload.track_id])
    ids = [upload.track_id]
    ended = [line for message in ("step finished", "step failed") for _, line in infer_log.matching(message, ids)]
    runs = Counter(line["segment_index"] for line in ended)
    slowest = max(ended, key=lambda line: line["duration_s"])
    written = log_lines(stack.log_path("infer"), "predictions written", [upload.track_id])
    row = fault_row(
        f"an infer push slower ({SLOW_S} s) than its ack deadline ({ACK_DEADLINE_S} s)",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    doubled = sorted(i for i, n in runs.items() if n > 1)
    row.note = (
        f"infer runs per segment {dict(sorted(runs.items()))}: segments {doubled} ran twice at once; the "
        f"copy redelivered after the ack deadline wrote the prediction and the track finished; the slow one "
        f"took {slowest['duration_s']:.0f} s and ended {slowest.get('error', 'with its write')[:60]}, "
        f"{len(written) - SEGMENTS} of its writes landing after finalize had cleaned up ({orphans} orphan "
        "blob(s) left to the lifecycle rule)"
    )
    ROWS.append(row)
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)
    assert doubled, "the emulator sent no concurrent copy of the slow push"
    # Past the step's deadline (10 s) the slow copy makes no backend call: it writes nothing late.
    assert "StepDeadlineError" in slowest.get("error", ""), slowest
    # A second write of a prediction can only be one made after finalize deleted the first: each
    # such write is the blob left behind (a write while the first existed would have got 412).
    assert len(written) - SEGMENTS == orphans <= len(doubled)


# Row 9 --------------------------------------------------------------------------------------------

STORM_KILLS = 5
STORM_ACK_DEADLINE_S = 10  # a killed worker's leases run out this long after the kill
STORM_WAIT_S = 60.0  # for the next step of a replacement worker; longer: stranded (see FAULTS.md)


def test_no_healthy_message_is_dead_lettered_when_pull_workers_are_preempted_again_and_again(
    stack, cloud, deps, tmp_path
):
    songs = make_songs(tmp_path, 3, first_seed=120)
    references = reference_results(songs, tmp_path / "reference")
    kills, replayed, attempts = 0, 0, Counter()
    with (
        cloud.retry_settings("features", REGISTRY_ATTEMPTS, True),
        cloud.ack_deadline("features", STORM_ACK_DEADLINE_S),
        PulledStep(stack, cloud, "features", tmp_path) as pulled,
    ):
        worker = pulled.worker("worker0")
        uploads = [cloud.upload(path) for path in songs]
        ids = [u.track_id for u in uploads]
        started = time.monotonic()
        while kills < STORM_KILLS:  # a kill each time a worker has a step in hand
            try:
                worker.wait_for("step finished", ids, timeout_s=STORM_WAIT_S)
            except AssertionError:
                break  # the emulator stranded the messages (see FAULTS.md): reconcile below
            worker.kill()
            kills += 1
            worker = pulled.worker(f"worker{kills}")
        records = cloud.wait_final(ids, timeout_s=STORM_WAIT_S * 2)
        if not _final(records):
            pulled.hand_back()
            replayed = reconcile_now(deps)
            records = cloud.wait_final(ids, timeout_s=180)
        recover_s = time.monotonic() - started
        for pulled_worker in pulled.workers:
            attempts.update(line["attempt"] for line in log_lines(pulled_worker.log_path, "step finished", ids))
    row = fault_row(
        f"{kills} SIGKILLs of pull workers (features) holding messages; {REGISTRY_ATTEMPTS} delivery "
        f"attempts (the registry's), ack deadline {STORM_ACK_DEADLINE_S} s",
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=recover_s,
    )
    row.note = (
        f"a kill whenever a worker finished a step, a new worker each time; features runs by delivery "
        f"attempt {dict(sorted(attempts.items()))}; dead-lettered {sum(row.failed.values())}"
        + (f"; messages stranded, reconcile replayed {replayed}" if replayed else "")
    )
    ROWS.append(row)
    assert (row.done, row.lost, row.duplicated) == (len(uploads), 0, 0)
    assert max(attempts, default=1) < REGISTRY_ATTEMPTS


def reconcile_now(deps: Deps) -> int:
    from trackscan.pipeline.reconcile import reconcile

    return reconcile(deps, older_than_s=0).replayed


# Row 13 -------------------------------------------------------------------------------------------

WRITERS = 24
LONG_TRACK_S = 120.0  # 12 segments of 10 s: 12 infer pushes at once


def _apply_until_committed(deps: Deps, track_id: str, transition: Transition) -> tuple[int, bool, list[str]]:
    """Applies like a Pub/Sub delivery: a RetryableError is redelivered, up to the registry's
    attempts. Returns the attempts made, whether the transition changed the record, and the
    errors' types."""
    errors = []
    for attempt in range(1, REGISTRY_ATTEMPTS + 1):
        try:
            return attempt, deps.tracks.apply(track_id, transition) is not None, errors
        except RetryableError:
            errors.append("RetryableError")
        except Exception as exc:  # noqa: BLE001 - an untyped error is what the test looks for
            errors.append(type(exc).__name__)
        # The subscription's retry policy: exponential from 1 s to 10 s (the dev stack's; production
        # waits 10-600 s), jittered. Without the backoff (retries 0.1-0.5 s apart) 23 of 24 writers
        # were still failing after 15 attempts in one run: they kept colliding.
        time.sleep(min(10.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.5))
    return REGISTRY_ATTEMPTS, False, errors


def _concurrent_applies(deps: Deps, track_id: str, transitions: list[Transition]) -> list[tuple[int, bool, list[str]]]:
    barrier = threading.Barrier(len(transitions))

    def write(transition: Transition) -> tuple[int, bool, list[str]]:
        barrier.wait()
        return _apply_until_committed(deps, track_id, transition)

    with ThreadPoolExecutor(len(transitions)) as pool:
        return list(pool.map(write, transitions, timeout=600))


def _most_at_once(runs: list[tuple[float, dict]]) -> int:
    """The most step runs under way at one moment (each ran duration_s up to when its line was seen)."""
    edges = sorted([(t - line["duration_s"], 1) for t, line in runs] + [(t, -1) for t, _ in runs])
    most = current = 0
    for _, change in edges:
        current += change
        most = max(most, current)
    return most


def test_track_record_loses_no_update_when_many_segments_write_it_at_once(stack, cloud, deps, tmp_path):
    # 1. The store alone: WRITERS transitions that always apply (a redo appends to the timeline).
    record = deps.tracks.create_if_absent(new_record(f"gs://contention/{time.time_ns()}", "1", "dev-partner", "ingest"))
    redos = [Transition(TrackState.RECEIVED, "contention", attempt=i, restart=True) for i in range(WRITERS)]
    outcomes = _concurrent_applies(deps, record.track_id, redos)
    stored = deps.tracks.get(record.track_id)
    committed = sum(changed for _, changed, _ in outcomes)
    errors = Counter(e for _, _, errs in outcomes for e in errs)
    # 2. The pipeline: a 12-segment track whose infer pushes all arrive at once.
    (song,) = make_songs(tmp_path, 1, seconds=LONG_TRACK_S, first_seed=130)
    references = reference_results([song], tmp_path / "reference")
    features_log, infer_log = Tail(stack.log_path("features")), Tail(stack.log_path("infer"))
    with stack.restarted(["infer"], {"THREADS": "12"}):
        with cloud.pulled("infer"):  # the features of every segment wait in the subscription
            upload = cloud.upload(song)
            features_log.wait_for("step finished", [upload.track_id], 12, timeout_s=300)
        started = time.monotonic()
        records = cloud.wait_final([upload.track_id], timeout_s=300)
        recover_s = time.monotonic() - started
    features_log.close()
    infer_log.close()
    failures = [line["error"] for _, line in infer_log.matching("step failed", [upload.track_id])]
    overlap = _most_at_once(
        infer_log.matching("step finished", [upload.track_id]) + infer_log.matching("step failed", [upload.track_id])
    )
    inferring = [e for e in (records[upload.track_id] or {}).get("timeline", []) if e["state"] == "INFERRING"]
    row = fault_row(
        f"{WRITERS} concurrent writers on one track record; then a {LONG_TRACK_S:.0f} s track's 12 "
        "infer pushes at once (12 threads)",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    row.lost = len(stored.timeline) - 1 - committed  # type: ignore[union-attr]
    row.note = (
        f"store: {committed} of {WRITERS} writes committed, none lost ({len(stored.timeline) - 1} "  # type: ignore[union-attr]
        f"timeline events), most attempts {max(a for a, _, _ in outcomes)}, errors {dict(errors)}; "
        f"pipeline: up to {overlap} infer runs at once, {len(failures)} failed "
        f"({Counter(f.split(':')[0] for f in failures)}) and were redelivered; INFERRING entered "
        f"{len(inferring)} time(s); segments scored {sum(segments_scored(stack, [upload.track_id]).values())}"
    )
    ROWS.append(row)
    assert committed == WRITERS and len(stored.timeline) == 1 + WRITERS  # type: ignore[union-attr]
    assert set(errors) <= {"RetryableError"}
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)
    assert len(inferring) == 1
    assert all(f.startswith("RetryableError") for f in failures)


# Row 15 -------------------------------------------------------------------------------------------

DRAIN_S = 20.0


def _unload_model(stack: FaultStack) -> int:
    """Unloads the model from Triton through its repository API, as a draining server does."""
    url = f"http://127.0.0.1:{stack.ports.triton_http}/v2/repository/models/{stack.config.triton_model_name}/unload"
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={"triton-access-token": TRITON_TOKEN, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def test_infer_fails_no_track_when_triton_drains_and_answers_unknown_model(stack, cloud, tmp_path):
    songs = make_songs(tmp_path, 3, first_seed=200)  # 150-152: the Triton outage row (50 + 100 attempts)
    references = reference_results(songs, tmp_path / "reference")
    infer_log = Tail(stack.log_path("infer"))
    # As the Triton outage row: the emulator re-pushes every second (see FAULTS.md, "a stall").
    with cloud.retry_settings("infer", 100, False):
        uploads = [cloud.upload(path) for path in songs]
        ids = [u.track_id for u in uploads]
        infer_log.wait_for("predictions written", ids, 1, timeout_s=60)
        drained_at = time.monotonic()
        assert _unload_model(stack) == 200
        time.sleep(DRAIN_S)
        stack.restart_service("triton")  # the drained replica is replaced by a fresh one
        back_at = time.monotonic()
        records = cloud.wait_final(ids, timeout_s=180)
        recover_s = time.monotonic() - back_at
    infer_log.close()
    errors = [line["error"] for t, line in infer_log.matching("step failed", ids) if t > drained_at]
    unknown = sum("unknown model" in e for e in errors)
    row = fault_row(
        f'Triton drains: the model unloaded for {DRAIN_S:.0f} s ("unknown model"), then a fresh Triton',
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=recover_s,
    )
    row.note = (
        f'{len(errors)} failed infer pushes after the drain, {unknown} answered "unknown model", the rest '
        f"unavailable while Triton restarted; all redelivered; segments scored "
        f"{sum(segments_scored(stack, ids).values())} of {SEGMENTS * len(uploads)}"
    )
    ROWS.append(row)
    assert unknown > 0
    assert (row.done, row.lost, row.duplicated) == (len(uploads), 0, 0)


# Rows 16 and 17 -----------------------------------------------------------------------------------

# Firestore: the emulator's channel has no keepalive (the client sets 30 s pings on its production
# channel only), so a connection frozen mid-call would hang each read for its 300 s deadline: the
# connections are delayed, cut and stalled, never frozen (see FAULTS.md).
FIRESTORE_NETWORK = Faults(delay_s=(0.0, 0.05), cut=0.01, stall=0.1, stall_first=1)
TRITON_NETWORK = Faults(delay_s=(0.0, 0.05), cut=0.01, stall=0.1, freeze=0.01, stall_first=1, freeze_first=1)
LOST_ANSWERS = Faults(lose_answer=0.2)


def _step_durations(stack: FaultStack, track_ids: list[str]) -> list[float]:
    lines = [
        line
        for name in STEP_NAMES
        for message in ("step finished", "step failed")
        for line in log_lines(stack.log_path(name), message, track_ids)
    ]
    return [line["duration_s"] for line in lines]


def test_steps_end_and_tracks_finish_when_the_network_to_firestore_and_triton_delays_and_drops(
    stack, cloud, deps, tmp_path
):
    songs = make_songs(tmp_path, 3, first_seed=160)
    references = reference_results(songs, tmp_path / "reference")
    firestore = FaultyProxy(stack.ports.firestore, FIRESTORE_NETWORK, seed=16).start()
    triton = FaultyProxy(stack.ports.triton_grpc, TRITON_NETWORK, seed=61).start()
    env = {"FIRESTORE_EMULATOR_HOST": firestore.address, "TRITON_GRPC_URL": triton.address}
    try:
        with cloud.retry_settings("infer", 100, False), stack.restarted(STEP_NAMES, env):
            uploads, records, recover_s = _upload_and_wait(cloud, songs, timeout_s=600)
    finally:
        firestore.stop()
        triton.stop()
    ids = [u.track_id for u in uploads]
    durations = _step_durations(stack, ids)
    row = fault_row(
        "network between the functions and Firestore and Triton: 0-50 ms a chunk, 1 % of chunks cut "
        "the connection, 10 % of connections never answered; Triton's connections also go silent "
        "mid-call (1 % of chunks)",
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=recover_s,
    )
    row.note = (
        f"TCP proxy: Firestore {_proxy_counts(firestore)}; Triton {_proxy_counts(triton)}; "
        f"{len(durations)} step runs, the longest {max(durations, default=0):.1f} s: every call ended "
        "at its deadline and the next opened a new connection"
    )
    ROWS.append(row)
    assert firestore.counts["stalled"] and triton.counts["stalled"] and triton.counts["frozen"]
    assert (row.done, row.lost, row.duplicated) == (len(uploads), 0, 0)


def _upload_and_wait(cloud: Cloud, paths: list[Path], timeout_s: float) -> tuple[list[Upload], dict, float]:
    """Uploads the files; returns the uploads, their final records and seconds to the last one."""
    started = time.monotonic()
    uploads = [cloud.upload(path) for path in paths]
    records = cloud.wait_final([u.track_id for u in uploads], timeout_s=timeout_s)
    return uploads, records, time.monotonic() - started


def _proxy_counts(proxy: FaultyProxy) -> str:
    wanted = ("connections", "cut", "stalled", "frozen", "answers lost")
    return ", ".join(f"{proxy.counts[k]} {k}" for k in wanted if proxy.counts[k])


DUPLICATE_ROUNDS = 3  # the proxy drops any chunk Pub/Sub sends, not only publish answers: a round may double nothing


def test_consumers_dedupe_on_the_track_when_lost_publish_answers_make_publishers_send_twice(stack, cloud, tmp_path):
    pubsub = FaultyProxy(stack.ports.pubsub, LOST_ANSWERS, seed=17).start()
    songs: list[Path] = []
    uploads: list[Upload] = []
    records: dict = {}
    started, copies = time.monotonic(), 0
    try:
        with stack.restarted(STEP_NAMES, {"PUBSUB_EMULATOR_HOST": pubsub.address}):
            for round_ in range(DUPLICATE_ROUNDS):  # until a lost answer made a publisher send twice
                batch = make_songs(tmp_path, 3, first_seed=170 + 3 * round_)
                batch_uploads, batch_records, _ = _upload_and_wait(cloud, batch, timeout_s=300)
                songs, uploads, records = songs + batch, uploads + batch_uploads, records | batch_records
                copies = _extra_runs(stack, [u.track_id for u in uploads])
                if copies:
                    break
        recover_s = time.monotonic() - started
    finally:
        pubsub.stop()
    ids = [u.track_id for u in uploads]
    references = reference_results(songs, tmp_path / "reference")
    row = fault_row(
        "the functions' publish answers lost (20 % of Pub/Sub's answers dropped with the connection): "
        "the same message published again under a new id",
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=recover_s,
    )
    row.note = (
        f"TCP proxy: {_proxy_counts(pubsub)}; {copies} extra deliveries of features, infer and finalize "
        f"messages; segments scored {sum(segments_scored(stack, ids).values())} of {SEGMENTS * len(ids)}"
    )
    ROWS.append(row)
    assert pubsub.counts["answers lost"] > 0 and copies > 0
    assert (row.done, row.lost, row.duplicated) == (len(uploads), 0, 0)
    assert segments_scored(stack, ids) == dict.fromkeys(ids, SEGMENTS)


def _extra_runs(stack: FaultStack, track_ids: list[str]) -> int:
    """Runs of the features, infer and finalize steps beyond one per track and segment."""
    runs = Counter(
        (name, line["track_id"], line.get("segment_index"))
        for name in STEP_NAMES[1:]
        for line in log_lines(stack.log_path(name), "step finished", track_ids)
    )
    return sum(n - 1 for n in runs.values())


# Row 19 -------------------------------------------------------------------------------------------

SWEEP_EVERY_S = 5.0


def _reconcile_function(stack: FaultStack) -> dict:
    """One pass of the reconcile function, as Cloud Scheduler calls it."""
    request = urllib.request.Request(function_url(stack.ports, "reconcile"), data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_sweep_ingests_every_upload_when_its_notification_went_nowhere(stack, cloud, tmp_path):
    songs = make_songs(tmp_path, 3, seconds=5.0, first_seed=190)
    references = reference_results(songs, tmp_path / "reference")
    project = stack.config.project_id
    topic = cloud.publisher.topic_path(project, topic_name(stack.config.topic_prefix, "ingest"))
    # The notification config points at a topic that is gone: fake GCS's publishes fail.
    cloud.subscriber.delete_subscription(subscription=cloud.subscription_path("ingest"))
    cloud.publisher.delete_topic(topic=topic)
    try:
        uploads = [cloud.upload(path) for path in songs]
        ids = [u.track_id for u in uploads]
        time.sleep(2)
        announced = sum(r is not None for r in cloud.records(ids).values())
    finally:
        provision(stack.config, subscriptions(stack.config, stack.ports), stack.env)  # the topic is back
    started, passes, swept = time.monotonic(), [], 0
    while not _final(records := cloud.records(ids)) and time.monotonic() - started < 240:
        passes.append(_reconcile_function(stack))
        swept += passes[-1]["sweep"]["replayed"]
        time.sleep(SWEEP_EVERY_S)
    row = fault_row(
        "uploads whose notifications went nowhere (the ingest topic deleted and recreated)",
        uploads,
        records,
        expected_results(uploads, songs, references),
        recover_s=time.monotonic() - started,
    )
    row.note = (
        f"announced {announced} of {len(uploads)}; the reconcile function's inventory sweep (uploads older "
        f"than 20 s without a record) sent {swept} to ingest in {len(passes)} passes; "
        f"every function process still running: {not gone_services(stack)}"
    )
    ROWS.append(row)
    assert announced == 0
    assert (row.done, row.lost, row.duplicated) == (len(uploads), 0, 0)
    assert all(done_count(records[t]) == 1 for t in ids)
