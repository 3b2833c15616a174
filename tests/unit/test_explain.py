"""A stuck track explains itself from its record."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from trackscan.domain.explain import explanation
from trackscan.domain.tracks import ErrorInfo, FailedAttempt, TrackState, new_record
from trackscan.domain.transitions import Transition

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")


def _inferring(updated_s_ago: float):
    record = new_record("gs://b/p/a.ogg", "1", "p", "ingest")
    record = Transition(TrackState.EXTRACTING, "ingest", segments_total=4).apply(record)
    record = Transition(TrackState.INFERRING, "infer").apply(record)
    return replace(record, updated_at=_at(updated_s_ago))


def test_explanation_names_step_attempt_age_and_error_when_an_attempt_failed_since():
    failed = FailedAttempt("infer", 6, "RetryableError: Triton unreachable", _at(20), segment_index=1)
    record = replace(_inferring(300), last_failed_attempt=failed)
    assert explanation(record, NOW) == (
        "infer attempt 6 failed 20 s ago: RetryableError: Triton unreachable (segment 2 of 4)"
    )


def test_explanation_ignores_an_old_failure_when_the_track_moved_on_after_it():
    failed = FailedAttempt("features", 2, "TimeoutError: decode", _at(600))
    record = replace(_inferring(180), last_failed_attempt=failed)
    assert explanation(record, NOW) == "INFERRING for 3 min since infer; no failed attempt recorded since"


def test_explanation_gives_code_and_message_when_failed():
    record = Transition(TrackState.FAILED, "features", error=ErrorInfo("CORRUPT", "Not audio.", "features")).apply(
        new_record("gs://b/p/a.ogg", "1", "p", "ingest")
    )
    assert explanation(record, NOW) == "failed in features: CORRUPT: Not audio."


def test_track_record_reads_old_dict_when_it_lacks_the_failed_attempt():
    data = new_record("gs://b/p/a.ogg", "1", "p", "ingest").to_dict()
    del data["last_failed_attempt"]
    from trackscan.domain.tracks import TrackRecord

    record = TrackRecord.from_dict(data)
    assert (record.state, record.last_failed_attempt) == (TrackState.RECEIVED, None)
