import pytest

from tests.audio_fixtures import bytes_file, pdf_named
from tests.pipeline_fixtures import make_deps, run_to_completion, upload
from trackscan.domain.errors import RetryableError
from trackscan.domain.messages import FeaturesReady, SegmentPlanned, UploadReceived
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState
from trackscan.pipeline.deps import track_prefix
from trackscan.pipeline.step_policy import handle_dead_letter


def _record(deps, message: UploadReceived):
    return deps.tracks.get(track_id_for(message.source_uri, message.generation))


def test_pipeline_finishes_a_track_when_it_spans_three_segments(deps, song):
    event = upload(song)
    handled = run_to_completion(deps, event)
    record = _record(deps, event)
    assert record.state is TrackState.DONE
    assert record.segments_total == 3
    assert sum(isinstance(m, SegmentPlanned) for m in handled) == 3
    assert record.result.duration_s == pytest.approx(25.0, abs=0.1)
    assert len(record.result.tags["mtt"]) == 50 and len(record.result.tags["msd"]) == 50
    assert len(record.result.top_tags) == 5
    assert record.result.tempo_bpm == pytest.approx(120, abs=0.5)
    assert record.result.key == "C major"
    assert record.result.loudness_range_lu is not None and record.result.true_peak_dbtp is not None
    assert record.model.name == "patch-stats"
    assert [e.state for e in record.timeline] == ["RECEIVED", "EXTRACTING", "INFERRING", "DONE"]


def test_pipeline_deletes_work_blobs_when_the_result_is_committed(deps, song):
    event = upload(song)
    run_to_completion(deps, event)
    assert deps.blobs.list_uris(track_prefix(deps, _record(deps, event).track_id)) == []


def test_pipeline_yields_one_result_when_every_message_is_delivered_twice(deps, song, tmp_path):
    event = upload(song)
    reference_deps = make_deps(tmp_path / "reference", segment_s=10.0)
    run_to_completion(reference_deps, event)
    handled = run_to_completion(deps, event, event, event, event, event)
    # Redeliver every intermediate message after the track finished: nothing may change.
    run_to_completion(deps, *[m for m in handled if not isinstance(m, UploadReceived)])
    record = _record(deps, event)
    assert record.result == _record(reference_deps, event).result
    assert [e.state for e in record.timeline].count("DONE") == 1


def test_features_and_infer_skip_done_work_when_a_segment_is_redelivered_mid_track(deps, song):
    event = upload(song)
    segments = _plan_only(deps, event)
    run_to_completion(deps, segments[0])
    scored_once = deps.tagger.patches_seen
    run_to_completion(deps, segments[0])  # a duplicate delivery mid-track
    assert deps.tagger.patches_seen == scored_once
    run_to_completion(deps, *segments[1:])
    assert _record(deps, event).state is TrackState.DONE


def _plan_only(deps, event):
    from trackscan.pipeline.step_policy import run_step

    run_step(event, deps)
    return deps.publisher.drain()


def test_rerun_resumes_without_redoing_finished_segments_when_the_queue_was_lost(deps, song, tmp_path):
    event = upload(song)
    reference = make_deps(tmp_path / "reference", segment_s=10.0)
    run_to_completion(reference, event)
    segments = _plan_only(deps, event)
    run_to_completion(deps, segments[0])  # segment 0 scored, then the process "dies"
    run_to_completion(deps, event)  # the rerun republishes the unfinished track
    assert _record(deps, event).state is TrackState.DONE
    assert deps.tagger.patches_seen == reference.tagger.patches_seen  # nothing scored twice


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: bytes_file(d / "empty.mp3", b""), "EMPTY"),
        (lambda d: pdf_named(d / "paper.mp3"), "UNSUPPORTED"),
    ],
    ids=["zero-byte", "pdf"],
)
def test_pipeline_records_failed_with_a_code_when_the_file_is_bad(deps, tmp_path, make, code):
    event = upload(make(tmp_path))
    run_to_completion(deps, event)
    record = _record(deps, event)
    assert record.state is TrackState.FAILED
    assert record.error.code == code and record.error.step == "ingest"


def test_pipeline_fails_too_large_when_the_file_exceeds_the_size_cap(tmp_path, song):
    deps = make_deps(tmp_path / "home", max_file_bytes=1000)
    event = upload(song)
    run_to_completion(deps, event)
    assert _record(deps, event).error.code == "TOO_LARGE"


def test_dead_letter_marks_the_track_failed_when_retries_are_exhausted(deps, song):
    event = upload(song)
    segments = _plan_only(deps, event)
    handle_dead_letter(segments[1], "RetryableError: model not ready", deps, attempts=5)
    record = _record(deps, event)
    assert record.state is TrackState.FAILED
    assert record.error.code == "RETRIES_EXHAUSTED"
    assert "model not ready" in record.error.message
    # Messages still in flight for the failed track change nothing.
    run_to_completion(deps, *segments)
    assert _record(deps, event).state is TrackState.FAILED


def test_new_generation_is_a_new_track_when_the_object_is_overwritten(deps, song):
    first = upload(song)
    second = UploadReceived(first.source_uri, first.generation + "1", first.size_bytes)
    run_to_completion(deps, first, second)
    assert _record(deps, first).track_id != _record(deps, second).track_id
    assert _record(deps, second).state is TrackState.DONE


def test_force_redoes_a_finished_track_when_asked(deps, song):
    event = upload(song)
    run_to_completion(deps, event)
    seen = deps.tagger.patches_seen
    run_to_completion(deps, upload(song, force=True))
    assert deps.tagger.patches_seen == 2 * seen
    assert _record(deps, event).state is TrackState.DONE


def test_unknown_track_is_ignored_when_a_stray_message_arrives(deps):
    run_to_completion(deps, FeaturesReady("tunknown", 0, 1, "file:///nowhere.npz"))
    assert deps.tracks.get("tunknown") is None


def test_features_step_fails_source_gone_when_the_file_was_deleted_mid_track(deps, song):
    event = upload(song)
    segments = _plan_only(deps, event)
    song.unlink()
    run_to_completion(deps, *segments)
    record = _record(deps, event)
    assert record.state is TrackState.FAILED
    assert (record.error.code, record.error.step) == ("SOURCE_GONE", "features")


class _UnreachableTagger:
    def predict(self, patches):
        raise RetryableError("Triton unreachable at localhost:8001")

    def model_info(self):
        raise RetryableError("Triton unreachable at localhost:8001")


def test_record_names_infer_and_keeps_the_failed_attempt_when_inference_keeps_failing(deps, song):
    from dataclasses import replace

    from trackscan.domain.explain import explanation
    from trackscan.pipeline.step_policy import run_step

    event = upload(song)
    (first, *_) = _plan_only(deps, event)
    run_step(first, deps)
    (ready,) = deps.publisher.drain()
    failing = replace(deps, tagger=_UnreachableTagger())
    for attempt in (1, 2, 3):
        with pytest.raises(RetryableError):
            run_step(ready, failing, attempt=attempt)
    record = _record(deps, event)
    assert record.state is TrackState.INFERRING and record.error is None
    assert (record.last_failed_attempt.step, record.last_failed_attempt.attempt) == ("infer", 3)
    assert explanation(record).startswith("infer attempt 3 failed ")
    assert explanation(record).endswith("Triton unreachable at localhost:8001 (segment 1 of 3)")
