"""Similarity search on the embedded store: the search vector, the numpy index, the API route and the CLI.

Embeddings are built so the expected order is known: each track's embedding is a base direction
plus a known amount of a second one, so its cosine to the query falls as that amount grows.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from tests.pipeline_fixtures import make_deps
from tests.tag_fixtures import tag_scores
from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.api import create_app
from trackscan.cli.main import cli
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.similarity import EMBEDDING_DIMENSIONS, SEARCH_DIMENSIONS, search_vector
from trackscan.domain.tracks import TrackRecord, TrackState, new_record
from trackscan.domain.transitions import Transition
from trackscan.pipeline.similar import similar_tracks

ACME = {"X-API-Key": "key-acme"}
BETA = {"X-API-Key": "key-beta"}
RNG = np.random.default_rng(7)
BASE, OTHER = RNG.normal(size=EMBEDDING_DIMENSIONS), RNG.normal(size=EMBEDDING_DIMENSIONS)


def _embedding(distance: float) -> list[float]:
    """Further from BASE (by cosine) as distance grows from 0 to 1."""
    return [float(x) for x in (1 - distance) * BASE + distance * OTHER]


def _done(store, name: str, embedding: list[float], partner: str = "acme", tags: dict | None = None) -> TrackRecord:
    record = store.create_if_absent(new_record(f"gs://ingest/{partner}/{name}", "1", partner, "ingest"))
    result = TrackResult(tags or tag_scores(), [name], 120.0, "C major", -14.0, 30.0, embedding)
    done = store.apply(
        record.track_id, Transition(TrackState.DONE, "finalize", result=result, model=ModelInfo("musicnn", "ab" * 32))
    )
    assert done is not None
    return done


@pytest.fixture
def store(tmp_path) -> SqliteTrackStore:
    return SqliteTrackStore(str(tmp_path / "state.sqlite"))


def test_search_vector_is_unit_length_with_two_centred_halves_of_equal_weight_when_the_result_is_whole():
    vector = np.array(search_vector(TrackResult(tag_scores(), [], None, None, None, 1.0, _embedding(0.3))))
    embedding, logits = vector[:EMBEDDING_DIMENSIONS], vector[EMBEDDING_DIMENSIONS:]
    assert vector.size == SEARCH_DIMENSIONS and np.isclose(np.linalg.norm(vector), 1.0)
    assert np.isclose(np.linalg.norm(embedding), np.linalg.norm(logits))
    assert abs(embedding.mean()) < 1e-9 and abs(logits.mean()) < 1e-9


@pytest.mark.parametrize(
    "embedding", [[], [0.5] * EMBEDDING_DIMENSIONS, [1.0] * 10, [float("nan")] * EMBEDDING_DIMENSIONS]
)
def test_search_vector_is_none_when_the_embedding_has_no_direction(embedding):
    assert search_vector(TrackResult(tag_scores(), [], None, None, None, 1.0, embedding)) is None


@pytest.mark.parametrize(
    "tags",
    [{}, {"mtt": {"guitar": 0.5}, "msd": {"rock": 0.25}}, {g: dict.fromkeys(t, 0.3) for g, t in tag_scores().items()}],
    ids=["none", "two", "all-equal"],
)
def test_search_vector_is_none_when_the_tag_scores_are_missing_or_all_alike(tags):
    assert search_vector(TrackResult(tags, [], None, None, None, 1.0, _embedding(0.3))) is None


def test_tracks_of_one_sound_but_other_tags_are_found_after_the_twin(store):
    query = _done(store, "query.ogg", _embedding(0.0))
    scores = tag_scores()
    other_tags = {
        group: dict(zip(names, reversed(list(names.values())), strict=True)) for group, names in scores.items()
    }
    _done(store, "same-sound-other-tags.ogg", _embedding(0.0), tags=other_tags)
    _done(store, "twin.ogg", _embedding(0.0))
    found = similar_tracks(store, query)
    assert [n.record.source_name for n in found] == ["twin.ogg", "same-sound-other-tags.ogg"]
    assert found[0].similarity == pytest.approx(1.0) and found[1].similarity < 0.9


def test_nearest_ranks_the_partners_tracks_closest_first_when_searched(store):
    query = _done(store, "query.ogg", _embedding(0.0))
    for name, distance in [("far.ogg", 0.8), ("near.ogg", 0.1), ("middle.ogg", 0.4)]:
        _done(store, name, _embedding(distance))
    _done(store, "closest-but-beta.ogg", _embedding(0.01), partner="beta")
    found = similar_tracks(store, query, limit=3)
    assert [n.record.source_name for n in found] == ["near.ogg", "middle.ogg", "far.ogg"]
    assert found[0].similarity > found[1].similarity > found[2].similarity


def test_similar_tracks_leaves_out_the_track_itself_and_keeps_the_limit_when_asked_for_one(store):
    query = _done(store, "query.ogg", _embedding(0.0))
    _done(store, "twin.ogg", _embedding(0.0))
    _done(store, "other.ogg", _embedding(0.5))
    found = similar_tracks(store, query, limit=1)
    assert [n.record.source_name for n in found] == ["twin.ogg"] and found[0].similarity == pytest.approx(1.0)


def test_nearest_forgets_a_track_when_it_is_redone(store):
    query = _done(store, "query.ogg", _embedding(0.0))
    redone = _done(store, "redone.ogg", _embedding(0.1))
    assert [n.record.track_id for n in similar_tracks(store, query)] == [redone.track_id]
    store.apply(redone.track_id, Transition(TrackState.RECEIVED, "force", restart=True))
    assert similar_tracks(store, query) == []


def test_nearest_sees_tracks_finished_by_another_process_when_the_index_is_cached(store, tmp_path):
    query = _done(store, "query.ogg", _embedding(0.0))
    _done(store, "first.ogg", _embedding(0.5))
    assert len(similar_tracks(store, query)) == 1  # loads the cache
    other_process = SqliteTrackStore(str(tmp_path / "state.sqlite"))
    _done(other_process, "second.ogg", _embedding(0.2))
    assert [n.record.source_name for n in similar_tracks(store, query)] == ["second.ogg", "first.ogg"]


def test_similar_tracks_refuses_when_the_track_is_not_done(store):
    record = store.create_if_absent(new_record("gs://ingest/acme/a.ogg", "1", "acme", "ingest"))
    with pytest.raises(ValueError, match="RECEIVED"):
        similar_tracks(store, record)


def test_store_indexes_tracks_finished_before_the_index_existed_when_opened(store, tmp_path):
    query = _done(store, "query.ogg", _embedding(0.0))
    _done(store, "older.ogg", _embedding(0.3))
    db = sqlite3.connect(tmp_path / "state.sqlite")  # as a database written before similarity search
    db.executescript("DROP TABLE search_vectors; PRAGMA user_version = 0;")
    db.close()
    reopened = SqliteTrackStore(str(tmp_path / "state.sqlite"))
    assert [n.record.source_name for n in similar_tracks(reopened, query)] == ["older.ogg"]


def test_store_indexes_its_tracks_anew_when_opened_with_vectors_of_the_earlier_definition(store, tmp_path):
    query = _done(store, "query.ogg", _embedding(0.0))
    _done(store, "older.ogg", _embedding(0.3))
    db = sqlite3.connect(tmp_path / "state.sqlite")  # as written by a version that searched the embedding alone
    old_vector = np.ones(EMBEDDING_DIMENSIONS, dtype=np.float32).tobytes()
    db.execute("UPDATE search_vectors SET vector = ?", (old_vector,))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    reopened = SqliteTrackStore(str(tmp_path / "state.sqlite"))
    found = similar_tracks(reopened, query)
    assert [n.record.source_name for n in found] == ["older.ogg"] and found[0].similarity < 0.99
    version = sqlite3.connect(tmp_path / "state.sqlite").execute("PRAGMA user_version").fetchone()[0]
    assert version == 2


# --- the API route ---


@pytest.fixture
def deps(tmp_path):
    return make_deps(tmp_path / "home", api_keys="acme:key-acme, beta:key-beta")


@pytest.fixture
def client(deps):
    return create_app(deps).test_client()


def test_api_similar_lists_the_partners_closest_tracks_when_the_track_is_done(client, deps):
    from tests.unit.test_api import _schema_errors

    query = _done(deps.tracks, "query.ogg", _embedding(0.0))
    near = _done(deps.tracks, "near.ogg", _embedding(0.1))
    _done(deps.tracks, "far.ogg", _embedding(0.7))
    _done(deps.tracks, "beta.ogg", _embedding(0.0), partner="beta")
    response = client.get(f"/v1/tracks/{query.track_id}/similar?limit=5", headers=ACME)
    assert response.status_code == 200 and not _schema_errors("SimilarTracks", response.json)
    assert [t["source_uri"].rsplit("/", 1)[-1] for t in response.json["similar"]] == ["near.ogg", "far.ogg"]
    assert response.json["similar"][0]["track_id"] == near.track_id


def test_api_similar_answers_404_when_the_track_belongs_to_another_partner(client, deps):
    query = _done(deps.tracks, "query.ogg", _embedding(0.0))
    response = client.get(f"/v1/tracks/{query.track_id}/similar", headers=BETA)
    assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND"


def test_api_similar_answers_409_when_the_track_is_not_done(client, deps):
    record = deps.tracks.create_if_absent(new_record("gs://ingest/acme/a.ogg", "1", "acme", "ingest"))
    response = client.get(f"/v1/tracks/{record.track_id}/similar", headers=ACME)
    assert response.status_code == 409 and response.json["error"]["code"] == "FAILED_PRECONDITION"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=ten", "limit=5&page_size=2"])
def test_api_similar_answers_400_when_the_query_is_invalid(client, deps, query):
    record = _done(deps.tracks, "query.ogg", _embedding(0.0))
    response = client.get(f"/v1/tracks/{record.track_id}/similar?{query}", headers=ACME)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_ARGUMENT"


# --- the CLI ---


def test_cli_similar_prints_the_closest_tracks_first_when_named_by_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKSCAN_HOME", str(tmp_path / "home"))
    store = SqliteTrackStore(str(tmp_path / "home" / "state.sqlite"))
    _done(store, "query.ogg", _embedding(0.0), partner="local")
    for name, distance in [("far.ogg", 0.9), ("near.ogg", 0.05)]:
        _done(store, name, _embedding(distance), partner="local")
    done = CliRunner().invoke(cli, ["similar", "query.ogg", "--json", "--limit", "2"])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in done.output.splitlines()]
    assert [line["source"].rsplit("/", 1)[-1] for line in lines] == ["near.ogg", "far.ogg"]


def test_cli_similar_fails_with_a_hint_when_the_track_is_not_done(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKSCAN_HOME", str(tmp_path / "home"))
    store = SqliteTrackStore(str(tmp_path / "home" / "state.sqlite"))
    record = store.create_if_absent(replace(new_record("gs://ingest/local/a.ogg", "1", "local", "ingest")))
    done = CliRunner().invoke(cli, ["similar", record.track_id])
    assert done.exit_code == 1 and "trackscan status" in done.output
