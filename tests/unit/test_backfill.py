"""Backfill: results made by another model are re-run through the real handlers, the old result readable meanwhile."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.audio_fixtures import music_like, write_audio
from tests.pipeline_fixtures import PatchStatsTagger, run_to_completion, upload
from trackscan.domain.errors import BadAudioError
from trackscan.domain.messages import SegmentPlanned, UploadReceived
from trackscan.domain.results import ModelInfo
from trackscan.domain.track_ids import rerun_track_id, track_id_for
from trackscan.domain.tracks import TrackState
from trackscan.pipeline import backfill
from trackscan.pipeline.similar import similar_tracks
from trackscan.pipeline.step_policy import run_step

NEW_MODEL = ModelInfo("patch-stats", "1" * 64)


class NewModelTagger(PatchStatsTagger):
    """Scores twice as confident as the old model, under another checksum."""

    def predict(self, patches):
        old = super().predict(patches)
        return replace(old, mtt=old.mtt**0.5)

    def model_info(self) -> ModelInfo:
        return NEW_MODEL


def _record(deps, event: UploadReceived):
    return deps.tracks.get(track_id_for(event.source_uri, event.generation))


@pytest.fixture
def catalogue(deps, tmp_path):
    """Three DONE tracks of distinct audio, tagged by the old model."""
    events = []
    for index, seconds in enumerate((12.0, 14.0, 16.0)):
        path = write_audio(tmp_path / f"song{index}.flac", music_like(seconds))
        events.append(upload(path))
        run_to_completion(deps, events[-1])
    return events


@pytest.fixture
def upgraded(deps):
    return replace(deps, tagger=NewModelTagger())


def _sent(deps, limit=10, rate=1000.0):
    sent: list[UploadReceived] = []
    done = backfill.backfill_pass(deps, deps.tagger.model_info(), limit, rate, sent.append, sleep=lambda _: None)
    return done, sent


def test_survey_counts_the_results_of_another_model_when_the_model_changed(upgraded, catalogue):
    found = backfill.survey(upgraded.queries, NEW_MODEL)
    assert (found.done, found.stale) == (3, 3)
    assert found.audio_s == pytest.approx(42.0, abs=0.1)
    assert found.by_model == {f"patch-stats {'0' * 12}": 3}
    assert backfill.survey(upgraded.queries, PatchStatsTagger().model_info()).stale == 0


def _original(deps, rerun: UploadReceived):
    return deps.tracks.get(track_id_for(rerun.source_uri, rerun.generation))


def test_backfill_replaces_the_result_and_keeps_the_old_one_readable_until_then(upgraded, catalogue):
    _, sent = _sent(upgraded, limit=1)
    assert len(sent) == 1 and sent[0].backfill_model == NEW_MODEL.sha256
    before = _original(upgraded, sent[0])
    run_step(sent[0], upgraded)  # ingest of the re-run: segments planned, nothing committed yet
    for message in upgraded.publisher.drain():  # type: ignore[attr-defined]
        run_step(message, upgraded)
    assert _original(upgraded, sent[0]) == before  # mid-way: still DONE, old result, old model
    run_to_completion(upgraded, *upgraded.publisher.drain())  # type: ignore[attr-defined]
    after = _original(upgraded, sent[0])
    assert after.state is TrackState.DONE and after.model == NEW_MODEL and after.result != before.result
    assert [(e.state, e.step) for e in after.timeline][-1] == ("DONE", "backfill")
    rerun = upgraded.tracks.get(rerun_track_id(before.track_id, NEW_MODEL.sha256))
    assert rerun.state is TrackState.DONE and rerun.rerun_of == before.track_id


def test_backfill_leaves_the_original_alone_when_the_rerun_fails(upgraded, catalogue, monkeypatch):
    _, sent = _sent(upgraded, limit=1)
    before = _original(upgraded, sent[0])

    def broken_probe(uri, max_duration_s):
        raise BadAudioError("CORRUPT", "The file cannot be decoded.")

    monkeypatch.setattr(upgraded.decoder, "probe", broken_probe)
    run_to_completion(upgraded, *sent)
    assert _original(upgraded, sent[0]) == before
    assert upgraded.tracks.get(rerun_track_id(before.track_id, NEW_MODEL.sha256)).state is TrackState.FAILED
    rest, _ = _sent(upgraded, limit=3)  # the other two, to the end of the catalogue
    again, resent = _sent(upgraded, limit=3)  # from the first track again (the other two were never run)
    assert rest.wrapped and (again.failed_before, again.sent) == (1, 2)
    assert before.track_id not in {track_id_for(m.source_uri, m.generation) for m in resent}


def test_backfill_resumes_after_the_last_track_sent_when_limited(upgraded, catalogue):
    first, sent_first = _sent(upgraded, limit=2)
    second, sent_second = _sent(upgraded, limit=2)
    ids = [track_id_for(m.source_uri, m.generation) for m in sent_first + sent_second]
    assert first.sent == 2 and not first.wrapped and second.wrapped and len(ids) == len(set(ids)) == 3


def test_backfill_waits_between_reruns_when_a_rate_is_given(upgraded, catalogue):
    waits: list[float] = []
    backfill.backfill_pass(upgraded, NEW_MODEL, 10, 4.0, lambda _: None, sleep=waits.append)
    assert waits == [0.25, 0.25, 0.25]


def test_reruns_stay_out_of_partner_lists_and_similarity_search_when_done(upgraded, catalogue):
    _, sent = _sent(upgraded)
    run_to_completion(upgraded, *sent)
    listed = upgraded.queries.query("local", None, 10, None)
    assert len(listed) == 3 and all(r.track_id.startswith("t") for r in listed)
    found = similar_tracks(upgraded.search, _record(upgraded, catalogue[0]), 10)
    assert sorted(n.record.track_id for n in found) == sorted(_record(upgraded, e).track_id for e in catalogue[1:])


def test_backfill_serves_a_rerun_from_an_identical_upload_when_the_new_model_tagged_it(upgraded, catalogue, tmp_path):
    copy = tmp_path / "copy" / "again.flac"
    copy.parent.mkdir()
    shutil.copyfile(catalogue[0].source_uri.removeprefix("file://"), copy)
    run_to_completion(upgraded, upload(copy))  # the new model tags the same bytes under another name
    scored = upgraded.tagger.patches_seen
    _, sent = _sent(upgraded)
    handled = run_to_completion(upgraded, *[m for m in sent if m.source_uri == catalogue[0].source_uri])
    assert not any(isinstance(m, SegmentPlanned) for m in handled) and upgraded.tagger.patches_seen == scored
    assert _record(upgraded, catalogue[0]).model == NEW_MODEL


def test_cli_backfill_dry_run_counts_and_prices_the_stale_results(deps, catalogue, tmp_path, monkeypatch):
    from trackscan.cli.main import cli

    monkeypatch.setenv("TRACKSCAN_HOME", str(tmp_path / "home"))
    # The CLI's model is the real ONNX model's checksum, so every patch-stats result is stale.
    done = CliRunner().invoke(cli, ["backfill", "--dry-run"])
    assert done.exit_code == 0, done.output
    assert "3 of 3 DONE result(s) were made by another model" in done.output
    assert "patch-stats 000000000000: 3" in done.output and "Re-running it costs about $" in done.output


def test_backfill_skips_a_rerun_under_way_and_resends_it_once_it_stalled(upgraded, catalogue):
    _, sent = _sent(upgraded, limit=1)
    run_step(sent[0], upgraded)  # ingested: the re-run exists, its segments queued
    upgraded.publisher.drain()  # type: ignore[attr-defined]  # ... and lost
    upgraded.cursors.save_cursor(backfill.cursor_name(NEW_MODEL), None)  # the next pass starts from the first
    fresh, resent = _sent(upgraded, limit=3)
    assert fresh.running == 1 and sent[0] not in resent
    stalled = replace(upgraded, config=replace(upgraded.config, reconcile_after_s=0.0))
    stalled.cursors.save_cursor(backfill.cursor_name(NEW_MODEL), None)
    _, resent = _sent(stalled, limit=3)
    assert sent[0] in resent
