"""reconcile: stalled tracks are replayed through ingest, and finish without redoing work."""

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from trackscan.domain.messages import SegmentPlanned, TrackFinished, UploadReceived
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState, new_record
from trackscan.pipeline.reconcile import Pass, reconcile, stalled_tracks
from trackscan.pipeline.step_policy import run_step

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
    assert _record(deps, event).state is TrackState.EXTRACTING

    assert reconcile(deps, older_than_s=60, now=_later()) == Pass(replayed=1)
    (replayed,) = deps.publisher.drain()
    assert replayed == UploadReceived(event.source_uri, event.generation, event.size_bytes, "acme")
    run_to_completion(deps, replayed)
    assert _record(deps, event).state is TrackState.DONE


def test_reconcile_replays_a_stuck_track_once_per_threshold_when_passes_run_more_often(deps, song):
    threshold_s = 1.0  # real time: the replay's note is stamped by the clock, not by ``now``
    event = upload(song)
    run_step(event, deps)
    _lose_messages(deps)
    time.sleep(threshold_s + 0.1)
    assert reconcile(deps, older_than_s=threshold_s).replayed == 1
    deps.publisher.drain()  # the replay is lost too: the track stays stuck

    record = _record(deps, event)
    assert (record.state, record.timeline[-1].step) == (TrackState.EXTRACTING, "reconcile")
    assert reconcile(deps, older_than_s=threshold_s).stalled == 0  # the next pass: noted, so not replayed
    assert deps.publisher.drain() == []
    time.sleep(threshold_s + 0.1)
    assert reconcile(deps, older_than_s=threshold_s).replayed == 1  # a threshold after the replay: again


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
    assert reconcile(deps, older_than_s=60).stalled == 0
    assert deps.publisher.drain() == []


def test_reconcile_ignores_finished_tracks_when_they_are_done_or_failed(deps, song, tmp_path):
    run_to_completion(deps, upload(song))
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    run_to_completion(deps, upload(empty))
    assert reconcile(deps, older_than_s=0, now=_later()).stalled == 0
    assert deps.publisher.drain() == []


def test_reconcile_records_source_gone_when_the_object_version_no_longer_exists(deps, song):
    event = upload(song)
    run_step(event, deps)
    _lose_messages(deps)
    song.unlink()
    assert reconcile(deps, older_than_s=60, now=_later()) == Pass(source_gone=1)
    (announced,) = deps.publisher.drain()  # no replay: only the FAILED track's result event
    record = _record(deps, event)
    assert isinstance(announced, TrackFinished) and announced.track_id == record.track_id
    assert record.state is TrackState.FAILED
    assert record.error.code == "SOURCE_GONE" and record.error.step == "reconcile"


def _stalled_at(deps, minutes_ago: int, state: TrackState = TrackState.RECEIVED) -> str:
    """A record in state, last updated minutes_ago; returns its source URI."""
    when = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")
    uri = f"file:///music/{minutes_ago}.flac"
    deps.tracks.create_if_absent(replace(new_record(uri, "1", "local", "ingest"), state=state, updated_at=when))
    return uri


def test_stalled_tracks_lists_the_oldest_first_across_states_when_over_the_limit(deps):
    uris = {
        minutes: _stalled_at(deps, minutes, state)
        for minutes, state in (
            (30, TrackState.RECEIVED),
            (50, TrackState.INFERRING),
            (10, TrackState.RECEIVED),
            (40, TrackState.EXTRACTING),
            (20, TrackState.EXTRACTING),
        )
    }
    now = datetime.now(UTC)
    assert [r.source_uri for r in stalled_tracks(deps.queries, 15 * 60, now, limit=3)] == [uris[50], uris[40], uris[30]]
    assert [r.source_uri for r in stalled_tracks(deps.queries, 15 * 60, now, limit=10)] == [
        uris[50],
        uris[40],
        uris[30],
        uris[20],
    ]  # 10 minutes is not stalled yet


def test_reconcile_replays_at_most_the_limit_when_a_backlog_is_stalled(deps, tmp_path):
    for i in range(5):
        path = tmp_path / f"{i}.wav"
        path.write_bytes(b"RIFF")
        event = upload(path)
        deps.tracks.create_if_absent(new_record(event.source_uri, event.generation, "local", "ingest"))
    assert reconcile(deps, older_than_s=60, limit=2, now=_later()) == Pass(replayed=2)
    assert len(deps.publisher.drain()) == 2
