"""TrackRecords: each track's record and its moves, on every store."""

from __future__ import annotations

import dataclasses
import threading

from tests.contracts.conftest import StoreFactory, record_of, result_of
from trackscan.domain.errors import RetryableError
from trackscan.domain.ports import TrackStore
from trackscan.domain.tracks import ErrorInfo, FailedAttempt, TrackRecord, TrackState
from trackscan.domain.transitions import Transition

RACERS = 8


def test_create_if_absent_returns_the_stored_record_when_created_twice(store: TrackStore):
    first = store.create_if_absent(record_of("a.ogg", partner="p"))
    store.apply(first.track_id, Transition(TrackState.EXTRACTING, "ingest", segments_total=3))
    again = store.create_if_absent(dataclasses.replace(first, partner="someone-else"))
    assert again.track_id == first.track_id
    assert (again.partner, again.state, again.segments_total) == ("p", TrackState.EXTRACTING, 3)
    assert store.get(first.track_id) == again
    assert store.get("t-unknown") is None


def test_apply_moves_forward_only_when_transitions_repeat_or_go_back(store: TrackStore):
    record = store.create_if_absent(record_of("a.ogg"))
    assert store.apply(record.track_id, Transition(TrackState.EXTRACTING, "ingest")) is not None
    assert store.apply(record.track_id, Transition(TrackState.EXTRACTING, "ingest", attempt=2)) is None
    assert store.apply(record.track_id, Transition(TrackState.INFERRING, "infer")) is not None
    assert store.apply(record.track_id, Transition(TrackState.EXTRACTING, "features")) is None
    stored = store.get(record.track_id)
    assert stored is not None and stored.state is TrackState.INFERRING
    assert [e.state for e in stored.timeline] == ["RECEIVED", "EXTRACTING", "INFERRING"]
    assert store.apply("t-unknown", Transition(TrackState.EXTRACTING, "ingest")) is None


def test_apply_keeps_done_when_failed_arrives_after(store: TrackStore):
    record = store.create_if_absent(record_of("a.ogg"))
    finished = store.apply(record.track_id, Transition(TrackState.DONE, "finalize", result=result_of()))
    assert finished is not None
    late = Transition(TrackState.FAILED, "dead-letter", error=ErrorInfo("RETRIES_EXHAUSTED", "late", "infer"))
    assert store.apply(record.track_id, late) is None
    assert store.get(record.track_id) == finished
    assert finished.error is None and finished.result == result_of()


def test_apply_takes_a_restart_back_to_received_from_a_final_state(store: TrackStore):
    record = store.create_if_absent(record_of("a.ogg"))
    store.apply(record.track_id, Transition(TrackState.FAILED, "ingest", error=ErrorInfo("CORRUPT", "bad", "ingest")))
    restarted = store.apply(record.track_id, Transition(TrackState.RECEIVED, "force", restart=True))
    assert restarted is not None and restarted.state is TrackState.RECEIVED and restarted.error is None
    assert store.get(record.track_id) == restarted


def test_record_failed_attempt_keeps_the_state_and_updated_at(store: TrackStore):
    record = store.create_if_absent(record_of("a.ogg", updated_s=7, state=TrackState.EXTRACTING))
    attempt = FailedAttempt("features", 2, "RetryableError: decoder timed out", "2026-01-01T00:01:00.000+00:00", 1)
    store.record_failed_attempt(record.track_id, attempt)
    stored = store.get(record.track_id)
    assert stored is not None and stored.last_failed_attempt == attempt
    assert (stored.state, stored.updated_at) == (record.state, record.updated_at)
    store.record_failed_attempt("t-unknown", attempt)  # nothing to keep it on: no record appears
    assert store.get("t-unknown") is None


def test_known_says_which_ids_have_a_record(store: TrackStore):
    ids = {store.create_if_absent(record_of(f"{i}.ogg")).track_id for i in range(3)}
    assert store.known(ids | {"t-unknown-1", "t-unknown-2"}) == ids
    assert store.known(set()) == set()


def test_apply_lets_exactly_one_writer_win_when_eight_race(new_store: StoreFactory):
    stores = [new_store() for _ in range(RACERS)]  # a connection or client each, as processes have
    record = stores[0].create_if_absent(record_of("raced.ogg"))
    barrier = threading.Barrier(RACERS)
    outcomes: list[object] = [None] * RACERS

    def race(index: int) -> None:
        barrier.wait()
        try:
            transition = Transition(TrackState.EXTRACTING, "ingest", attempt=index + 1)
            outcomes[index] = stores[index].apply(record.track_id, transition)
        except Exception as exc:  # noqa: BLE001 - the test sorts every outcome below
            outcomes[index] = exc

    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    winners = [o for o in outcomes if isinstance(o, TrackRecord)]
    unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, RetryableError)]
    assert not unexpected and len(winners) == 1, outcomes
    stored = stores[0].get(record.track_id)
    assert stored is not None
    assert [e.state for e in stored.timeline] == ["RECEIVED", "EXTRACTING"]
    assert stored.timeline[-1].attempt == winners[0].timeline[-1].attempt
