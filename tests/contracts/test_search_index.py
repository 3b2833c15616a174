"""SearchIndex: DONE tracks found by their bytes or their sound, on every store."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from click.testing import CliRunner

from tests.contracts.conftest import PROJECT, done, result_of
from trackscan.cli.main import cli
from trackscan.domain.ports import TrackStore
from trackscan.domain.similarity import EMBEDDING_DIMENSIONS, search_vector
from trackscan.domain.tracks import TrackState, new_record
from trackscan.domain.transitions import Transition

RNG = np.random.default_rng(11)
BASE, OTHER = RNG.normal(size=EMBEDDING_DIMENSIONS), RNG.normal(size=EMBEDDING_DIMENSIONS)


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


@pytest.mark.emulator
def test_reindex_rewrites_the_vectors_an_earlier_version_wrote_to_firestore(
    firestore_emulator: str, monkeypatch: pytest.MonkeyPatch
):
    # Firestore only: the SQLite store indexes its tracks anew when opened (tests/unit/test_similarity.py).
    from google.cloud import firestore
    from google.cloud.firestore_v1.vector import Vector

    from trackscan.adapters.firestore_store import SEARCH_VECTOR_FIELD, FirestoreTrackStore

    collection = f"tracks-{uuid.uuid4().hex[:10]}"
    for name, value in {
        "FIRESTORE_EMULATOR_HOST": firestore_emulator,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "TRACKSCAN_TRACKS_COLLECTION": collection,
    }.items():
        monkeypatch.setenv(name, value)
    client = firestore.Client(project=PROJECT)
    store = FirestoreTrackStore(client, collection)
    done(store, "query.ogg", embedding=_embedding(0.0))
    near = done(store, "near.ogg", embedding=_embedding(0.1))
    # As a version that searched the embedding alone wrote it.
    client.collection(collection).document(near.track_id).update({SEARCH_VECTOR_FIELD: Vector([1.0] * 200)})
    redone = CliRunner().invoke(cli, ["reindex", "--cloud"])
    assert redone.exit_code == 0, redone.output
    assert "2 search vector(s) written" in redone.output
    stored = client.collection(collection).document(near.track_id).get().to_dict()[SEARCH_VECTOR_FIELD]
    assert list(stored) == pytest.approx(search_vector(result_of(_embedding(0.1))))
    assert [n.record.source_name for n in store.nearest("acme", _query_vector(0.0), 5)] == ["query.ogg", "near.ogg"]
