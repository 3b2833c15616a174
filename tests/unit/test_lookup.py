"""`trackscan status` finds a track by id, path, URI or bare file name."""

import click
import pytest

from tests.audio_fixtures import music_like, write_audio
from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.cli.files import upload_event
from trackscan.cli.lookup import find_track
from trackscan.domain.config import Config
from trackscan.domain.tracks import new_record


@pytest.fixture
def store(tmp_path):
    return SqliteTrackStore(str(tmp_path / "state.sqlite"))


def test_find_track_by_id_path_uri_and_name_when_one_track_matches(store, tmp_path):
    song = write_audio(tmp_path / "a#b 100%.ogg", music_like(1.0))
    event = upload_event(song)
    record = store.create_if_absent(new_record(event.source_uri, event.generation, "local", "ingest"))
    for query in (
        record.track_id,
        str(song),
        event.source_uri,
        f"{event.source_uri}#{event.generation}",
        "a#b 100%.ogg",
    ):
        assert find_track(store, query).track_id == record.track_id, query


def test_find_track_lists_the_candidates_when_a_bare_name_is_ambiguous(store):
    ids = [store.create_if_absent(new_record(f"gs://b/{p}/x.ogg", "1", p, "ingest")).track_id for p in ("p", "q")]
    with pytest.raises(click.ClickException) as raised:
        find_track(store, "x.ogg")
    assert "2 tracks are named x.ogg" in raised.value.message
    assert all(track_id in raised.value.message for track_id in ids)


def test_find_track_by_bare_name_when_a_local_file_of_that_name_is_not_a_track(store, tmp_path, monkeypatch):
    # `status --cloud song.ogg` from the folder the file was uploaded from (the README's outage drill).
    monkeypatch.chdir(tmp_path)
    write_audio(tmp_path / "song.ogg", music_like(1.0))
    record = store.create_if_absent(new_record("gs://b/p/song.ogg", "7", "p", "ingest"))
    assert find_track(store, "song.ogg").track_id == record.track_id
    with pytest.raises(click.ClickException, match="No track"):
        find_track(store, str(tmp_path / "song.ogg"))


def test_find_track_says_what_it_accepts_when_nothing_matches(store):
    with pytest.raises(click.ClickException, match="give a track id, a file path, a URI or a file name"):
        find_track(store, "gs://b/p/none.ogg")


def test_config_keeps_state_in_one_place_per_user_when_home_is_not_set(tmp_path):
    config = Config.from_env({"XDG_STATE_HOME": str(tmp_path)})
    assert config.state_db_path == str(tmp_path / "trackscan" / "state.sqlite")
    assert Config.from_env({"TRACKSCAN_HOME": str(tmp_path / "h")}).work_dir == tmp_path / "h" / "work"
