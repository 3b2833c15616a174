"""The store and blob queries behind similarity search, content dedupe, backfill and the console, on
the Firestore emulator and fake-gcs-server (the same behaviour tests/unit checks on SQLite)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid

import numpy as np
import pytest

from trackscan.adapters.firestore_store import FirestoreTrackStore
from trackscan.domain.config import Config
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.similarity import SEARCH_DIMENSIONS
from trackscan.domain.track_ids import rerun_track_id
from trackscan.domain.tracks import TrackRecord, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.similar import similar_tracks

pytestmark = pytest.mark.integration
RNG = np.random.default_rng(11)
BASE, OTHER = RNG.normal(size=SEARCH_DIMENSIONS), RNG.normal(size=SEARCH_DIMENSIONS)
MODEL = ModelInfo("musicnn", "ab" * 32)


@pytest.fixture
def tracks(stack_env: dict[str, str], stack_config: Config) -> FirestoreTrackStore:
    from google.cloud import firestore

    return FirestoreTrackStore(
        firestore.Client(project=stack_config.project_id), f"tracks-capabilities-{uuid.uuid4().hex[:10]}"
    )


def _done(
    store: FirestoreTrackStore,
    name: str,
    distance: float,
    partner: str = "acme",
    content_hash: str | None = None,
    model: ModelInfo = MODEL,
) -> TrackRecord:
    record = store.create_if_absent(new_record(f"gs://ingest/{partner}/{name}", "1", partner, "ingest"))
    embedding = [float(x) for x in (1 - distance) * BASE + distance * OTHER]
    result = TrackResult({"mtt": {}, "msd": {}}, [name], 120.0, "C major", -14.0, 30.0, embedding)
    done = store.apply(
        record.track_id, Transition(TrackState.DONE, "finalize", result=result, model=model, content_hash=content_hash)
    )
    assert done is not None
    return done


def test_firestore_nearest_ranks_the_partners_tracks_closest_first(tracks: FirestoreTrackStore):
    query = _done(tracks, "query.ogg", 0.0)
    for name, distance in [("far.ogg", 0.8), ("near.ogg", 0.1), ("middle.ogg", 0.4)]:
        _done(tracks, name, distance)
    _done(tracks, "closest-but-beta.ogg", 0.01, partner="beta")
    found = similar_tracks(tracks, query, limit=3)
    assert [n.record.source_name for n in found] == ["near.ogg", "middle.ogg", "far.ogg"]
    assert found[0].similarity > found[1].similarity > found[2].similarity


def test_firestore_nearest_forgets_a_track_when_it_is_redone(tracks: FirestoreTrackStore):
    query = _done(tracks, "query.ogg", 0.0)
    redone = _done(tracks, "redone.ogg", 0.1)
    assert [n.record.track_id for n in similar_tracks(tracks, query)] == [redone.track_id]
    tracks.apply(redone.track_id, Transition(TrackState.RECEIVED, "force", restart=True))
    assert similar_tracks(tracks, query) == []


def test_firestore_done_with_content_finds_only_done_tracks_of_those_bytes(tracks: FirestoreTrackStore):
    done = _done(tracks, "a.ogg", 0.0, content_hash="md5:aa")
    _done(tracks, "b.ogg", 0.0, content_hash="md5:bb")
    pending = tracks.create_if_absent(new_record("gs://ingest/beta/c.ogg", "1", "beta", "ingest"))
    tracks.apply(pending.track_id, Transition(TrackState.EXTRACTING, "ingest", content_hash="md5:aa"))
    assert [r.track_id for r in tracks.done_with_content("md5:aa", 10)] == [done.track_id]


def test_firestore_done_after_pages_every_done_track_in_id_order(tracks: FirestoreTrackStore):
    done = sorted(_done(tracks, f"{i}.ogg", 0.1 * i).track_id for i in range(5))
    tracks.create_if_absent(new_record("gs://ingest/acme/pending.ogg", "1", "acme", "ingest"))
    first = tracks.done_after(None, 3)
    rest = tracks.done_after(first[-1].track_id, 3)
    assert [r.track_id for r in first + rest] == done


def test_firestore_count_counts_one_state_of_one_partner_or_all(tracks: FirestoreTrackStore):
    for i in range(3):
        _done(tracks, f"{i}.ogg", 0.1)
    _done(tracks, "beta.ogg", 0.1, partner="beta")
    tracks.create_if_absent(new_record("gs://ingest/acme/new.ogg", "1", "acme", "ingest"))
    assert (tracks.count("acme", TrackState.DONE), tracks.count(None, TrackState.DONE)) == (3, 4)
    assert tracks.count("acme", TrackState.RECEIVED) == 1 and tracks.count("beta", TrackState.FAILED) == 0


def test_firestore_keeps_a_rerun_apart_from_the_tracks_until_it_supersedes_one(tracks: FirestoreTrackStore):
    original = _done(tracks, "song.ogg", 0.2)
    new_model = ModelInfo("musicnn", "cd" * 32)
    rerun_id = rerun_track_id(original.track_id, new_model.sha256)
    rerun = dataclasses.replace(
        new_record(original.source_uri, "1", "acme", "ingest"), track_id=rerun_id, rerun_of=original.track_id
    )
    tracks.create_if_absent(rerun)
    assert tracks.get(rerun_id).rerun_of == original.track_id
    assert [r.track_id for r in tracks.query("acme", None, 10, None)] == [original.track_id]
    assert [r.track_id for r in tracks.by_source(original.source_uri, 10)] == [original.track_id]
    newer = dataclasses.replace(original.result, top_tags=["newer"])
    superseded = tracks.apply(
        original.track_id, Transition(TrackState.DONE, "backfill", result=newer, model=new_model, supersede=True)
    )
    assert superseded.model == new_model and superseded.state is TrackState.DONE
    assert (
        tracks.apply(
            original.track_id, Transition(TrackState.DONE, "backfill", result=newer, model=new_model, supersede=True)
        )
        is None
    )  # once only


def test_gcs_content_hash_is_the_md5_of_the_bytes_when_uploaded(stack_env: dict[str, str], stack_config: Config):
    from google.cloud import storage

    from trackscan.adapters.gcs_blobs import GcsBlobStore

    client = storage.Client(project=stack_config.project_id)
    bucket = client.create_bucket(f"hash-test-{uuid.uuid4().hex[:10]}")
    try:
        blob = bucket.blob("acme/song.ogg")
        blob.upload_from_string(b"OggS" + b"x" * 5000)
        expected = hashlib.md5(b"OggS" + b"x" * 5000).hexdigest()
        assert base64.b64decode(blob.md5_hash).hex() == expected
        store = GcsBlobStore(client)
        assert store.content_hash(f"gs://{bucket.name}/acme/song.ogg", str(blob.generation)) == f"md5:{expected}"
        assert store.content_hash(f"gs://{bucket.name}/acme/missing.ogg") is None
    finally:
        bucket.delete(force=True)
