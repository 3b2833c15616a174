"""``trackscan export``: finished tracks as JSON lines, CSV or Parquet, read a page at a time."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import IO, Any, Protocol

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trackscan.cli.cloud_access import require_cloud
from trackscan.domain.config import Config
from trackscan.domain.ports import TrackQueries
from trackscan.domain.result_rows import COLUMNS, TEXT_COLUMNS, TOP_TAGS_COLUMN, WHOLE_COLUMNS, result_row
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.runtimes.bootstrap import track_store

PAGE = 500  # records read per store query: one Firestore read per record, and one page in memory
FINAL_STATES = (TrackState.DONE, TrackState.FAILED)


class RowWriter(Protocol):
    """Writes pages of result rows to one output."""

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Writes a page of rows."""

    def close(self) -> None:
        """Finishes the output (Parquet's footer)."""


class JsonLinesWriter:
    """One JSON object per row per line."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Writes each row as a line."""
        for row in rows:
            self._out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Nothing to finish."""


class CsvWriter:
    """A header, then one line per row; the top tags joined by "; " and None as an empty cell."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.DictWriter(out, fieldnames=COLUMNS)
        self._writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Writes the rows."""
        for row in rows:
            tags = row[TOP_TAGS_COLUMN]
            self._writer.writerow({**row, TOP_TAGS_COLUMN: "; ".join(tags) if tags is not None else None})

    def close(self) -> None:
        """Nothing to finish."""


class ParquetWriter:
    """A Parquet file with one row group per page, typed by a fixed schema (so a page of FAILED tracks has one too)."""

    def __init__(self, path: str) -> None:
        import pyarrow as pa  # imported here: the other formats and commands do without it
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = pa.schema([(column, _arrow_type(pa, column)) for column in COLUMNS])
        self._writer = pq.ParquetWriter(path, self._schema)

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Writes the page as a row group."""
        self._writer.write_table(self._pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        """Writes the footer."""
        self._writer.close()


def _arrow_type(pa: Any, column: str) -> Any:
    if column == TOP_TAGS_COLUMN:
        return pa.list_(pa.string())
    if column in TEXT_COLUMNS:
        return pa.string()
    return pa.int32() if column in WHOLE_COLUMNS else pa.float64()


@click.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default="jsonl",
    show_default=True,
    help="JSON lines, CSV with a header, or Parquet (needs --out).",
)
@click.option(
    "--state",
    type=click.Choice([s.value for s in FINAL_STATES]),
    help="Only DONE or only FAILED tracks (default: both).",
)
@click.option("--since", metavar="TIME", help="Only tracks finished at or after TIME (ISO 8601, e.g. 2026-12-01).")
@click.option(
    "--out", "out_path", metavar="PATH", default="-", show_default=True, help="The file to write (- is stdout)."
)
@click.option(
    "--cloud", is_flag=True, help="Read Firestore (GOOGLE_CLOUD_PROJECT; FIRESTORE_EMULATOR_HOST for the dev stack)."
)
def export(output_format: str, state: str | None, since: str | None, out_path: str, cloud: bool) -> None:
    """Write finished tracks, one row each: ids, state, error, model, descriptors and a column per tag.

    DONE tracks come first, then FAILED ones, each newest first.

    Tag scores are columns named mtt.<tag> and msd.<tag>; the embedding is left out (see `trackscan similar`).
    """
    since_iso = _utc_iso(since) if since else None
    if output_format == "parquet" and out_path == "-":
        raise click.UsageError("Parquet is binary: give a file with --out")
    if cloud:
        require_cloud(("firestore",))
    store = track_store(Config.from_env(), cloud)
    states = (TrackState(state),) if state else FINAL_STATES
    console = Console(stderr=True)
    total = sum(store.count(None, s) for s in states) if console.is_terminal else 0
    progress = Progress(
        TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), console=console, disable=not console.is_terminal
    )
    written = 0
    with ExitStack() as stack:
        writer = _writer(stack, output_format, out_path)
        stack.enter_context(progress)
        task = progress.add_task("tracks", total=total or None)
        for state_ in states:
            for page in finished_pages(store, state_, since_iso):
                writer.write([result_row(record) for record in page])
                written += len(page)
                progress.update(task, advance=len(page))
        writer.close()
    if out_path != "-":
        click.echo(f"{written} tracks written to {out_path}", err=True)


def finished_pages(queries: TrackQueries, state: TrackState, since: str | None) -> Iterator[list[TrackRecord]]:
    """The tracks in ``state``, newest first, a page at a time, stopping at the first updated before ``since``."""
    after: str | None = None
    while True:
        page = queries.query(None, state, PAGE, after)
        kept = [record for record in page if since is None or record.updated_at >= since]
        if kept:
            yield kept
        if len(kept) < len(page) or len(page) < PAGE:
            return
        after = page[-1].track_id


def _writer(stack: ExitStack, output_format: str, out_path: str) -> RowWriter:
    if output_format == "parquet":
        return ParquetWriter(out_path)
    out: IO[str] = (
        sys.stdout if out_path == "-" else stack.enter_context(open(out_path, "w", encoding="utf-8", newline=""))
    )
    return CsvWriter(out) if output_format == "csv" else JsonLinesWriter(out)


def _utc_iso(text: str) -> str:
    """TIME as the stores' ISO 8601 UTC form, so it compares with updated_at as text."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
