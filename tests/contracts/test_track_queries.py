"""TrackQueries: lists of records, on every store."""

from __future__ import annotations

import dataclasses

from tests.contracts.conftest import MODEL, done, record_of
from trackscan.domain.ports import TrackStore
from trackscan.domain.results import ModelInfo
from trackscan.domain.track_ids import rerun_track_id
from trackscan.domain.tracks import TrackState, new_record
from trackscan.domain.transitions import Transition


def test_query_pages_newest_first_when_filtered_by_partner_and_state(store: TrackStore):
    mine = [
        store.create_if_absent(
            record_of(f"{i}.ogg", "p", updated_s=i, state=TrackState.EXTRACTING if i % 2 else TrackState.DONE)
        )
        for i in range(5)
    ]
    theirs = [
        store.create_if_absent(record_of(f"{i}.ogg", "q", updated_s=10 + i, state=TrackState.EXTRACTING))
        for i in range(2)
    ]
    pages, after = [], None
    while True:
        page = store.query("p", None, limit=2, after=after)
        pages.append([r.track_id for r in page])
        if len(page) < 2:
            break
        after = page[-1].track_id
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == [r.track_id for r in reversed(mine)]
    extracting = store.query("p", TrackState.EXTRACTING, limit=10, after=None)
    assert [r.track_id for r in extracting] == [mine[3].track_id, mine[1].track_id]
    every_partner = store.query(None, TrackState.EXTRACTING, limit=10, after=None)
    assert [r.track_id for r in every_partner] == [t.track_id for t in (theirs[1], theirs[0], mine[3], mine[1])]
    assert store.query("nobody", None, limit=10, after=None) == []


def test_count_counts_one_state_of_one_partner_or_all(store: TrackStore):
    for i in range(3):
        done(store, f"{i}.ogg")
    done(store, "beta.ogg", partner="beta")
    store.create_if_absent(new_record("gs://ingest/acme/new.ogg", "1", "acme", "ingest"))
    assert (store.count("acme", TrackState.DONE), store.count(None, TrackState.DONE)) == (3, 4)
    assert store.count("acme", TrackState.RECEIVED) == 1 and store.count("beta", TrackState.FAILED) == 0


def test_stalled_lists_one_state_oldest_first_up_to_the_cutoff(store: TrackStore):
    stamps = [40, 10, 30, 20, 50]
    records = [store.create_if_absent(record_of(f"{s}.ogg", updated_s=s, state=TrackState.EXTRACTING)) for s in stamps]
    store.create_if_absent(record_of("other-state.ogg", updated_s=5, state=TrackState.INFERRING))
    by_stamp = dict(zip(stamps, records, strict=True))
    cutoff = "2026-01-01T00:00:40.000+00:00"  # inclusive
    stalled = store.stalled(TrackState.EXTRACTING, cutoff, limit=10)
    assert [r.track_id for r in stalled] == [by_stamp[s].track_id for s in (10, 20, 30, 40)]
    first_two = store.stalled(TrackState.EXTRACTING, cutoff, limit=2)
    assert [r.track_id for r in first_two] == [by_stamp[10].track_id, by_stamp[20].track_id]
    assert store.stalled(TrackState.RECEIVED, cutoff, limit=10) == []


def test_by_source_and_by_name_return_the_newest_generation_first(store: TrackStore):
    old = store.create_if_absent(record_of("a.ogg", generation="1", updated_s=1))
    new = store.create_if_absent(record_of("a.ogg", generation="2", updated_s=2))
    store.create_if_absent(record_of("b.ogg", updated_s=3))
    assert old.track_id != new.track_id
    assert store.by_source(old.source_uri, 10) == [new, old]
    assert store.by_source("gs://ingest/p/missing.ogg", 10) == []
    assert store.by_name(old.source_name, 1) == [new]
    assert store.by_name("missing.ogg", 10) == []


def test_done_after_pages_every_done_track_in_id_order(store: TrackStore):
    finished = sorted(done(store, f"{i}.ogg").track_id for i in range(5))
    store.create_if_absent(new_record("gs://ingest/acme/pending.ogg", "1", "acme", "ingest"))
    first = store.done_after(None, 3)
    rest = store.done_after(first[-1].track_id, 3)
    assert [r.track_id for r in first + rest] == finished
    assert store.done_after(finished[-1], 3) == []


def test_a_rerun_stays_out_of_every_list_while_it_supersedes_its_original(store: TrackStore):
    original = done(store, "song.ogg")
    new_model = ModelInfo("musicnn", "cd" * 32)
    rerun_id = rerun_track_id(original.track_id, new_model.sha256)
    rerun = dataclasses.replace(
        new_record(original.source_uri, "1", "acme", "ingest"), track_id=rerun_id, rerun_of=original.track_id
    )
    store.create_if_absent(rerun)
    assert store.get(rerun_id).rerun_of == original.track_id
    assert [r.track_id for r in store.query("acme", None, 10, None)] == [original.track_id]
    assert [r.track_id for r in store.by_source(original.source_uri, 10)] == [original.track_id]
    assert store.count("acme", TrackState.RECEIVED) == 0
    newer = dataclasses.replace(original.result, top_tags=["newer"])
    supersede = Transition(TrackState.DONE, "backfill", result=newer, model=new_model, supersede=True)
    superseded = store.apply(original.track_id, supersede)
    assert superseded is not None and superseded.model == new_model and superseded.state is TrackState.DONE
    assert store.apply(original.track_id, supersede) is None  # a repeated commit changes nothing
    assert store.get(original.track_id).model == new_model != MODEL
