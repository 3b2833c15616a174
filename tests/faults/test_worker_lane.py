"""The worker lane on the emulators: `trackscan worker --step ingest` tags whole tracks with the
model in process (TRACKSCAN_WHOLE_TRACK_MAX_S, TRACKSCAN_TAGGER=in-process), and keeps the
promises of the segment chain: the embedded run's tags, one result, nothing left behind."""

from __future__ import annotations

import contextlib
import subprocess
import time

import pytest

from tests.audio_fixtures import music_like, pdf_named, truncated_copy, write_audio
from tests.faults.emulator_stack import Cloud, FaultStack
from tests.faults.gcs_counter import CountingProxy
from tests.faults.outcomes import expected_results, fault_row, make_songs, reference_results
from tests.faults.pull_workers import PulledStep, Tail, wait_or_replay
from tests.faults.report import ROWS
from tests.processes import wait_until_gone
from trackscan.costs import lanes
from trackscan.costs.lanes import workers_ops
from trackscan.costs.model import load_inputs
from trackscan.dev import layout

# The worker lane's settings (as `trackscan dev up --lane workers` gives them); the reference
# runs onnxruntime fp32 in process, and so does the lane here.
WORKER_LANE_ENV = {**layout.WORKER_LANE_ENV, "TRACKSCAN_MODEL_VARIANT": "onnxruntime-fp32"}
ORPHAN_LIMIT_S = 5.0


def _timeline(record: dict) -> list[str]:
    return [event["state"] for event in record["timeline"]]


def test_worker_lane_gives_the_embedded_run_s_tags_with_no_work_blobs_and_no_segment_messages(
    stack: FaultStack, cloud: Cloud, tmp_path
):
    songs = make_songs(tmp_path, 2, first_seed=70)
    references = reference_results(songs, tmp_path / "reference")
    features_log = Tail(stack.log_path("features"))
    with PulledStep(stack, cloud, "ingest", tmp_path) as step:
        worker = step.worker("worker1", env=WORKER_LANE_ENV)
        uploads = [cloud.upload(song) for song in songs]
        ids = [u.track_id for u in uploads]
        records = cloud.wait_final(ids, timeout_s=180)
        units = worker.wait_for("step finished", ids, count=2)
    features_log.close()
    row = fault_row(
        "Worker lane (whole-track workers, model in process): 2 uploads, no fault",
        uploads,
        records,
        expected_results(uploads, songs, references),
    )
    longest_s = max(line["duration_s"] for _, line in units)
    row.note = f"one unit per track, the longest {longest_s:.1f} s; tags identical to the embedded run's"
    ROWS.append(row)
    for upload, song in zip(uploads, songs, strict=True):
        record = records[upload.track_id]
        assert record is not None and record["state"] == "DONE"
        assert record["result"]["tags"] == references[song].tags, "the lane's tags differ from the embedded run's"
        assert _timeline(record) == ["RECEIVED", "DONE"]
    assert {line["step"] for _, line in units} == {"ingest"}
    assert features_log.matching("step finished", ids) == [], "a segment went through the chain"
    assert cloud.work_blobs(ids) == 0


def test_worker_lane_redoes_a_track_once_when_its_worker_dies_before_the_commit(
    stack: FaultStack, cloud: Cloud, deps, tmp_path
):
    (song,) = make_songs(tmp_path, 1, first_seed=72)
    references = reference_results([song], tmp_path / "reference")
    with PulledStep(stack, cloud, "ingest", tmp_path) as step:
        victim = step.worker("worker1", failpoints="whole_track=crash", env=WORKER_LANE_ENV)
        upload = cloud.upload(song)
        victim.process.wait(timeout=120)  # the crash: tags computed, nothing committed
        killed_at = time.monotonic()
        left = wait_until_gone(victim.process.pid, ORPHAN_LIMIT_S)
        replacement = step.worker("worker2", env=WORKER_LANE_ENV)
        records, replayed = wait_or_replay(step, cloud, deps, [upload.track_id])
        recover_s = time.monotonic() - killed_at
    row = fault_row(
        "Worker lane: the worker dies mid-track (computed, not committed)",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=recover_s,
    )
    redone = replacement.tail.matching("step finished", [upload.track_id])
    row.note = f"exit code {victim.process.returncode}; {len(left)} processes left; redone by " + (
        f"reconcile ({replayed} replayed)" if replayed else f"redelivery to the next worker ({len(redone)} unit)"
    )
    ROWS.append(row)
    assert victim.process.returncode == 137 and left == []
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)
    if not replayed:  # a message the emulator stranded goes back to the (chain) function instead
        assert _timeline(records[upload.track_id]) == ["RECEIVED", "DONE"]


def test_worker_lane_finishes_the_track_in_hand_and_exits_when_sigterm(stack: FaultStack, cloud: Cloud, tmp_path):
    (song,) = make_songs(tmp_path, 1, first_seed=74)
    references = reference_results([song], tmp_path / "reference")
    with PulledStep(stack, cloud, "ingest", tmp_path) as step:
        # The unit holds still for 4 s before its commit, so the signal surely lands mid-track.
        worker = step.worker("worker1", failpoints="whole_track=sleep4", env=WORKER_LANE_ENV)
        upload = cloud.upload(song)
        deadline = time.monotonic() + 120
        while cloud.records([upload.track_id])[upload.track_id] is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the record exists once ingest has the message in hand
        signalled_at = worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=30)
        drain_s = time.monotonic() - signalled_at
        left = wait_until_gone(worker.process.pid, ORPHAN_LIMIT_S)
        records = cloud.wait_final([upload.track_id], timeout_s=30)
    row = fault_row(
        "Worker lane: SIGTERM mid-track", [upload], records, {upload.track_id: references[song]}, recover_s=drain_s
    )
    row.note = f"exit code {worker.process.returncode} {drain_s:.1f} s after the signal, the track in hand committed"
    ROWS.append(row)
    assert left == [], "the decoder child outlived its worker"
    assert worker.process.returncode == 0 and drain_s < 15, f"exit after {drain_s:.1f} s"  # GKE's spot notice
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)


def test_worker_lane_keeps_one_result_when_a_notification_comes_five_times(stack: FaultStack, cloud: Cloud, tmp_path):
    (song,) = make_songs(tmp_path, 1, first_seed=76)
    references = reference_results([song], tmp_path / "reference")
    started = time.monotonic()
    with PulledStep(stack, cloud, "ingest", tmp_path) as step:
        worker = step.worker("worker1", env=WORKER_LANE_ENV)
        upload = cloud.upload(song)
        for _ in range(4):  # while the track is tagged, and after
            cloud.publish_finalize(upload)
            time.sleep(1.0)
        records = cloud.wait_final([upload.track_id], timeout_s=120)
        units = worker.wait_for("step finished", [upload.track_id], count=5)
    row = fault_row(
        "Worker lane: the same OBJECT_FINALIZE 5x over 4 s",
        [upload],
        records,
        {upload.track_id: references[song]},
        recover_s=time.monotonic() - started,
    )
    row.note = f"{len(units)} ingest runs for the track, one DONE"
    ROWS.append(row)
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0)
    assert _timeline(records[upload.track_id]) == ["RECEIVED", "DONE"]


def test_worker_lane_fails_poison_files_with_their_codes_and_keeps_working(stack: FaultStack, cloud: Cloud, tmp_path):
    whole = write_audio(tmp_path / "whole.mp3", music_like(30.0))
    poison = {
        pdf_named(tmp_path / "report.mp3"): "UNSUPPORTED",
        truncated_copy(whole, tmp_path / "truncated.mp3", 0.4): "TRUNCATED",
        # The stack runs with TRACKSCAN_FAILPOINTS=decode@crashme=crash: the decoder child dies.
        write_audio(tmp_path / "crashme.flac", music_like(5.0)): "DECODER_CRASHED",
    }
    good = make_songs(tmp_path, 1, first_seed=78)
    references = reference_results(good, tmp_path / "reference")
    started = time.monotonic()
    with PulledStep(stack, cloud, "ingest", tmp_path) as step:
        worker = step.worker("worker1", failpoints="decode@crashme=crash", env=WORKER_LANE_ENV)
        uploads = [cloud.upload(path) for path in [*poison, *good]]
        records = cloud.wait_final([u.track_id for u in uploads], timeout_s=180)
        alive = worker.alive()
    row = fault_row(
        "Worker lane: poison files (PDF named .mp3, truncated MP3, decoder crash) beside a good track",
        uploads,
        records,
        expected_results(uploads[len(poison) :], good, references),
        recover_s=time.monotonic() - started,
    )
    row.note = f"the worker still running: {alive}"
    ROWS.append(row)
    failed = zip(uploads[: len(poison)], poison, strict=True)
    codes = {path.name: (records[u.track_id] or {}).get("error", {}).get("code") for u, path in failed}
    assert codes == {path.name: code for path, code in poison.items()}
    assert (row.done, row.lost, row.duplicated) == (1, 0, 0) and alive


def test_worker_lane_makes_the_cloud_storage_calls_the_cost_model_prices(stack: FaultStack, cloud: Cloud, tmp_path):
    first, song = make_songs(tmp_path, 2, first_seed=80)
    counter = CountingProxy(stack.ports.storage)
    try:
        with PulledStep(stack, cloud, "ingest", tmp_path) as step:
            step.worker("worker1", env={**WORKER_LANE_ENV, "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{counter.port}"})
            warm = cloud.upload(first)  # the worker's first track: its clients' start (bucket reads) is not per track
            cloud.wait_final([warm.track_id], timeout_s=120)
            start = len(counter.requests)
            upload = cloud.upload(song)  # the partner's upload: straight to fake GCS, not counted here
            records = cloud.wait_final([upload.track_id], timeout_s=120)
        counted = counter.counts(since=start, besides=(warm.track_id, warm.name))
    finally:
        counter.close()
    assert records[upload.track_id]["state"] == "DONE"
    # The cost model's Class A includes the partner's upload, which the worker does not make.
    priced = lanes.load_lanes()["counted"]["workers"]
    assert {"gcs_class_a": counted["A"] + 1, "gcs_class_b": counted["B"]} == priced, counter.requests[start:]
    assert priced == {k: workers_ops()[k] for k in priced}, "the count and the code's reading of it differ"


def test_cloud_run_lane_makes_the_cloud_storage_calls_the_cost_model_prices(stack: FaultStack, cloud: Cloud, tmp_path):
    """The same count for the segment chain (the functions), at the production segment length."""
    first, song = make_songs(tmp_path, 2, seconds=240.0, first_seed=82)
    counter = CountingProxy(stack.ports.storage)
    segment_s = f"{load_inputs().segment_s:g}"  # Terraform's default (tests/infra holds the two together)
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{counter.port}", "TRACKSCAN_SEGMENT_S": segment_s}
    try:
        with stack.restarted(["ingest", "features", "infer", "finalize"], env):
            warm = cloud.upload(first)  # warm instances, as a busy service's are
            cloud.wait_final([warm.track_id], timeout_s=300)
            start = len(counter.requests)
            upload = cloud.upload(song)
            records = cloud.wait_final([upload.track_id], timeout_s=300)
        # Not the warm track's calls: its clean-up (the deletes) may land after its DONE.
        counted = counter.counts(since=start, besides=(warm.track_id, warm.name))
    finally:
        counter.close()
    assert records[upload.track_id]["state"] == "DONE"
    assert song.stat().st_size == pytest.approx(17e6, rel=0.05), "the count is of a 17 MB FLAC (lanes.toml)"
    priced = lanes.load_lanes()["counted"]["cloud-run"]
    assert {"gcs_class_a": counted["A"] + 1, "gcs_class_b": counted["B"]} == priced, counter.requests[start:]
