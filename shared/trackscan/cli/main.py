"""``trackscan``: tag music from the command line with the embedded default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console

from trackscan import logs
from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.cli.files import audio_files, upload_event
from trackscan.cli.output import json_line, print_status, results_table
from trackscan.cli.progress import RunProgress
from trackscan.config import Config
from trackscan.tracks import TrackRecord, TrackState, track_id_for

EXIT_ANY_FAILED = 2


@click.group()
@click.version_option(package_name="trackscan")
def cli() -> None:
    """trackscan tags music: 100 tag scores, an embedding, tempo, key and loudness per track."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per track per line.")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
              help="Worker processes.")
@click.option("--force", is_flag=True, help="Redo tracks that already finished.")
def run(paths: tuple[Path, ...], as_json: bool, workers: int, force: bool) -> None:
    """Tag every audio file under PATHS. Exit 0 when all are DONE, 2 when any FAILED."""
    from trackscan.local_runner import LocalRunner  # imports librosa: only when tagging

    config = Config.from_env()
    logs.configure("WARNING", stream=sys.stderr)
    if not Path(config.model_path).is_file():
        raise click.ClickException(f"No model at {config.model_path}. Build it with `make model`.")
    uploads = [upload_event(path, force) for path in audio_files(list(paths))]
    finished: dict[str, TrackRecord] = {}
    stderr = Console(stderr=True)

    def on_finished(record: TrackRecord) -> None:
        finished[record.track_id] = record
        progress.track_finished(record)
        if as_json:
            click.echo(json_line(record))

    with RunProgress(len(uploads), stderr) as progress:
        LocalRunner(config, workers, on_finished).run(list(uploads))
    records = [finished.get(track_id_for(u.source_uri, u.generation)) for u in uploads]
    if not as_json:
        Console().print(results_table([r for r in records if r]))
    if any(r is None or r.state is not TrackState.DONE for r in records):
        sys.exit(EXIT_ANY_FAILED)


@cli.command()
@click.argument("track")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def status(track: str, as_json: bool) -> None:
    """State, timeline and error of a track, by track id or by file path."""
    record = _find_track(SqliteTrackStore(Config.from_env().state_db_path), track)
    if record is None:
        raise click.ClickException(f"No track {track} is known.")
    if as_json:
        import json

        click.echo(json.dumps(record.to_dict(), indent=2))
    else:
        print_status(Console(), record)


def _find_track(store: SqliteTrackStore, track: str) -> TrackRecord | None:
    path = Path(track)
    if not path.exists():
        return store.get(track)
    event = upload_event(path)
    return store.get(track_id_for(event.source_uri, event.generation)) or store.find_by_source(event.source_uri)


def main() -> None:
    cli()
