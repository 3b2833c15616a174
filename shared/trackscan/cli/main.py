"""``trackscan``: tag music from the command line with the embedded default."""

from __future__ import annotations

import os
import signal
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
from trackscan.dev.cli import dev
from trackscan.ports import TrackStore
from trackscan.tracks import TrackRecord, TrackState, track_id_for

EXIT_ANY_FAILED = 2
EXIT_INTERRUPTED = 3

# step -> (Config field of the topic it consumes, the Cloud Run function that runs it)
STEP_TOPICS = {
    "ingest": ("uploads_topic", "on_upload"),
    "features": ("segments_topic", "on_segment"),
    "infer": ("features_topic", "on_features_ready"),
    "finalize": ("inferred_topic", "on_track_inferred"),
}


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
    # Quiet on a terminal unless asked: TRACKSCAN_LOG_LEVEL=INFO logs every step with its time.
    logs.configure(os.environ.get("TRACKSCAN_LOG_LEVEL", "WARNING"), stream=sys.stderr)
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

    runner = LocalRunner(config, workers, on_finished)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: runner.stop())
    with RunProgress(len(uploads), stderr) as progress:
        runner.run(list(uploads))
    if runner.stopped_early:
        stderr.print("Stopped after the steps in hand finished; run the same command again to resume.")
        sys.exit(EXIT_INTERRUPTED)
    records = [finished.get(track_id_for(u.source_uri, u.generation)) for u in uploads]
    if not as_json:
        Console().print(results_table([r for r in records if r]))
    if any(r is None or r.state is not TrackState.DONE for r in records):
        sys.exit(EXIT_ANY_FAILED)


@cli.command()
@click.argument("track")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@click.option("--cloud", is_flag=True,
              help="Read Firestore (GOOGLE_CLOUD_PROJECT; FIRESTORE_EMULATOR_HOST for the dev stack).")
def status(track: str, as_json: bool, cloud: bool) -> None:
    """State, timeline and error of a track, by track id or by file path."""
    config = Config.from_env()
    store = _cloud_store(config) if cloud else SqliteTrackStore(config.state_db_path)
    record = _find_track(store, track)
    if record is None:
        raise click.ClickException(f"No track {track} is known.")
    if as_json:
        import json

        click.echo(json.dumps(record.to_dict(), indent=2))
    else:
        print_status(Console(), record)


def _cloud_store(config: Config) -> TrackStore:
    from google.cloud import firestore

    from trackscan.adapters.firestore_store import FirestoreTrackStore

    return FirestoreTrackStore(firestore.Client(project=config.project_id), config.tracks_collection)


def _find_track(store: TrackStore, track: str) -> TrackRecord | None:
    path = Path(track)
    if not path.exists():
        return store.get(track)
    event = upload_event(path)
    return store.get(track_id_for(event.source_uri, event.generation)) or store.find_by_source(event.source_uri)


@cli.command()
@click.option("--step", type=click.Choice(sorted(STEP_TOPICS)), required=True, help="The step to run.")
@click.option("--subscription", help="Pull subscription (default: <step topic>-pull).")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Messages handled at once (and held: a preempted worker strands no more).")
def worker(step: str, subscription: str | None, concurrency: int) -> None:
    """Run one step from a Pub/Sub pull subscription until SIGTERM (then drain and exit)."""
    from trackscan import service
    from trackscan import worker as pull_worker

    deps = service.cloud_deps()
    service.on_start(STEP_TOPICS[step][1])
    name = subscription or f"{getattr(deps.config, STEP_TOPICS[step][0])}-pull"
    path = f"projects/{deps.config.project_id}/subscriptions/{name}"
    pull_worker.run(pull_worker.WorkerSettings(path, concurrency), deps)


cli.add_command(dev)


def main() -> None:
    cli()
