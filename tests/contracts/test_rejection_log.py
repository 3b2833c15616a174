"""RejectionLog: refused events kept once each, on every store."""

from __future__ import annotations

from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.domain.ports import TrackStore
from trackscan.domain.rejections import rejected_event


def _kept_event_ids(store: TrackStore) -> list[str]:
    # The port only writes (support staff read the table or collection): look where each adapter keeps them.
    if isinstance(store, SqliteTrackStore):
        return [row[0] for row in store._db.execute("SELECT event_id FROM rejected_events ORDER BY event_id")]
    return sorted(snapshot.id for snapshot in store._rejected.stream())  # type: ignore[attr-defined]


def test_a_refused_event_is_kept_once_however_often_it_is_delivered(store: TrackStore):
    other_bucket = rejected_event("another bucket", b"{}", {"bucketId": "elsewhere", "objectId": "a.ogg"}, "m1")
    malformed = rejected_event("not JSON", b"\xff", {"kind": "UploadReceived"}, "m2")
    for event in (other_bucket, malformed, other_bucket, other_bucket):
        store.record_rejected(event)
    assert _kept_event_ids(store) == sorted([other_bucket.event_id, malformed.event_id])
