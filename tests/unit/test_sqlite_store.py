import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.domain.tracks import ErrorInfo, TrackState, new_record
from trackscan.domain.transitions import Transition


@pytest.fixture
def store(tmp_path):
    return SqliteTrackStore(str(tmp_path / "state.sqlite"))


def test_create_if_absent_keeps_the_first_record_when_called_twice(store):
    first = store.create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    store.apply(first.track_id, Transition(TrackState.EXTRACTING, "ingest", segments_total=3))
    again = store.create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    assert again.state is TrackState.EXTRACTING
    assert again.segments_total == 3


def test_apply_refuses_to_move_backwards_when_a_late_message_arrives(store):
    record = store.create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    store.apply(record.track_id, Transition(TrackState.INFERRING, "infer"))
    assert store.apply(record.track_id, Transition(TrackState.EXTRACTING, "ingest")) is None
    assert store.get(record.track_id).state is TrackState.INFERRING


def test_apply_keeps_done_when_a_failure_arrives_after_it(store):
    record = store.create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    store.apply(record.track_id, Transition(TrackState.DONE, "finalize"))
    error = ErrorInfo("RETRIES_EXHAUSTED", "late duplicate", "infer")
    assert store.apply(record.track_id, Transition(TrackState.FAILED, "dead-letter", error=error)) is None
    assert store.get(record.track_id).error is None


def test_apply_records_a_timeline_event_per_transition(store):
    record = store.create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    for state in (TrackState.EXTRACTING, TrackState.INFERRING, TrackState.DONE):
        store.apply(record.track_id, Transition(state, state.value.lower()))
    assert [e.state for e in store.get(record.track_id).timeline] == ["RECEIVED", "EXTRACTING", "INFERRING", "DONE"]


def test_query_pages_newest_first_when_filtered_by_partner_and_state(store):
    ids = [store.create_if_absent(new_record(f"file:///{i}.mp3", "1", "p1", "ingest")).track_id for i in range(5)]
    store.create_if_absent(new_record("file:///other.mp3", "1", "p2", "ingest"))
    for track_id in ids[:4]:
        store.apply(track_id, Transition(TrackState.FAILED, "ingest", error=ErrorInfo("CORRUPT", "bad", "ingest")))
    first = store.query("p1", TrackState.FAILED, 3, None)
    second = store.query("p1", TrackState.FAILED, 3, first[-1].track_id)
    assert len(first) == 3 and len(second) == 1
    assert {r.track_id for r in first + second} == set(ids[:4])


def _advance(db_path: str, track_id: str) -> bool:
    return SqliteTrackStore(db_path).apply(track_id, Transition(TrackState.DONE, "finalize")) is not None


def test_apply_lets_exactly_one_process_win_when_eight_race(tmp_path):
    db_path = str(tmp_path / "state.sqlite")
    record = SqliteTrackStore(db_path).create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    # Spawned, as separate processes are: a forked child would inherit this process's SQLite state.
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        wins = list(pool.map(_advance, [db_path] * 8, [record.track_id] * 8))
    assert wins.count(True) == 1
    assert len(SqliteTrackStore(db_path).get(record.track_id).timeline) == 2
