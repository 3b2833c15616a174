"""How track records are shown: one JSON object per line, or a table for people."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from trackscan.domain.audio_features import audio_features
from trackscan.domain.display import object_name, shown
from trackscan.domain.explain import explanation
from trackscan.domain.file_uris import path_of
from trackscan.domain.tracks import TrackRecord


def source_label(record: TrackRecord) -> str:
    """The file path for local sources, the URI otherwise."""
    if record.source_uri.startswith("file://"):
        return str(path_of(record.source_uri))
    return record.source_uri


def shown_label(record: TrackRecord) -> str:
    """source_label safe for a terminal: control and bidi characters escaped visibly (trackscan.domain.display)."""
    return shown(source_label(record))


def file_cell(record: TrackRecord) -> Text:
    """A table's file column, escaped and never read as rich markup.

    The local file's name, or the whole object name under the partner's folder.
    """
    if record.source_uri.startswith("file://"):
        return Text(shown(path_of(record.source_uri).name))
    return Text(shown(object_name(record.source_uri, record.partner)))


def track_json(record: TrackRecord) -> dict[str, Any]:
    """The ``trackscan run --json`` object of a track (the same shape as the cloud record's result)."""
    result = record.result
    return {
        "track_id": record.track_id,
        "source": source_label(record),
        "state": record.state.value,
        "duration_s": result.duration_s if result else None,
        "tags": result.tags if result else None,
        "top_tags": result.top_tags if result else [],
        "tempo_bpm": result.tempo_bpm if result else None,
        "tempo_confidence": result.tempo_confidence if result else None,
        "time_signature": result.time_signature if result else None,
        "key": result.key if result else None,
        "key_confidence": result.key_confidence if result else None,
        "loudness_lufs": result.loudness_lufs if result else None,
        "loudness_range_lu": result.loudness_range_lu if result else None,
        "true_peak_dbtp": result.true_peak_dbtp if result else None,
        "embedding": result.embedding if result else None,
        "model": asdict(record.model) if record.model else None,
        "error": {"code": record.error.code, "message": record.error.message} if record.error else None,
        "reused": asdict(record.reused) if record.reused else None,
    }


def audio_features_json(record: TrackRecord) -> dict[str, Any]:
    """The ``--format audio-features`` object: our audio features, or the error of a failed track."""
    features = audio_features(record)
    if features is not None:
        return {"source": source_label(record), **asdict(features)}
    error = {"code": record.error.code, "message": record.error.message} if record.error else None
    return {"source": source_label(record), "id": record.track_id, "state": record.state.value, "error": error}


def json_line(record: TrackRecord, json_format: str = "track") -> str:
    """The record as one line of compact JSON (``trackscan run --json``), in the chosen shape."""
    shape = audio_features_json if json_format == "audio-features" else track_json
    return json.dumps(shape(record), separators=(",", ":"))


def results_table(records: list[TrackRecord]) -> Table:
    """A table with one row per track: its result, or its state and error when it has none."""
    table = Table(show_lines=False)
    for column in ("file", "duration", "top tags", "BPM", "key", "loudness"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*_row(record))
    return table


def _row(record: TrackRecord) -> list[str | Text]:
    name = file_cell(record)
    result = record.result
    if result is None:
        error = (
            Text.assemble((record.state.value, "red"), f" {record.error.code}: {shown(record.error.message)}")
            if record.error
            else ""
        )
        return [name, "", error, "", "", ""]
    minutes, seconds = divmod(round(result.duration_s), 60)
    return [
        name,
        f"{minutes}:{seconds:02d}",
        ", ".join(result.top_tags),
        f"{result.tempo_bpm:.1f}" if result.tempo_bpm else "-",
        result.key or "-",
        f"{result.loudness_lufs:.1f} LUFS" if result.loudness_lufs is not None else "-",
    ]


def print_status(console: Console, record: TrackRecord, segments_done: int | None = None) -> None:
    """The support view of one track: state, why it is there, segments, timeline and error."""
    # Data goes out escaped (trackscan.domain.display) and never as rich markup: a partner names its objects.
    lines = [
        f"track    {record.track_id}",
        f"source   {shown_label(record)} (generation {shown(record.generation)})",
        f"partner  {shown(record.partner)}",
        f"state    {record.state.value}",
        f"why      {shown(explanation(record))}",
    ]
    if record.segments_total and segments_done is not None and not record.state.is_final:
        lines.append(f"segments {segments_done} of {record.segments_total} scored")
    elif record.segments_total:
        lines.append(f"segments {record.segments_total}")
    if record.error:
        lines.append(f"error    {record.error.code} in {record.error.step}: {shown(record.error.message)}")
    if record.result:
        lines.append(f"tags     {', '.join(record.result.top_tags)}")
    lines.append("timeline")
    lines += [f"  {event.time}  {event.state:<10} {event.step} (attempt {event.attempt})" for event in record.timeline]
    for line in lines:
        console.print(line, markup=False, highlight=False)
