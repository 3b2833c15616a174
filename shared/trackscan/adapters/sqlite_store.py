"""TrackStore on SQLite in WAL mode, safe for several worker processes on one machine."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from trackscan.adapters import vector_index
from trackscan.domain.rejections import RejectedEvent
from trackscan.domain.similarity import Neighbour, record_vector
from trackscan.domain.track_ids import RERUN_PREFIX
from trackscan.domain.tracks import FailedAttempt, TrackRecord, TrackState
from trackscan.domain.transitions import Transition

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    track_id TEXT PRIMARY KEY,
    source_uri TEXT NOT NULL,
    partner TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_by_partner ON tracks (partner, state, updated_at);
CREATE INDEX IF NOT EXISTS tracks_by_source ON tracks (source_uri, updated_at);
CREATE INDEX IF NOT EXISTS tracks_by_state ON tracks (state, updated_at);
CREATE INDEX IF NOT EXISTS done_by_content ON tracks (json_extract(record, '$.content_hash')) WHERE state = 'DONE';
-- Backfill re-runs (ids "r...", trackscan.domain.track_ids.rerun_track_id): records of their own, never
-- listed with the tracks, so a partner or reconcile never meets them.
CREATE TABLE IF NOT EXISTS reruns (
    track_id TEXT PRIMARY KEY,
    source_uri TEXT NOT NULL,
    partner TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected_events (
    event_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    event TEXT NOT NULL
);
-- Partners' webhooks registered through the API (adapters/sqlite_webhooks.py).
CREATE TABLE IF NOT EXISTS webhooks (partner TEXT PRIMARY KEY, registration TEXT NOT NULL);
-- Their send attempts, a batch per row, newest last (adapters/sqlite_webhooks.py).
CREATE TABLE IF NOT EXISTS webhook_attempts (
    partner TEXT NOT NULL,
    at TEXT NOT NULL,
    undelivered INTEGER NOT NULL,
    attempts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_partner ON webhook_attempts (partner, at);
"""


# Switching to WAL can answer "database is locked" at once, without waiting for the busy
# timeout, while other processes open the same new database: try again shortly.
@retry(
    retry=retry_if_exception_type(sqlite3.OperationalError),
    stop=stop_after_attempt(20),
    wait=wait_random(0.01, 0.1),
    reraise=True,
)
def _open(db_path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA + vector_index.SCHEMA)
        vector_index.index_done_tracks(connection)
    except sqlite3.OperationalError:
        connection.close()
        raise
    return connection


class ThreadConnections:
    """Connections to one state file, in WAL mode with every table: one per process and thread.

    A forked worker must not reuse its parent's connection, and sqlite3 connections stay in their
    thread (the API serves each request on a thread).
    """

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        """This process's and thread's connection, opened on first use."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", 0) != os.getpid():
            Path(self._db_path).parent.mkdir(parents=True, exist_ok=True)
            connection = self._local.connection = _open(self._db_path)
            self._local.pid = os.getpid()
        return connection


class SqliteTrackStore:
    """Each record is one row: indexed columns for queries, the whole record as JSON."""

    def __init__(self, db_path: str) -> None:
        self._connections = ThreadConnections(db_path)
        self._vectors = vector_index.VectorCache()

    @property
    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def create_if_absent(self, record: TrackRecord) -> TrackRecord:
        """Inserts the record unless its track id exists (INSERT OR IGNORE); returns the stored one."""
        inserted = self._db.execute(
            f"INSERT OR IGNORE INTO {_table(record.track_id)} VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.track_id,
                record.source_uri,
                record.partner,
                record.state.value,
                record.updated_at,
                json.dumps(record.to_dict()),
            ),
        ).rowcount
        if inserted and _table(record.track_id) == "tracks" and record_vector(record) is not None:
            vector_index.write_vector(self._db, record.track_id, record.partner, record_vector(record))  # as Firestore
            self._vectors.changed()
        stored = self.get(record.track_id)
        assert stored is not None
        return stored

    def get(self, track_id: str) -> TrackRecord | None:
        """The record of a track, or None when there is none."""
        row = self._db.execute(f"SELECT record FROM {_table(track_id)} WHERE track_id = ?", (track_id,)).fetchone()
        return TrackRecord.from_dict(json.loads(row[0])) if row else None

    def apply(self, track_id: str, transition: Transition) -> TrackRecord | None:
        """Reads and writes in one write-locked transaction; the new record, or None if not allowed."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # takes the write lock before reading: no lost update
        try:
            current = self.get(track_id)
            updated = transition.apply(current) if current else None
            if updated:
                db.execute(
                    f"UPDATE {_table(track_id)} SET state = ?, updated_at = ?, record = ? WHERE track_id = ?",
                    (updated.state.value, updated.updated_at, json.dumps(updated.to_dict()), track_id),
                )
                if _table(track_id) == "tracks":  # a re-run is not searchable: its original is
                    # In the same transaction: a committed result is searchable at once, a redone one no more.
                    vector_index.write_vector(db, track_id, updated.partner, record_vector(updated))
                    self._vectors.changed()
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite has already rolled back after an I/O or full-disk error
                db.execute("ROLLBACK")
            raise
        return updated

    def record_failed_attempt(self, track_id: str, attempt: FailedAttempt) -> None:
        """Sets the record's last_failed_attempt, leaving its state and updated_at as they are."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self.get(track_id)
            if current is not None:
                updated = replace(current, last_failed_attempt=attempt)
                db.execute(
                    f"UPDATE {_table(track_id)} SET record = ? WHERE track_id = ?",
                    (json.dumps(updated.to_dict()), track_id),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite has already rolled back after an I/O or full-disk error
                db.execute("ROLLBACK")
            raise

    def query(self, partner: str | None, state: TrackState | None, limit: int, after: str | None) -> list[TrackRecord]:
        """Records newest first (ties by track id), filtered by partner and state, after a cursor."""
        sql = "SELECT record FROM tracks WHERE 1 = 1"
        args: list[str | int] = []
        if partner is not None:
            sql, args = f"{sql} AND partner = ?", [*args, partner]
        if state is not None:
            sql, args = f"{sql} AND state = ?", [*args, state.value]
        if after:
            sql += " AND (updated_at, track_id) < (SELECT updated_at, track_id FROM tracks WHERE track_id = ?)"
            args.append(after)
        sql += " ORDER BY updated_at DESC, track_id DESC LIMIT ?"
        rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [TrackRecord.from_dict(json.loads(r[0])) for r in rows]

    def stalled(self, state: TrackState, updated_before: str, limit: int) -> list[TrackRecord]:
        """Records in state last updated at or before updated_before, oldest first."""
        rows = self._db.execute(
            "SELECT record FROM tracks WHERE state = ? AND updated_at <= ? ORDER BY updated_at LIMIT ?",
            (state.value, updated_before, limit),
        ).fetchall()
        return [TrackRecord.from_dict(json.loads(r[0])) for r in rows]

    def known(self, track_ids: set[str]) -> set[str]:
        """The ids among track_ids that have a record."""
        ids = sorted(track_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # under SQLite's limit of bound parameters
            chunk = ids[start : start + 500]
            rows = self._db.execute(f"SELECT track_id FROM tracks WHERE track_id IN ({_marks(tuple(chunk))})", chunk)
            found.update(row[0] for row in rows.fetchall())
        return found

    def cursor(self, name: str) -> str | None:
        """The saved value of the named cursor, or None."""
        row = self._db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def save_cursor(self, name: str, value: str | None) -> None:
        """Saves the named cursor; None clears it."""
        if value is None:
            self._db.execute("DELETE FROM cursors WHERE name = ?", (name,))
        else:
            self._db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (name, value))

    def record_rejected(self, event: RejectedEvent) -> None:
        """Stores the event unless one with its id is there."""
        self._db.execute(
            "INSERT OR IGNORE INTO rejected_events VALUES (?, ?, ?)",
            (event.event_id, event.received_at, json.dumps(asdict(event))),
        )

    def rejected(self, limit: int) -> list[RejectedEvent]:
        """The latest refused events, newest first."""
        rows = self._db.execute("SELECT event FROM rejected_events ORDER BY received_at DESC LIMIT ?", (limit,))
        return [RejectedEvent(**json.loads(row[0])) for row in rows.fetchall()]

    def by_source(self, source_uri: str, limit: int) -> list[TrackRecord]:
        """The tracks of a source URI, newest first."""
        return self._select(
            "SELECT record FROM tracks WHERE source_uri = ? ORDER BY updated_at DESC LIMIT ?", (source_uri, limit)
        )

    def by_name(self, name: str, limit: int) -> list[TrackRecord]:
        """The tracks whose source file is called ``name``, newest first (the stored source_name)."""
        return self._select(
            "SELECT record FROM tracks WHERE json_extract(record, '$.source_name') = ? "
            "ORDER BY updated_at DESC LIMIT ?",
            (name, limit),
        )

    def done_with_content(self, content_hash: str, limit: int) -> list[TrackRecord]:
        """DONE tracks whose source had these bytes, most recently updated first."""
        return self._select(
            "SELECT record FROM tracks WHERE json_extract(record, '$.content_hash') = ? "
            "AND state = 'DONE' ORDER BY updated_at DESC LIMIT ?",
            (content_hash, limit),
        )

    def nearest(self, partner: str, vector: list[float], limit: int) -> list[Neighbour]:
        """The partner's DONE tracks closest to vector (cosine), closest first; brute force in numpy."""
        found = self._vectors.nearest(self._db, partner, vector, limit)
        records = {r.track_id: r for r in self._records_by_id([track_id for track_id, _ in found])}
        return [Neighbour(records[track_id], score) for track_id, score in found if track_id in records]

    def _records_by_id(self, track_ids: list[str]) -> list[TrackRecord]:
        if not track_ids:
            return []
        return self._select(f"SELECT record FROM tracks WHERE track_id IN ({_marks(tuple(track_ids))})", track_ids)

    def _select(self, sql: str, args: Sequence[object]) -> list[TrackRecord]:
        return [TrackRecord.from_dict(json.loads(row[0])) for row in self._db.execute(sql, args).fetchall()]

    def count(self, partner: str | None, state: TrackState) -> int:
        """How many tracks are in the state, of one partner or of all."""
        sql, args = "SELECT count(*) FROM tracks WHERE state = ?", [state.value]
        if partner is not None:
            sql, args = f"{sql} AND partner = ?", [*args, partner]
        return int(self._db.execute(sql, args).fetchone()[0])

    def done_after(self, after: str | None, limit: int) -> list[TrackRecord]:
        """DONE tracks in track id order, after the id ``after`` (a resumable pass over every result)."""
        return self._select(
            "SELECT record FROM tracks WHERE state = 'DONE' AND track_id > ? ORDER BY track_id LIMIT ?",
            (after or "", limit),
        )


def _table(track_id: str) -> str:
    # Re-runs of a backfill live apart from the tracks (see the reruns table).
    return "reruns" if track_id.startswith(RERUN_PREFIX) else "tracks"


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join("?" * len(values))
