"""Content dedupe: the same bytes uploaded again are served the earlier result, on the real handlers."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace

import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import PatchStatsTagger, make_deps, run_to_completion, upload
from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.api import create_app
from trackscan.domain.explain import explanation
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import SegmentPlanned
from trackscan.domain.results import ModelInfo
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState


class NewModelTagger(PatchStatsTagger):
    """The same scores under another model checksum: a model upgrade."""

    def model_info(self) -> ModelInfo:
        return ModelInfo("patch-stats", "1" * 64)


def _record(deps, event):
    return deps.tracks.get(track_id_for(event.source_uri, event.generation))


@pytest.fixture
def copy(tmp_path, song):
    """The same bytes under another name, in another folder (a re-upload)."""
    target = tmp_path / "elsewhere" / "renamed.flac"
    target.parent.mkdir()
    shutil.copyfile(song, target)
    return target


def test_content_hash_is_the_sha256_of_the_bytes_when_the_file_is_local(song):
    assert FolderBlobStore().content_hash(uri_of(song)) == f"sha256:{hashlib.sha256(song.read_bytes()).hexdigest()}"
    assert FolderBlobStore().content_hash(uri_of(song.with_name("missing.flac"))) is None


def test_ingest_serves_the_earlier_result_without_decoding_or_inference_when_the_bytes_were_seen(deps, song, copy):
    first = upload(song, partner="acme")
    run_to_completion(deps, first)
    scored = deps.tagger.patches_seen
    second = upload(copy, partner="acme")  # the same partner's copy: when it was tagged is its own business
    handled = run_to_completion(deps, second)
    original, reused = _record(deps, first), _record(deps, second)
    assert reused.state is TrackState.DONE and reused.result == original.result and reused.model == original.model
    assert deps.tagger.patches_seen == scored  # the model ran for no patch
    assert not any(isinstance(m, SegmentPlanned) for m in handled)  # nothing decoded
    assert reused.reused is not None and reused.reused.made_at == original.updated_at
    assert original.reused is None and original.content_hash == reused.content_hash is not None
    assert "served from an earlier upload" in explanation(reused)


def test_ingest_tags_again_when_the_earlier_result_was_made_by_another_model(deps, song, copy):
    run_to_completion(deps, upload(song))
    upgraded = replace(deps, tagger=NewModelTagger())
    second = upload(copy)
    run_to_completion(upgraded, second)
    record = _record(upgraded, second)
    assert record.state is TrackState.DONE and record.reused is None
    assert record.model == NewModelTagger().model_info() and upgraded.tagger.patches_seen > 0


def test_ingest_tags_again_when_forced_even_though_the_bytes_were_seen(deps, song, copy):
    run_to_completion(deps, upload(song))
    scored = deps.tagger.patches_seen
    forced = upload(copy, force=True)
    run_to_completion(deps, forced)
    assert _record(deps, forced).reused is None and deps.tagger.patches_seen == 2 * scored


def test_ingest_tags_different_bytes_when_an_earlier_track_has_the_same_name(deps, song, tmp_path):
    run_to_completion(deps, upload(song))
    (tmp_path / "other").mkdir()
    other = write_audio(tmp_path / "other" / "song.flac", music_like(12.0))
    event = upload(other)
    run_to_completion(deps, event)
    assert _record(deps, event).reused is None


def test_api_never_shows_the_other_partners_track_or_when_it_was_tagged_when_a_result_is_reused(tmp_path, song):
    deps = make_deps(tmp_path / "home", segment_s=10.0, api_keys="acme:key-acme, beta:key-beta")
    client = create_app(deps, ingest_root_uri=uri_of(tmp_path / "ingest")).test_client()
    body = song.read_bytes()
    first = client.post(
        "/v1/tracks?filename=secret-demo.flac",
        data=body,
        headers={"X-API-Key": "key-acme", "Content-Type": "audio/flac"},
    )
    run_to_completion(deps, *deps.publisher.drain())  # type: ignore[attr-defined]
    second = client.post(
        "/v1/tracks?filename=mine.flac", data=body, headers={"X-API-Key": "key-beta", "Content-Type": "audio/flac"}
    )
    run_to_completion(deps, *deps.publisher.drain())  # type: ignore[attr-defined]
    shown = client.get(second.headers["Location"], headers={"X-API-Key": "key-beta"}).json
    text = json.dumps(shown)
    assert shown["state"] == "DONE" and shown["reused"]["made_at"] and shown["reused"]["reused_at"]
    assert first.json["track_id"] not in text and "secret-demo" not in text and "acme" not in text
    original = deps.tracks.get(first.json["track_id"])
    # Not when acme's copy was tagged (a timing oracle on another partner's intake): when it was reused.
    assert shown["reused"]["made_at"] == shown["reused"]["reused_at"] != original.updated_at
