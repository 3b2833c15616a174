"""``trackscan run`` end to end: generated audio in every format, bad files, reruns, status."""

import json

import numpy as np
import pytest

from tests.audio_fixtures import ALL_SUFFIXES, bytes_file, music_like, pdf_named, truncated_copy, write_audio
from tests.e2e.conftest import json_lines, run_cli

pytestmark = pytest.mark.e2e
RESULT_FIELDS = {
    "track_id",
    "source",
    "state",
    "duration_s",
    "tags",
    "top_tags",
    "tempo_bpm",
    "key",
    "loudness_lufs",
    "error",
    "tempo_confidence",
    "time_signature",
    "key_confidence",
    "loudness_range_lu",
    "true_peak_dbtp",
}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    for suffix in ALL_SUFFIXES:
        write_audio(folder / f"song{suffix}", music_like(8.0))
    whole = write_audio(folder / "whole.mp3", music_like(30.0))
    truncated_copy(whole, folder / "cut.mp3", 0.4)
    whole.unlink()
    bytes_file(folder / "empty.wav", b"")
    pdf_named(folder / "paper.mp3")
    write_audio(folder / "long.flac", np.zeros(44_100 * 70, np.float32))
    return folder


@pytest.fixture(scope="module")
def first_run(library, tmp_path_factory):
    home = tmp_path_factory.mktemp("home") / ".trackscan"
    done = run_cli(["run", str(library), "--json", "--workers", "2"], home, TRACKSCAN_MAX_DURATION_S="60")
    return home, done


def test_run_exits_1_when_any_track_failed(first_run):
    assert first_run[1].returncode == 1, first_run[1].stderr


@pytest.mark.parametrize("suffix", ALL_SUFFIXES)
def test_run_tags_the_file_when_it_is_in_a_supported_format(first_run, suffix):
    record = json_lines(first_run[1].stdout)[f"song{suffix}"]
    assert set(record) >= RESULT_FIELDS
    assert record["state"] == "DONE"
    assert record["duration_s"] == pytest.approx(8.0, abs=0.15)
    assert len(record["tags"]["mtt"]) == 50 and len(record["tags"]["msd"]) == 50
    assert all(0.0 <= s <= 1.0 for s in record["tags"]["mtt"].values())
    assert len(record["top_tags"]) == 5
    assert record["tempo_bpm"] == pytest.approx(120, abs=0.5)
    assert record["key"] == "C major"
    assert -40 < record["loudness_lufs"] < 0
    assert record["true_peak_dbtp"] >= record["loudness_lufs"] and 0 <= record["tempo_confidence"] <= 1
    assert record["error"] is None


@pytest.mark.parametrize(
    ("name", "code"),
    [("cut.mp3", "TRUNCATED"), ("empty.wav", "EMPTY"), ("paper.mp3", "UNSUPPORTED"), ("long.flac", "TOO_LONG")],
)
def test_run_reports_failed_with_a_code_when_the_file_is_bad(first_run, name, code):
    record = json_lines(first_run[1].stdout)[name]
    assert record["state"] == "FAILED"
    assert record["error"]["code"] == code
    assert record["error"]["message"]


def test_run_gives_the_same_scores_for_the_same_audio_when_formats_are_lossless(first_run):
    records = json_lines(first_run[1].stdout)
    wav, flac = records["song.wav"]["tags"]["mtt"], records["song.flac"]["tags"]["mtt"]
    # The two encoders round a few samples differently (one 16-bit step), nothing more.
    assert max(abs(wav[tag] - flac[tag]) for tag in wav) < 1e-3


def test_rerun_skips_finished_tracks_when_nothing_changed(first_run, library):
    home, first = first_run
    again = run_cli(["run", str(library), "--json"], home, TRACKSCAN_MAX_DURATION_S="60")
    assert again.returncode == 1
    assert json_lines(again.stdout) == json_lines(first.stdout)
    status = run_cli(["status", str(library / "song.flac"), "--json"], home)
    timeline = json.loads(status.stdout)["timeline"]
    assert [e["state"] for e in timeline] == ["RECEIVED", "EXTRACTING", "INFERRING", "DONE"]


def test_status_shows_the_error_when_a_track_failed(first_run, library):
    home, _ = first_run
    shown = run_cli(["status", str(library / "paper.mp3")], home)
    assert shown.returncode == 0
    assert "FAILED" in shown.stdout and "UNSUPPORTED" in shown.stdout


def test_status_fails_with_a_message_when_the_track_is_unknown(first_run):
    shown = run_cli(["status", "tnothing"], first_run[0])
    assert shown.returncode == 1
    assert "No track tnothing" in shown.stderr


def test_run_prints_a_table_when_json_is_not_asked(first_run, library):
    shown = run_cli(["run", str(library / "song.wav")], first_run[0])
    assert shown.returncode == 0
    assert "song.wav" in shown.stdout and "C major" in shown.stdout and "120.0" in shown.stdout


def test_run_reports_a_missing_path_and_tags_the_rest_when_one_path_is_absent(first_run, library, tmp_path):
    shown = run_cli(["run", str(tmp_path / "absent.ogg"), str(library / "song.wav"), "--json"], first_run[0])
    assert shown.returncode == 1
    assert f"not found: {tmp_path / 'absent.ogg'}" in shown.stderr
    assert json_lines(shown.stdout)["song.wav"]["state"] == "DONE"


def test_run_is_a_usage_error_when_no_audio_file_is_found(first_run, tmp_path):
    (tmp_path / "notes.txt").write_text("not audio")
    shown = run_cli(["run", str(tmp_path)], first_run[0])
    assert shown.returncode == 2
    assert "no audio files found" in shown.stderr
    assert "skipped 1 file(s) whose names are not audio" in shown.stderr


def test_run_names_skipped_files_when_verbose(first_run, tmp_path):
    write_audio(tmp_path / "a.wav", music_like(4.0))
    (tmp_path / "cover.jpg").write_bytes(b"\xff\xd8")
    shown = run_cli(["run", str(tmp_path), "--verbose", "--json"], first_run[0])
    assert shown.returncode == 0, shown.stderr
    assert "skipped 1 file(s) whose names are not audio" in shown.stderr
    assert str(tmp_path / "cover.jpg") in shown.stderr


@pytest.mark.parametrize(("log_format", "is_json"), [("auto", True), ("json", True), ("text", False)])
def test_run_logs_json_unless_text_is_asked_when_stderr_is_not_a_terminal(first_run, library, log_format, is_json):
    shown = run_cli(
        ["run", str(library / "song.wav"), "--json", "--force", "--log-format", log_format],
        first_run[0],
        TRACKSCAN_LOG_LEVEL="INFO",
    )
    lines = [line for line in shown.stderr.splitlines() if "step finished" in line]
    assert lines, shown.stderr
    assert all(line.startswith("{") for line in lines) is is_json
    if not is_json:
        assert all("track_id=t" in line for line in lines)


def test_run_prints_our_audio_features_when_json_is_asked_in_that_format(first_run, library):
    shown = run_cli(["run", str(library / "song.wav"), "--json", "--format", "audio-features"], first_run[0])
    assert shown.returncode == 0, shown.stderr
    features = json_lines(shown.stdout)["song.wav"]
    assert (features["key"], features["mode"], features["time_signature"]) == (0, 1, 4)
    assert features["tempo"] == pytest.approx(120, abs=0.5) and features["duration_ms"] == pytest.approx(8000, abs=150)
    assert all(0 <= features[name] <= 1 for name in ("danceability", "energy", "valence", "instrumentalness"))


def test_run_refuses_the_audio_features_format_when_json_is_not_asked(first_run, library):
    shown = run_cli(["run", str(library / "song.wav"), "--format", "audio-features"], first_run[0])
    assert shown.returncode == 2 and "--json" in shown.stderr
