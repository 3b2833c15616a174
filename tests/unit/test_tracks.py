from rich.console import Console

from trackscan.cli.output import audio_features_json, results_table, track_json
from trackscan.domain.tracks import TrackRecord, TrackState

# A DONE record as finalize wrote it before issue 11: no confidences, metre, LRA or true peak.
OLD_RECORD = {
    "track_id": "t0123456789abcdef01234567",
    "source_uri": "file:///music/old.ogg",
    "generation": "1700000000",
    "partner": "local",
    "state": "DONE",
    "timeline": [
        {"state": "RECEIVED", "time": "2026-11-01T10:00:00.000+00:00", "step": "ingest", "attempt": 1},
        {"state": "DONE", "time": "2026-11-01T10:00:03.000+00:00", "step": "finalize", "attempt": 1},
    ],
    "segments_total": 1,
    "error": None,
    "result": {
        "tags": {"mtt": {"guitar": 0.5}, "msd": {"rock": 0.25}},
        "top_tags": ["guitar", "rock"],
        "tempo_bpm": 117.2,
        "key": "C major",
        "loudness_lufs": -14.0,
        "duration_s": 60.0,
        "embedding": [0.5, 0.25],
    },
    "model": {"name": "musicnn", "sha256": "ab" * 32},
    "created_at": "2026-11-01T10:00:00.000+00:00",
    "updated_at": "2026-11-01T10:00:03.000+00:00",
}


def test_track_record_reads_an_old_record_when_its_result_lacks_the_new_descriptors():
    record = TrackRecord.from_dict(OLD_RECORD)
    assert record.state is TrackState.DONE and record.result is not None
    assert (record.result.tempo_bpm, record.result.key, record.result.loudness_lufs) == (117.2, "C major", -14.0)
    new_fields = ("tempo_confidence", "time_signature", "key_confidence", "loudness_range_lu", "true_peak_dbtp")
    assert [getattr(record.result, name) for name in new_fields] == [None] * 5
    assert TrackRecord.from_dict(record.to_dict()) == record


def test_track_json_carries_the_new_descriptors_as_null_when_the_record_is_old():
    shown = track_json(TrackRecord.from_dict(OLD_RECORD))
    assert shown["tempo_bpm"] == 117.2 and shown["loudness_range_lu"] is None and shown["true_peak_dbtp"] is None


def test_results_table_shows_bpm_with_one_decimal_when_a_track_is_done():
    console = Console(width=200, record=True)
    console.print(results_table([TrackRecord.from_dict(OLD_RECORD)]))
    assert "117.2" in console.export_text()


def test_audio_features_json_names_the_source_when_a_track_is_done():
    shown = audio_features_json(TrackRecord.from_dict(OLD_RECORD))
    assert shown["source"] == "/music/old.ogg" and shown["id"] == OLD_RECORD["track_id"]
    assert (shown["tempo"], shown["key"], shown["mode"], shown["time_signature"]) == (117.2, 0, 1, None)


def test_audio_features_json_carries_the_error_when_a_track_failed():
    failed = {
        **OLD_RECORD,
        "state": "FAILED",
        "result": None,
        "error": {"code": "CORRUPT", "message": "The file is not audio.", "step": "features"},
    }
    shown = audio_features_json(TrackRecord.from_dict(failed))
    assert shown["state"] == "FAILED" and shown["error"]["code"] == "CORRUPT"
