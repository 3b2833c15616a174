"""Out-of-order, interleaved and repeated deliveries (fault matrix row 3), as a stateful property
test: Hypothesis draws schedules for the messages of several tracks on the embedded adapters
(SQLite, a folder, the in-process queue; the fast tagger of tests.pipeline_fixtures) and
delivers them through the real step handlers.

A schedule picks any message in flight next (so steps of different tracks and segments
interleave in any order), delivers copies (at-least-once), delivers again messages already
handled (a late redelivery), and nacks a delivery whose publish failed part-way (some of the
step's messages went out, the rest did not). Whatever the schedule: a track's state never goes
back, no track ends DONE twice, and once everything in flight is delivered every track is DONE
with the result an undisturbed run gives, and its work blobs are gone.

FAULTS_SCHEDULES sets how many schedules are drawn (default SCHEDULES_DEFAULT).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.audio_fixtures import music_like, write_audio
from tests.faults.report import ROWS, FaultRow
from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import Message, UploadReceived
from trackscan.domain.results import TrackResult
from trackscan.domain.tracks import TrackState
from trackscan.pipeline.deps import Deps, track_prefix
from trackscan.pipeline.step_policy import run_step
from trackscan.pipeline.steps import track_id_of

pytestmark = pytest.mark.faults
SEGMENT_S = 4.0  # 11, 14 and 17 s tracks: 2, 3 and 4 segments
TRACK_SECONDS = (11.0, 14.0, 17.0)
SCHEDULES_DEFAULT = 25
# Deliveries allowed per message in flight when a schedule ends: one message leads to at most
# 1 + 3 x 4 (an upload: a features, an infer and a finalize per segment) while every step succeeds.
DRAIN_PER_MESSAGE = 20
RANK = {state: rank for rank, state in enumerate(TrackState)}


class PublishFailsAfter:
    """A publisher that accepts the first ``accepted`` messages, then fails, as a publish whose
    server went away mid-step does: what went out stays out, the step raises and is redelivered."""

    def __init__(self, inner: object, accepted: int) -> None:
        self.inner, self.left = inner, accepted

    def publish(self, message: Message) -> None:
        if self.left == 0:
            raise RetryableError("publish failed (injected)")
        self.left -= 1
        self.inner.publish(message)  # type: ignore[attr-defined]


class Totals:
    """What every schedule drawn in this run did, for the FAULTS.md row."""

    schedules = deliveries = copies = late = nacked = tracks = done = lost = duplicated = 0
    failed: Counter[str] = Counter()


class DeliverySchedule(RuleBasedStateMachine):
    """One schedule: the messages in flight, delivered in the order the rules draw."""

    songs: list[Path] = []
    reference: dict[str, TrackResult] = {}

    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="delivery-order-"))
        self.deps: Deps = make_deps(self.home, segment_s=SEGMENT_S)
        uploads = [upload(song) for song in self.songs]
        self.track_ids = [track_id_of(u) for u in uploads]
        self.in_flight: list[Message] = list(uploads)
        self.handled: list[Message] = []
        self.seen_rank = dict.fromkeys(self.track_ids, -1)
        Totals.schedules += 1

    def _deliver(self, message: Message, deps: Deps | None = None) -> None:
        Totals.deliveries += 1
        try:
            run_step(message, deps or self.deps)
        except RetryableError:
            self.in_flight.append(message)  # nacked: the transport delivers it again later
            Totals.nacked += 1
        else:
            self.handled.append(message)
        self.in_flight += self.deps.publisher.drain()  # type: ignore[attr-defined]

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def deliver_any(self, data: st.DataObject) -> None:
        """Any message in flight is next: steps of every track and segment interleave."""
        self._deliver(self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1))))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def copy_in_flight(self, data: st.DataObject) -> None:
        """The transport delivers a message more than once."""
        self.in_flight.append(data.draw(st.sampled_from(self.in_flight)))
        Totals.copies += 1

    @precondition(lambda self: self.handled)
    @rule(data=st.data())
    def redeliver_handled(self, data: st.DataObject) -> None:
        """A message already handled and acknowledged comes again, possibly after later steps."""
        self.in_flight.append(data.draw(st.sampled_from(self.handled)))
        Totals.late += 1

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), accepted=st.integers(0, 3))
    def publish_fails_part_way(self, data: st.DataObject, accepted: int) -> None:
        """The step's publish fails after ``accepted`` messages went out; the message is nacked."""
        message = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self._deliver(message, replace(self.deps, publisher=PublishFailsAfter(self.deps.publisher, accepted)))

    @invariant()
    def states_only_move_forward(self) -> None:
        for track_id in self.track_ids:
            record = self.deps.tracks.get(track_id)
            if record is None:
                continue
            assert RANK[record.state] >= self.seen_rank[track_id], f"{track_id} went back to {record.state}"
            assert record.state is not TrackState.FAILED, record.error
            assert [e.state for e in record.timeline].count("DONE") <= 1
            self.seen_rank[track_id] = RANK[record.state]

    def teardown(self) -> None:
        try:
            # The transport keeps delivering until nothing is left; a message nacked for ever
            # (a step that cannot succeed) would keep this going, so the drain is bounded.
            limit = DRAIN_PER_MESSAGE * len(self.in_flight)
            for _ in range(limit):
                if not self.in_flight:
                    break
                self._deliver(self.in_flight.pop(0))
            assert not self.in_flight, f"{len(self.in_flight)} messages still in flight after {limit} deliveries"
            self.states_only_move_forward()
            self._check_outcome()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def _check_outcome(self) -> None:
        records = {t: self.deps.tracks.get(t) for t in self.track_ids}
        Totals.tracks += len(records)
        Totals.lost += sum(r is None or not r.state.is_final for r in records.values())
        Totals.failed.update(r.error.code for r in records.values() if r and r.error)
        done = {t: r for t, r in records.items() if r and r.state is TrackState.DONE}
        Totals.done += len(done)
        doubled = {
            t
            for t, r in done.items()
            if [e.state for e in r.timeline].count("DONE") != 1 or r.result != self.reference[t]
        }
        Totals.duplicated += len(doubled)
        assert len(done) == len(self.track_ids) and not doubled
        assert all(not self.deps.blobs.list_uris(track_prefix(self.deps, t)) for t in self.track_ids)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("songs")
    return [
        write_audio(
            folder / f"song{i}.wav",
            music_like(seconds) + np.random.default_rng(i).normal(0, 0.01, int(seconds * 44_100)).astype(np.float32),
        )
        for i, seconds in enumerate(TRACK_SECONDS)
    ]


def _undisturbed(songs: list[Path], home: Path) -> dict[str, TrackResult]:
    deps = make_deps(home, segment_s=SEGMENT_S)
    events: list[UploadReceived] = [upload(song) for song in songs]
    run_to_completion(deps, *events)
    results = {track_id_of(e): deps.tracks.get(track_id_of(e)).result for e in events}  # type: ignore[union-attr]
    assert all(results.values())
    return results  # type: ignore[return-value]


def test_pipeline_finishes_every_track_once_when_deliveries_come_in_any_order_and_repeat(songs, tmp_path):
    DeliverySchedule.songs = songs
    DeliverySchedule.reference = _undisturbed(songs, tmp_path / "reference")
    schedules = int(os.environ.get("FAULTS_SCHEDULES", SCHEDULES_DEFAULT))
    run_state_machine_as_test(
        DeliverySchedule,
        settings=settings(
            max_examples=schedules,
            stateful_step_count=60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    row = FaultRow(
        f"{Totals.schedules} random delivery schedules of 3 tracks (2-4 segments each): any order, "
        "interleaved, copies, late redeliveries, publish failing part-way",
        "embedded",
        Totals.tracks,
        done=Totals.done,
        failed=dict(Totals.failed),
        lost=Totals.lost,
        duplicated=Totals.duplicated,
    )
    row.note = (
        f"Hypothesis stateful test; {Totals.deliveries} deliveries, {Totals.copies} copies, "
        f"{Totals.late} late redeliveries of handled messages, {Totals.nacked} nacked after a partial "
        "publish; state never went back; results equal an undisturbed run's"
    )
    ROWS.append(row)
    assert (Totals.lost, Totals.duplicated, sum(Totals.failed.values())) == (0, 0, 0)
