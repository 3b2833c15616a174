"""SQLite's own promise, beyond the contracts every store keeps (tests/contracts): several
processes on one machine, each with its own connection, still let exactly one transition win."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.domain.tracks import TrackState, new_record
from trackscan.domain.transitions import Transition


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
