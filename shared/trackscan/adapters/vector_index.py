"""The embedded mode's similarity index: search vectors in a SQLite table, searched by brute force.

Every query scores every stored vector with one matrix product (numpy), so it is exact and
needs no index build; the matrix is cached in memory and only rows written since the last query
are read again. Meant for up to MAX_LOCAL_VECTORS tracks (BENCHMARKS.md, "Similarity": at 100 000,
a 114 MiB matrix of 300-number vectors); past that, use the cloud store's index.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading

import numpy as np

from trackscan.domain.similarity import SEARCH_DIMENSIONS, record_vector
from trackscan.domain.tracks import TrackRecord

log = logging.getLogger(__name__)
MAX_LOCAL_VECTORS = 100_000  # past this, the matrix outgrows a laptop's spare memory and loads take seconds
SCHEMA = """
CREATE TABLE IF NOT EXISTS search_vectors (
    track_id TEXT PRIMARY KEY,
    partner TEXT NOT NULL,
    vector BLOB NOT NULL
);
-- Small rows to count: every query counts the vectors to see whether any changed, and count(*)
-- reads the smallest index rather than the table's 1,200-byte rows.
CREATE INDEX IF NOT EXISTS search_vectors_by_partner ON search_vectors (partner);
"""

ROWS = "SELECT rowid, track_id, partner, vector FROM search_vectors"
# The search vector's definition (trackscan.domain.similarity), kept as the database's user_version:
# 2 is the embedding and tag logits, 1 was the embedding alone.
VECTORS_VERSION = 2


def write_vector(db: sqlite3.Connection, track_id: str, partner: str, vector: list[float] | None) -> None:
    """Stores (or, with None, removes) a track's search vector, inside the caller's transaction."""
    if vector is None:
        db.execute("DELETE FROM search_vectors WHERE track_id = ?", (track_id,))
        return
    blob = np.asarray(vector, dtype=np.float32).tobytes()
    # REPLACE deletes and inserts, so a rewritten vector gets a new rowid: the cache sees it as new.
    db.execute("INSERT OR REPLACE INTO search_vectors VALUES (?, ?, ?)", (track_id, partner, blob))


class VectorCache:
    """The stored vectors as one float32 matrix, with each row's track id and partner."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}  # partner -> small integer, so the partner filter is one compare
        self._lock = threading.Lock()  # one refresh at a time when requests are served on threads
        self._seen_versions: dict[int, int] = {}  # connection -> its data_version when the cache was checked
        self._reset()

    def _reset(self) -> None:
        self._ids: list[str] = []
        self._partners = np.empty(0, dtype=np.int32)
        self._matrix = np.empty((0, SEARCH_DIMENSIONS), dtype=np.float32)
        self._last_rowid = 0

    def nearest(self, db: sqlite3.Connection, partner: str, vector: list[float], limit: int) -> list[tuple[str, float]]:
        """(track id, cosine similarity) of the partner's closest vectors, closest first."""
        with self._lock:
            self._refresh(db)
            ids, partners, matrix = self._ids, self._partners, self._matrix
        if not ids or partner not in self._codes:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        scores[partners != self._codes[partner]] = -np.inf
        count = min(limit, len(scores))
        top = np.argpartition(-scores, count - 1)[:count]
        ranked = top[np.argsort(-scores[top], kind="stable")]
        return [(ids[i], float(scores[i])) for i in ranked if np.isfinite(scores[i])]

    def changed(self) -> None:
        """Notes that this process wrote a vector (SQLite's data_version only counts other connections' commits)."""
        self._seen_versions.clear()

    def _refresh(self, db: sqlite3.Connection) -> None:
        # Cheap first: has any other connection committed since this one last looked?
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if self._seen_versions.get(id(db)) == version:
            return
        self._seen_versions[id(db)] = version
        count, last_rowid = db.execute("SELECT count(*), coalesce(max(rowid), 0) FROM search_vectors").fetchone()
        if count == len(self._ids) and last_rowid == self._last_rowid:
            return
        new_rows = db.execute(f"{ROWS} WHERE rowid > ? ORDER BY rowid", (self._last_rowid,)).fetchall()
        if count != len(self._ids) + len(new_rows):  # a row was replaced or deleted: read them all
            self._reset()
            new_rows = db.execute(f"{ROWS} ORDER BY rowid").fetchall()
        self._append(new_rows)
        if len(self._ids) > MAX_LOCAL_VECTORS:
            log.warning(
                "the local similarity index is past its size limit",
                extra={"vectors": len(self._ids), "limit": MAX_LOCAL_VECTORS},
            )

    def _append(self, rows: list[tuple[int, str, str, bytes]]) -> None:
        if not rows:
            return
        matrix = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), SEARCH_DIMENSIONS)
        self._ids = self._ids + [r[1] for r in rows]  # a new list: a query in flight keeps its own
        codes = [self._codes.setdefault(r[2], len(self._codes)) for r in rows]
        self._partners = np.concatenate([self._partners, np.array(codes, dtype=np.int32)])
        self._matrix = np.vstack([self._matrix, matrix])
        self._last_rowid = rows[-1][0]


def index_done_tracks(connection: sqlite3.Connection) -> None:
    """Writes every DONE track's search vector, once per database and vector definition.

    The database's user_version says which definition its vectors follow: 0 before the index
    existed, 1 for the embedding alone, VECTORS_VERSION now. An older database is indexed anew
    on open, so its tracks are searchable at once and never by a stale vector.
    """
    if connection.execute("PRAGMA user_version").fetchone()[0] >= VECTORS_VERSION:
        return  # the usual case, without taking the write lock
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("PRAGMA user_version").fetchone()[0] < VECTORS_VERSION:
            connection.execute("DELETE FROM search_vectors")
            for (text,) in connection.execute("SELECT record FROM tracks WHERE state = 'DONE'").fetchall():
                record = TrackRecord.from_dict(json.loads(text))
                write_vector(connection, record.track_id, record.partner, record_vector(record))
            connection.execute(f"PRAGMA user_version = {VECTORS_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:  # SQLite has already rolled back after an I/O or full-disk error
            connection.execute("ROLLBACK")
        raise
