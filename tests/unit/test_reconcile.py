"""reconcile: stalled tracks are replayed through ingest, and finish without redoing work."""

from datetime import UTC, datetime, timedelta

from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from trackscan import reconcile as reconcile_module
from trackscan.messages import SegmentPlanned, UploadReceived
from trackscan.pipeline.steps import run_step
from trackscan.reconcile import reconcile, stalled_tracks
from trackscan.tracks import TrackState, new_record, track_id_for

LATER = timedelta(seconds=120)  # "now" for reconcile: every record is then 2 minutes old


def _record(deps, event: UploadReceived):
    return deps.tracks.get(track_id_for(event.source_uri, event.generation))


def _later() -> datetime:
    return datetime.now(UTC) + LATER


def _lose_messages(deps) -> list:
    return deps.publisher.drain()


def test_reconcile_replays_the_upload_when_a_track_stalled_after_ingest(deps, song):
    event = upload(song, partner="acme")
    run_step(event, deps)
    _lose_messages(deps)  # the segment messages vanish with a restarted emulator
    assert _record(deps, event).state is TrackState.DECODING

    assert reconcile(deps, older_than_s=60, now=_later()) == 1
    (replayed,) = deps.publisher.drain()
    assert replayed == UploadReceived(event.source_uri, event.generation, event.size_bytes, "acme")
    run_to_completion(deps, replayed)
    assert _record(deps, event).state is TrackState.DONE


def test_reconcile_reuses_finished_segments_when_a_track_stalled_mid_inference(deps, song, tmp_path):
    event = upload(song)
    reference = make_deps(tmp_path / "reference", segment_s=10.0)
    run_to_completion(reference, event)
    run_step(event, deps)
    segments = [m for m in _lose_messages(deps) if isinstance(m, SegmentPlanned)]
    run_to_completion(deps, segments[0])  # one segment scored, then the rest is lost
    assert _record(deps, event).state is TrackState.INFERRING

    reconcile(deps, older_than_s=60, now=_later())
    run_to_completion(deps, *deps.publisher.drain())
    record = _record(deps, event)
    assert record.state is TrackState.DONE
    assert record.result == _record(reference, event).result
    assert deps.tagger.patches_seen == reference.tagger.patches_seen  # nothing scored twice
    assert [e.state for e in record.timeline].count("DONE") == 1


def test_reconcile_leaves_a_track_alone_when_it_moved_recently(deps, song):
    run_step(upload(song), deps)
    _lose_messages(deps)
    assert reconcile(deps, older_than_s=60) == 0
    assert deps.publisher.drain() == []


def test_reconcile_ignores_finished_tracks_when_they_are_done_or_failed(deps, song, tmp_path):
    run_to_completion(deps, upload(song))
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    run_to_completion(deps, upload(empty))
    assert reconcile(deps, older_than_s=0, now=_later()) == 0
    assert deps.publisher.drain() == []


def test_reconcile_records_source_gone_when_the_object_version_no_longer_exists(deps, song):
    event = upload(song)
    run_step(event, deps)
    _lose_messages(deps)
    song.unlink()
    assert reconcile(deps, older_than_s=60, now=_later()) == 1
    assert deps.publisher.drain() == []
    record = _record(deps, event)
    assert record.state is TrackState.FAILED
    assert record.error.code == "SOURCE_GONE" and record.error.step == "reconcile"


def test_stalled_tracks_pages_through_every_state_when_there_are_many(deps, monkeypatch):
    monkeypatch.setattr(reconcile_module, "PAGE_SIZE", 2)
    for i in range(5):
        deps.tracks.create_if_absent(new_record(f"file:///music/{i}.flac", str(i), "local", "ingest"))
    stalled = stalled_tracks(deps.tracks, older_than_s=60, now=_later())
    assert sorted(r.source_uri for r in stalled) == [f"file:///music/{i}.flac" for i in range(5)]
    assert stalled_tracks(deps.tracks, older_than_s=3600, now=_later()) == []
