"""A finished track as one flat row: what ``trackscan export`` writes, one column per tag score.

Tags are columns (``mtt.rock``, ``msd.jazz``) so a spreadsheet or a SQL engine reads a score
without unpacking a map. The embedding stays out: 200 floats a row would make most of the file,
and ``trackscan similar`` is what reads it.
"""

from __future__ import annotations

from typing import Any

from trackscan.domain.labels import MSD_TAGS, MTT_TAGS
from trackscan.domain.tracks import TrackRecord

RECORD_COLUMNS = (
    "track_id",
    "partner",
    "source_uri",
    "generation",
    "state",
    "created_at",
    "updated_at",
    "error_code",
    "error_message",
    "error_step",
    "model_name",
    "model_sha256",
    "model_variant",
    "rerun_of",
)
DESCRIPTOR_COLUMNS = (
    "duration_s",
    "tempo_bpm",
    "tempo_confidence",
    "time_signature",
    "key",
    "key_confidence",
    "loudness_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
)
TOP_TAGS_COLUMN = "top_tags"  # a list: the row's only column that is not a scalar
TAG_COLUMNS = tuple(f"mtt.{tag}" for tag in MTT_TAGS) + tuple(f"msd.{tag}" for tag in MSD_TAGS)
COLUMNS = RECORD_COLUMNS + DESCRIPTOR_COLUMNS + (TOP_TAGS_COLUMN,) + TAG_COLUMNS
TEXT_COLUMNS = frozenset(RECORD_COLUMNS + ("key",))
WHOLE_COLUMNS = frozenset(("time_signature",))  # integers; every other descriptor and tag is a float


def result_row(record: TrackRecord) -> dict[str, Any]:
    """The record as a row of COLUMNS; a FAILED track has its error and None for every result column."""
    error, model, result = record.error, record.model, record.result
    row: dict[str, Any] = {
        "track_id": record.track_id,
        "partner": record.partner,
        "source_uri": record.source_uri,
        "generation": record.generation,
        "state": record.state.value,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "error_code": error.code if error else None,
        "error_message": error.message if error else None,
        "error_step": error.step if error else None,
        "model_name": model.name if model else None,
        "model_sha256": model.sha256 if model else None,
        "model_variant": model.variant if model else None,
        "rerun_of": record.rerun_of,
    }
    for column in DESCRIPTOR_COLUMNS:
        row[column] = getattr(result, column) if result else None
    row[TOP_TAGS_COLUMN] = list(result.top_tags) if result else None
    scores = result.tags if result else {}
    for column in TAG_COLUMNS:
        head, _, tag = column.partition(".")
        row[column] = scores.get(head, {}).get(tag)
    return row
