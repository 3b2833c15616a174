"""Object names with '#', '?', '%', spaces, Unicode and 1,024 bytes, end to end on the local adapters,
and track ids that no name can make ambiguous.

The same names go through fake-gcs-server and the functions in tests/integration/test_adapters.py
and tests/functions/test_step_functions.py.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from trackscan.api import create_app
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import SegmentPlanned, pinned_uri, split_pinned_uri
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState

ACME = {"X-API-Key": "key-acme"}
# Each is a name a partner could give a file; the last ends like a pinned generation.
NAMES = [
    "take #1.flac",
    "what?.flac",
    "100% live.flac",
    "  spaced  out .flac",
    "Sigur Rós – Hoppípolla 🎧.flac",
    "a%23b%2F..%2Fc.flac",
    "mix.flac#2024",
]
# 1,024 bytes (GCS's limit) in five levels: no folder or file name on Linux may exceed 255 bytes.
LONG_NAME = "/".join(["é" * 100] * 4 + ["ü" * 100 + "-" * 15 + ".flac"])


def _song(tmp_path: Path) -> bytes:
    return write_audio(tmp_path / "source.flac", music_like(3.0)).read_bytes()


def test_long_name_is_1024_bytes_when_encoded():
    assert len(LONG_NAME.encode()) == 1024


@pytest.mark.parametrize("name", [*NAMES, LONG_NAME], ids=[*NAMES, "1024-bytes"])
def test_api_upload_tags_the_file_when_its_name_holds_characters_with_uri_meaning(tmp_path, name):
    deps = make_deps(tmp_path / "home", api_keys="acme:key-acme")
    root = tmp_path / "ingest"
    client = create_app(deps, ingest_root_uri=uri_of(root)).test_client()
    submitted = client.post(
        f"/v1/tracks?filename={quote(name, safe='')}",
        data=_song(tmp_path),
        headers={**ACME, "Content-Type": "audio/flac"},
    )
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    stored = root / "acme" / name
    assert stored.is_file()
    handled = run_to_completion(deps, *deps.publisher.drain())  # type: ignore[attr-defined]
    record = deps.tracks.get(submitted.json["track_id"])
    assert record.state is TrackState.DONE, record.error
    assert record.source_uri == uri_of(stored) and record.source_name == Path(name).name
    # Every segment read the pinned generation of this very file.
    segments = [m for m in handled if isinstance(m, SegmentPlanned)]
    assert segments and all(split_pinned_uri(m.source_uri) == (record.source_uri, record.generation) for m in segments)
    # Submitting the stored file by its URI, or tagging it with `trackscan run`, is the same track.
    again = client.post("/v1/tracks", json={"source_uri": record.source_uri}, headers=ACME)
    assert again.json["track_id"] == record.track_id
    assert track_id_for(upload(stored).source_uri, upload(stored).generation) == record.track_id


def test_local_run_tags_distinct_tracks_when_names_differ_only_by_uri_syntax(tmp_path):
    deps = make_deps(tmp_path / "home")
    song = write_audio(tmp_path / "src.flac", music_like(3.0))
    paths = [shutil.copy(song, tmp_path / name) for name in ("a#1.flac", "a", "a%231.flac", "a?1.flac")]
    events = [upload(Path(p)) for p in paths]
    run_to_completion(deps, *events)
    ids = {track_id_for(e.source_uri, e.generation) for e in events}
    assert len(ids) == len(paths)
    assert all(deps.tracks.get(i).state is TrackState.DONE for i in ids)


def test_track_id_for_keeps_the_ids_of_existing_tracks_when_the_generation_is_numeric():
    # The id every track got before: sha256 of "<uri>#<generation>", first 24 hex digits.
    for uri, generation in [
        ("gs://trackscan-ingest/acme/album/01.flac", "1700000000000001"),
        ("file:///music/Some%20Song.flac", "1712345678901234567"),
        ("gs://b/acme/take #1.flac", "17"),
    ]:
        old = "t" + hashlib.sha256(f"{uri}#{generation}".encode()).hexdigest()[:24]
        assert track_id_for(uri, generation) == old


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("gs://b/a#1", "2"), ("gs://b/a", "1#2")),
        (('["gs://b/a", "x', 'y"]'), ("gs://b/a", "x#y")),
        (("gs://b/a", "1#2"), ("gs://b/a#1", "#2")),
    ],
)
def test_track_id_for_differs_when_pairs_would_join_to_the_same_text(first, second):
    assert track_id_for(*first) != track_id_for(*second)


@given(st.text(), st.text(), st.text())
def test_track_id_for_differs_when_a_hash_joined_text_is_split_two_ways(a, b, c):
    # "<a>#<b>#<c>" read as (uri a#b, generation c) and as (uri a, generation b#c).
    assert track_id_for(f"{a}#{b}", c) != track_id_for(a, f"{b}#{c}")


@given(st.text(), st.from_regex(r"[0-9]{1,20}", fullmatch=True))
def test_split_pinned_uri_recovers_uri_and_generation_when_the_name_holds_any_text(uri, generation):
    assert split_pinned_uri(pinned_uri(uri, generation)) == (uri, generation)


@pytest.mark.parametrize("generation", ["", "abc", "1#2", "²", "-1"])
def test_pinned_uri_raises_value_error_when_the_generation_is_not_a_decimal_number(generation):
    with pytest.raises(ValueError):
        pinned_uri("gs://b/p/a.flac", generation)
