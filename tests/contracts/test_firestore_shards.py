"""Firestore keeps its ordered lists in index shards (docs/capacity.md): a document written
before documents carried their shard is listed again once scripts/firestore_add_shards.py ran."""

from __future__ import annotations

import pytest
from google.cloud import firestore

from tests.contracts.conftest import _firestore_factory, record_of
from trackscan.adapters.firestore_shards import add_missing_shards
from trackscan.adapters.firestore_store import SHARD_FIELD, FirestoreTrackStore

pytestmark = pytest.mark.emulator


def test_a_document_without_its_shard_is_listed_again_once_given_it(firestore_emulator, monkeypatch):
    store = _firestore_factory(firestore_emulator, monkeypatch)()
    assert isinstance(store, FirestoreTrackStore)
    old = store.create_if_absent(record_of("old.ogg", updated_s=1))
    new = store.create_if_absent(record_of("new.ogg", updated_s=2))
    store._document_of(old.track_id).update({SHARD_FIELD: firestore.DELETE_FIELD})  # as written before shards
    assert [r.track_id for r in store.query("p", None, 10, None)] == [new.track_id]
    client, collection = store._client, store._tracks.id
    assert add_missing_shards(client, collection, page=1) == 1
    assert add_missing_shards(client, collection) == 0  # once is enough
    assert [r.track_id for r in store.query("p", None, 10, None)] == [new.track_id, old.track_id]
