"""Faults injected into the embedded default (`trackscan run`): stop, kill, duplicates, poison,
a step that keeps failing. Every track must end DONE or FAILED with a reason; none lost, none
with two results, no segment scored twice."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import bytes_file, music_like, pdf_named, tone, truncated_copy, write_audio
from tests.faults.conftest import SIGKILL, SIGTERM, CliRun, wait_exit
from tests.faults.report import ROWS, FaultRow
from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from tests.processes import session_members, wait_until_gone
from trackscan.cli.files import upload_event
from trackscan.cli.output import track_json
from trackscan.domain.config import Config
from trackscan.domain.messages import FeaturesReady, Message, TrackInferred, UploadReceived
from trackscan.pipeline.deps import Deps, track_prefix
from trackscan.pipeline.step_policy import run_step
from trackscan.pipeline.steps import track_id_of
from trackscan.runtimes.bootstrap import local_deps

pytestmark = pytest.mark.faults
# The module's own segment length, not the default: a stop then lands between segments of a track.
SEGMENT_S = "60"
SEGMENTS_PER_TRACK = 3  # 130 s at 60 s segments: 60 + 60 + 10


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("library")
    rng = np.random.default_rng(7)
    paths = []
    for i in range(4):
        # Different audio per track (a different noise floor), so results are told apart.
        audio = music_like(130.0) + rng.normal(0, 0.01 * (i + 1), int(130.0 * 44_100)).astype(np.float32)
        paths.append(write_audio(folder / f"track{i}.flac", audio))
    return paths


@pytest.fixture(scope="module")
def reference(library, tmp_path_factory) -> dict[str, dict]:
    """Results of an undisturbed run: what every faulted run must end with."""
    run = CliRun(library, tmp_path_factory.mktemp("reference") / ".trackscan", TRACKSCAN_SEGMENT_S=SEGMENT_S)
    assert run.finish() == 0
    return {r["source"]: r for r in run.lines}


def _check_outcome(records: list[dict], reference: dict[str, dict], row: FaultRow) -> None:
    latest = {r["source"]: r for r in records}
    row.done = sum(r["state"] == "DONE" for r in latest.values())
    row.failed = dict(Counter(r["error"]["code"] for r in latest.values() if r["state"] == "FAILED"))
    row.lost = row.submitted - len(latest)
    row.duplicated = sum(_differs(latest[s], reference[s]) for s in latest if s in reference)


def _differs(record: dict, expected: dict) -> bool:
    mtt, reference_mtt = record["tags"]["mtt"], expected["tags"]["mtt"]
    return record["state"] != expected["state"] or max(abs(mtt[t] - reference_mtt[t]) for t in mtt) > 1e-6


@pytest.mark.parametrize(("signum", "name"), [(SIGTERM, "SIGTERM"), (SIGKILL, "SIGKILL")])
def test_run_loses_nothing_when_stopped_mid_run_and_rerun(library, reference, tmp_path, signum, name):
    home = tmp_path / ".trackscan"
    first = CliRun(library, home, TRACKSCAN_SEGMENT_S=SEGMENT_S)
    first.next_record()  # one track done, the others mid-flight
    first.signal_group(signum) if signum == SIGKILL else first.process.send_signal(signum)
    drain_s = wait_exit(first, timeout_s=60)
    if signum == SIGTERM:
        assert first.process.returncode == 3
    started = time.monotonic()
    rerun = CliRun(library, home, TRACKSCAN_SEGMENT_S=SEGMENT_S)
    assert rerun.finish() == 0
    row = FaultRow(
        f"{name} to `trackscan run` after the first track",
        "embedded",
        len(library),
        recover_s=time.monotonic() - started,
        note=f"exit {drain_s:.1f} s after the signal; rerun resumes",
    )
    _check_outcome(rerun.lines, reference, row)
    scored = first.log_count("predictions written") + rerun.log_count("predictions written")
    row.note += f"; segments scored {scored} of {SEGMENTS_PER_TRACK * len(library)}"
    ROWS.append(row)
    assert (row.done, row.lost, row.duplicated) == (len(library), 0, 0)
    assert scored == SEGMENTS_PER_TRACK * len(library)  # no segment scored twice


ORPHAN_LIMIT_S = 5.0  # the bound: nothing of a killed run outlives it by more


def test_run_leaves_no_process_behind_and_loses_nothing_when_the_parent_alone_is_killed(library, reference, tmp_path):
    # SIGKILL to the parent alone, as the OOM killer or `kill -9 PID` does: its workers and their
    # decoder children must not live on, reparented, holding memory and cores.
    home = tmp_path / ".trackscan"
    first = CliRun(library, home, TRACKSCAN_SEGMENT_S=SEGMENT_S)
    first.next_record()  # one track done, the others mid-flight in both workers
    before = session_members(first.process.pid)
    first.process.kill()
    killed_at = time.monotonic()
    first.process.wait(timeout=10)
    left = wait_until_gone(first.process.pid, ORPHAN_LIMIT_S)
    gone_s = time.monotonic() - killed_at
    started = time.monotonic()
    rerun = CliRun(library, home, TRACKSCAN_SEGMENT_S=SEGMENT_S)
    assert rerun.finish() == 0
    row = FaultRow(
        "SIGKILL to the parent of `trackscan run` alone, mid-run",
        "embedded",
        len(library),
        recover_s=time.monotonic() - started,
        note=f"{len(before)} processes before the kill (parent, workers, decoders); {len(left)} left "
        f"{gone_s:.1f} s after it; rerun resumes",
    )
    _check_outcome(rerun.lines, reference, row)
    ROWS.append(row)
    assert len(before) >= 3 and left == []
    assert (row.done, row.lost, row.duplicated) == (len(library), 0, 0)


def test_run_retries_the_step_and_finishes_when_one_worker_gets_sigterm(library, reference, tmp_path):
    run = CliRun(library, tmp_path / ".trackscan", TRACKSCAN_SEGMENT_S=SEGMENT_S)
    workers = _busy_workers(run.process.pid, timeout_s=60)
    os.kill(workers[0], SIGTERM)  # it finishes the step in hand, then ends; the run goes on without it
    deadline = time.monotonic() + 30
    while workers[0] in session_members(run.process.pid) and run.process.poll() is None:
        assert time.monotonic() < deadline, "the worker did not end within 30 s of SIGTERM"
        time.sleep(0.1)
    ended_first = run.process.poll() is None  # the worker ended before the run did
    assert run.finish() == 0
    restarts = run.log_count("a worker process died; restarting the pool")
    row = FaultRow(
        "SIGTERM to one worker of `trackscan run`, mid-run",
        "embedded",
        len(library),
        note=f"the worker ended after its step; the pool restarted {restarts} time(s) and retried the "
        f"steps in flight ({run.log_count('step will be retried')} retries)",
    )
    _check_outcome(run.lines, reference, row)
    ROWS.append(row)
    assert ended_first and restarts >= 1
    assert (row.done, row.lost, row.duplicated) == (len(library), 0, 0)


def _busy_workers(parent: int, timeout_s: float) -> list[int]:
    """The run's worker processes (its children started by multiprocessing's spawn), once both
    have started a decoder child, that is, once both have steps in hand."""

    def cmdline(pid: int) -> bytes:
        return Path(f"/proc/{pid}/cmdline").read_bytes()

    def parent_of(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            members = session_members(parent)
            workers = [p for p in members if parent_of(p) == parent and b"spawn_main" in cmdline(p)]
            if len(workers) == 2 and all(any(parent_of(p) == w for p in members) for w in workers):
                return workers
        time.sleep(0.1)
    raise AssertionError(f"the run's two workers did not start decoding within {timeout_s} s")


def test_pipeline_records_one_result_when_every_message_is_delivered_five_times(library, reference, tmp_path):
    """Each upload event 5 times, then every message the steps emitted delivered again, all
    through the real handlers, model and decoder of the embedded default."""
    home = str(tmp_path / ".trackscan")
    deps = local_deps(Config.from_env({"TRACKSCAN_HOME": home, "TRACKSCAN_SEGMENT_S": SEGMENT_S}))
    events = [upload_event(path) for path in library]
    handled = run_to_completion(deps, *(events * 5))
    run_to_completion(deps, *[m for m in handled if not isinstance(m, UploadReceived)])
    records = [track_json(deps.tracks.get(track_id_of(e))) for e in events]
    row = FaultRow(
        "every upload delivered 5 times, then every step message again",
        "embedded",
        len(library),
        note=f"{len(handled)} deliveries handled in process",
    )
    _check_outcome(records, reference, row)
    row.duplicated += sum(
        [e.state for e in deps.tracks.get(track_id_of(ev)).timeline].count("DONE") != 1 for ev in events
    )
    ROWS.append(row)
    assert (row.done, row.lost, row.duplicated) == (len(library), 0, 0)


@pytest.fixture(scope="module")
def poison(tmp_path_factory) -> dict[Path, str]:
    folder = tmp_path_factory.mktemp("poison")
    whole = write_audio(folder / "whole.mp3", music_like(30.0))
    garbled = bytearray(whole.read_bytes())
    garbled[len(garbled) // 3 : len(garbled) // 3 + 4096] = np.random.default_rng(3).bytes(4096)
    cases = {
        truncated_copy(whole, folder / "truncated.mp3", 0.4): "TRUNCATED",
        bytes_file(folder / "garbled.mp3", bytes(garbled)): "CORRUPT",
        bytes_file(folder / "zero.wav", b""): "EMPTY",
        pdf_named(folder / "report.mp3"): "UNSUPPORTED",
        bytes_file(folder / "noise.ogg", np.random.default_rng(4).bytes(20_000)): "CORRUPT",
        write_audio(folder / "overlong.flac", np.zeros(44_100 * 160, np.float32)): "TOO_LONG",
        write_audio(folder / "hum.wav", tone(50, 2.0, 1_000), 1_000): "BAD_FORMAT",
        write_audio(folder / "ultrasonic.wav", tone(440, 1.0, 384_000), 384_000): "BAD_FORMAT",
        write_audio(folder / "many.wav", np.zeros((44_100, 16), np.float32)): "BAD_FORMAT",
        # The decoder process dies on this file (a failpoint stands in for a crashing codec).
        write_audio(folder / "crashme.flac", music_like(5.0)): "DECODER_CRASHED",
    }
    whole.unlink()
    return cases


def test_run_fails_each_poison_file_with_its_code_when_mixed_with_good_ones(library, poison, tmp_path):
    started = time.monotonic()
    run = CliRun(
        [*library[:2], *poison],
        tmp_path / ".trackscan",
        TRACKSCAN_MAX_DURATION_S="150",
        TRACKSCAN_SEGMENT_S=SEGMENT_S,
        TRACKSCAN_FAILPOINTS="decode@crashme=crash",
    )
    assert run.finish() == 1  # some tracks FAILED
    latest = {Path(r["source"]).name: r for r in run.lines}
    row = FaultRow(
        "poison files (truncated, garbled, empty, PDF, noise, overlong, 1 kHz, 384 kHz, "
        "16 channels, decoder crash) beside 2 good tracks",
        "embedded",
        2 + len(poison),
        recover_s=time.monotonic() - started,
        note="one run; the good tracks finish",
    )
    row.done = sum(r["state"] == "DONE" for r in latest.values())
    row.failed = dict(Counter(r["error"]["code"] for r in latest.values() if r["error"]))
    row.lost = row.submitted - len(latest)
    ROWS.append(row)
    assert {name: latest[name]["error"]["code"] for name in (p.name for p in poison)} == {
        p.name: code for p, code in poison.items()
    }
    assert row.done == 2 and row.lost == 0


def test_run_ends_retries_exhausted_when_a_step_keeps_failing(library, tmp_path):
    started = time.monotonic()
    run = CliRun(
        library[:1], tmp_path / ".trackscan", TRACKSCAN_FAILPOINTS="infer=error", TRACKSCAN_SEGMENT_S=SEGMENT_S
    )
    assert run.finish() == 1  # the track FAILED
    (record,) = run.lines
    ROWS.append(
        FaultRow(
            "the infer step fails every time",
            "embedded",
            1,
            failed={"RETRIES_EXHAUSTED": 1},
            recover_s=time.monotonic() - started,
            note="5 attempts with backoff, then dead letter",
        )
    )
    assert record["state"] == "FAILED"
    assert record["error"]["code"] == "RETRIES_EXHAUSTED"
    assert "failpoint infer" in record["error"]["message"]


def _run_holding(deps: Deps, messages: list[Message], held_kind: type) -> list[Message]:
    """Delivers the messages and what they emit, in order, except messages of held_kind: those
    are returned undelivered, as if still waiting in their subscription."""
    held, queue = [], list(messages)
    while queue:
        message = queue.pop(0)
        if isinstance(message, held_kind):
            held.append(message)
            continue
        run_step(message, deps)
        queue += deps.publisher.drain()
    return held


def test_steps_rederive_work_blobs_when_the_lifecycle_rule_deleted_them_before_the_next_step(tmp_path):
    """Fault matrix row 18: an intermediate blob expires while the message that needs it waits."""
    rng = np.random.default_rng(18)
    songs = [
        write_audio(
            tmp_path / f"song{i}.wav", music_like(14.0) + rng.normal(0, 0.01 * (i + 1), 14 * 44_100).astype(np.float32)
        )
        for i in range(3)
    ]
    reference = make_deps(tmp_path / "reference", segment_s=4.0)
    run_to_completion(reference, *[upload(song) for song in songs])
    deps = make_deps(tmp_path / "home", segment_s=4.0)
    features_gone, all_gone, source_gone = (upload(song) for song in songs)
    ids = [track_id_of(e) for e in (features_gone, all_gone, source_gone)]
    waiting = _run_holding(deps, [features_gone], FeaturesReady)  # every features blob written, none inferred
    deps.blobs.delete_prefix(f"{track_prefix(deps, ids[0])}features/")
    waiting += _run_holding(deps, [all_gone, source_gone], TrackInferred)  # all predicted, none finalized
    deps.blobs.delete_prefix(track_prefix(deps, ids[1]))
    deps.blobs.delete_prefix(track_prefix(deps, ids[2]))
    songs[2].unlink()  # the upload itself deleted too: nothing to re-derive from
    handled = run_to_completion(deps, *waiting)
    records = [deps.tracks.get(t) for t in ids]
    replays = Counter(track_id_of(m) for m in handled if isinstance(m, UploadReceived))
    row = FaultRow(
        "work blobs deleted (lifecycle) while their next message waits: the features before infer; "
        "all before finalize; all and the upload before finalize",
        "embedded",
        len(ids),
    )
    row.done = sum(r.state == "DONE" for r in records)
    row.failed = dict(Counter(r.error.code for r in records if r.state == "FAILED"))
    row.lost = sum(not r.state.is_final for r in records)
    expected = {t: reference.tracks.get(t).result for t in ids[:2]}
    row.duplicated = sum(
        [e.state for e in r.timeline].count("DONE") > 1 or r.result != expected[r.track_id] for r in records[:2]
    )
    row.note = (
        f"the step finding its input gone replays the upload and ingest re-derives what is missing "
        f"(replays per track: {[replays[t] for t in ids]}); without a source: SOURCE_GONE"
    )
    ROWS.append(row)
    assert [r.state for r in records] == ["DONE", "DONE", "FAILED"]
    assert records[2].error.code == "SOURCE_GONE"
    assert row.duplicated == 0
    assert all(not deps.blobs.list_uris(track_prefix(deps, t)) for t in ids)
