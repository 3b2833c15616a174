"""SearchIndex: DONE tracks found by their bytes or their sound, on every store."""

from __future__ import annotations

import numpy as np

from tests.contracts.conftest import done, result_of
from trackscan.domain.ports import TrackStore
from trackscan.domain.similarity import SEARCH_DIMENSIONS, search_vector
from trackscan.domain.tracks import TrackState, new_record
from trackscan.domain.transitions import Transition

RNG = np.random.default_rng(11)
BASE, OTHER = RNG.normal(size=SEARCH_DIMENSIONS), RNG.normal(size=SEARCH_DIMENSIONS)


def _embedding(distance: float) -> list[float]:
    return [float(x) for x in (1 - distance) * BASE + distance * OTHER]


def _query_vector(distance: float) -> list[float]:
    vector = search_vector(result_of(_embedding(distance)))
    assert vector is not None
    return vector


def test_nearest_ranks_the_partners_tracks_closest_first(store: TrackStore):
    for name, distance in [("far.ogg", 0.8), ("near.ogg", 0.1), ("middle.ogg", 0.4)]:
        done(store, name, embedding=_embedding(distance))
    done(store, "closest-but-beta.ogg", partner="beta", embedding=_embedding(0.01))
    found = store.nearest("acme", _query_vector(0.0), 3)
    assert [n.record.source_name for n in found] == ["near.ogg", "middle.ogg", "far.ogg"]
    assert 1.0 >= found[0].similarity > found[1].similarity > found[2].similarity
    assert [n.record.source_name for n in store.nearest("beta", _query_vector(0.0), 3)] == ["closest-but-beta.ogg"]


def test_nearest_forgets_a_track_when_it_is_redone(store: TrackStore):
    redone = done(store, "redone.ogg", embedding=_embedding(0.1))
    assert [n.record.track_id for n in store.nearest("acme", _query_vector(0.0), 5)] == [redone.track_id]
    store.apply(redone.track_id, Transition(TrackState.RECEIVED, "force", restart=True))
    assert store.nearest("acme", _query_vector(0.0), 5) == []


def test_done_with_content_finds_only_done_tracks_of_those_bytes(store: TrackStore):
    same_bytes = done(store, "a.ogg", content_hash="md5:aa")
    done(store, "b.ogg", content_hash="md5:bb")
    pending = store.create_if_absent(new_record("gs://ingest/beta/c.ogg", "1", "beta", "ingest"))
    store.apply(pending.track_id, Transition(TrackState.EXTRACTING, "ingest", content_hash="md5:aa"))
    assert [r.track_id for r in store.done_with_content("md5:aa", 10)] == [same_bytes.track_id]
    assert store.done_with_content("md5:none", 10) == []
