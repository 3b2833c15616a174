"""PassCursors: where a long pass got to, on every store."""

from __future__ import annotations

from trackscan.domain.ports import TrackStore


def test_a_cursor_reads_back_what_was_saved_until_cleared(store: TrackStore):
    assert store.cursor("sweep") is None
    store.save_cursor("sweep", "page-2|gs://ingest/p/a.ogg")
    store.save_cursor("backfill-ab", "t00")
    store.save_cursor("sweep", "page-3|")
    assert (store.cursor("sweep"), store.cursor("backfill-ab")) == ("page-3|", "t00")
    store.save_cursor("sweep", None)
    assert (store.cursor("sweep"), store.cursor("backfill-ab")) == (None, "t00")


def test_a_cursor_saved_by_one_handle_is_read_by_another(new_store):
    new_store().save_cursor("sweep", "page-9")
    assert new_store().cursor("sweep") == "page-9"
