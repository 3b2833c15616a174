"""``trackscan similar``: the tracks that sound most like one, from the local store or Firestore."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from trackscan.cli.cloud_access import require_cloud
from trackscan.cli.lookup import find_track
from trackscan.cli.output import file_cell, shown_label, source_label
from trackscan.domain.config import Config
from trackscan.domain.ports import TrackStore
from trackscan.domain.similarity import DEFAULT_LIMIT, MAX_LIMIT, Neighbour
from trackscan.pipeline.similar import similar_tracks
from trackscan.runtimes.bootstrap import track_store


@click.command()
@click.argument("track")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="How many tracks to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per track per line.")
@click.option(
    "--cloud", is_flag=True, help="Search Firestore (GOOGLE_CLOUD_PROJECT; FIRESTORE_EMULATOR_HOST for the dev stack)."
)
def similar(track: str, limit: int, as_json: bool, cloud: bool) -> None:
    """List the tracks that sound most like TRACK, closest first.

    TRACK is a DONE track's id, file path, URI or bare file name (tag a new file with `trackscan
    run` first). Only tracks of the same partner are searched. Similarity is the cosine of the
    tracks' search vectors (their musicnn embeddings and tag scores): 1 is the same sound.
    """
    store = _store(Config.from_env(), cloud)
    record = find_track(store, track)
    try:
        neighbours = similar_tracks(store, record, limit)
    except ValueError as exc:
        raise click.ClickException(f"{exc}; see `trackscan status {record.track_id}`") from None
    if as_json:
        for neighbour in neighbours:
            click.echo(json.dumps(_json(neighbour), separators=(",", ":")))
        return
    console = Console(soft_wrap=True)
    console.print(
        f"tracks like {shown_label(record)} ({', '.join(record.result.top_tags) if record.result else ''})",
        markup=False,
        highlight=False,
    )
    console.print(_table(neighbours))


def _store(config: Config, cloud: bool) -> TrackStore:
    if cloud:
        require_cloud(("firestore",))
    return track_store(config, cloud)


def _json(neighbour: Neighbour) -> dict[str, object]:
    record = neighbour.record
    return {
        "track_id": record.track_id,
        "source": source_label(record),
        "similarity": round(neighbour.similarity, 4),
        "top_tags": record.result.top_tags if record.result else [],
    }


def _table(neighbours: list[Neighbour]) -> Table:
    table = Table()
    for column in ("similarity", "file", "top tags", "track"):
        table.add_column(column, overflow="fold")
    for neighbour in neighbours:
        record = neighbour.record
        table.add_row(
            f"{neighbour.similarity:.3f}",
            file_cell(record),
            ", ".join(record.result.top_tags) if record.result else "",
            record.track_id,
        )
    return table
