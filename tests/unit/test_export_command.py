"""``trackscan export``: 1,000 SQLite records round-trip through JSON lines, CSV and Parquet."""

from __future__ import annotations

import csv
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.cli import export_command
from trackscan.cli.main import cli
from trackscan.domain.config import Config
from trackscan.domain.labels import MSD_TAGS, MTT_TAGS
from trackscan.domain.result_rows import COLUMNS, TAG_COLUMNS, TEXT_COLUMNS, TOP_TAGS_COLUMN, result_row
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.tracks import ErrorInfo, TrackState, new_record
from trackscan.domain.transitions import Transition

TRACKS = 1000
FAILED_EVERY = 7  # every 7th track FAILED, the rest DONE
IN_FLIGHT = 5  # tracks still RECEIVED: never exported


def _result(i: int) -> TrackResult:
    tags = {
        "mtt": {tag: (i * 31 + n) % 997 / 997 for n, tag in enumerate(MTT_TAGS)},
        "msd": {tag: (i * 17 + n) % 991 / 991 for n, tag in enumerate(MSD_TAGS)},
    }
    no_answer = i % 10 == 0  # the audio gave no tempo or key: None must survive every format
    return TrackResult(
        tags=tags,
        top_tags=["rock", "guitar, loud", 'say "hi"'][: 1 + i % 3],
        tempo_bpm=None if no_answer else 60 + i % 120 + 0.25,
        key=None if no_answer else ("C major", "Bb major", "F# minor")[i % 3],
        loudness_lufs=-14.5 - i % 9,
        duration_s=30.0 + i,
        embedding=[0.1] * 200,
        tempo_confidence=None if no_answer else 0.5,
        time_signature=None if no_answer else 3 + i % 2,
        key_confidence=0.25,
        loudness_range_lu=6.0,
        true_peak_dbtp=-1.0,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A state folder holding TRACKS finished tracks and a few in flight."""
    home = tmp_path_factory.mktemp("home")
    store = SqliteTrackStore(Config.from_env({"TRACKSCAN_HOME": str(home)}).state_db_path)
    model = ModelInfo("musicnn", "ab" * 32, "openvino-fp32")
    for i in range(TRACKS + IN_FLIGHT):
        record = store.create_if_absent(new_record(f"gs://ingest/acme/track {i:04d}.mp3", "1", "acme", "ingest"))
        if i >= TRACKS:
            continue
        if i % FAILED_EVERY == 0:
            error = ErrorInfo("UNDECODABLE", f"no audio stream, 'track {i}'\nline two", "ingest")
            transition = Transition(TrackState.FAILED, "ingest", error=error)
        else:
            transition = Transition(TrackState.DONE, "finalize", result=_result(i), model=model)
        assert store.apply(record.track_id, transition) is not None
    return home


@pytest.fixture
def expected(home):
    store = SqliteTrackStore(Config.from_env({"TRACKSCAN_HOME": str(home)}).state_db_path)
    finished = (TrackState.DONE, TrackState.FAILED)
    rows = [result_row(r) for state in finished for r in store.query(None, state, 2000, None)]
    assert len(rows) == TRACKS
    return rows


def _export(home, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("TRACKSCAN_HOME", str(home))
    monkeypatch.setattr(export_command, "PAGE", 128)  # several pages, the last one short
    done = CliRunner().invoke(cli, ["export", *args])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_jsonl_round_trips_every_finished_track_in_order(home, monkeypatch, expected):
    lines = _export(home, monkeypatch).splitlines()
    assert [json.loads(line) for line in lines] == expected


def test_csv_round_trips_every_finished_track(home, monkeypatch, expected, tmp_path):
    out = tmp_path / "tracks.csv"
    _export(home, monkeypatch, "--format", "csv", "--out", str(out))
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TRACKS and list(rows[0]) == list(COLUMNS)
    for row, want in zip(rows, expected, strict=True):
        assert row == {column: _as_csv_cell(column, want[column]) for column in COLUMNS}


def _as_csv_cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if column == TOP_TAGS_COLUMN:
        return "; ".join(value)  # type: ignore[arg-type]
    return value if column in TEXT_COLUMNS else repr(value)  # type: ignore[return-value]


def test_parquet_round_trips_every_finished_track_with_types(home, monkeypatch, expected, tmp_path):
    out = tmp_path / "tracks.parquet"
    _export(home, monkeypatch, "--format", "parquet", "--out", str(out))
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert str(table.schema.field("time_signature").type) == "int32"
    assert table.schema.field(TOP_TAGS_COLUMN).type.value_type == pa.string()
    assert table.to_pylist() == expected
    failed = math.ceil(TRACKS / FAILED_EVERY)
    assert pq.ParquetFile(out).num_row_groups == math.ceil((TRACKS - failed) / 128) + math.ceil(failed / 128)


def test_state_and_since_filter_rows(home, monkeypatch, expected):
    failed = [json.loads(line) for line in _export(home, monkeypatch, "--state", "FAILED").splitlines()]
    assert failed == [row for row in expected if row["state"] == "FAILED"] and len(failed) == math.ceil(
        TRACKS / FAILED_EVERY
    )
    done = [row for row in expected if row["state"] == "DONE"]
    since = done[99]["updated_at"]  # newest first: the 100 newest (and any tied with the 100th) are kept
    args = ("--state", "DONE", "--since", since)
    recent = [json.loads(line) for line in _export(home, monkeypatch, *args).splitlines()]
    assert recent == [row for row in done if row["updated_at"] >= since] and len(recent) >= 100
    assert _export(home, monkeypatch, "--since", "2999-01-01T00:00:00+00:00") == ""


def test_tag_columns_name_each_model_output_once():
    assert len(TAG_COLUMNS) == len(set(TAG_COLUMNS)) == len(MTT_TAGS) + len(MSD_TAGS) == 100


def test_parquet_to_stdout_and_a_bad_time_are_refused(home, monkeypatch):
    monkeypatch.setenv("TRACKSCAN_HOME", str(home))
    assert "give a file with --out" in CliRunner().invoke(cli, ["export", "--format", "parquet"]).output
    assert "not an ISO 8601 time" in CliRunner().invoke(cli, ["export", "--since", "last tuesday"]).output
