"""``trackscan``: tag music from the command line with the embedded default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console

from trackscan.adapters.sqlite_store import SqliteTrackStore
from trackscan.cli.files import upload_event
from trackscan.cli.output import print_status
from trackscan.config import Config
from trackscan.dev.cli import dev
from trackscan.ports import TrackStore
from trackscan.tracks import TrackRecord, track_id_for

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
@click.option("--format", "json_format", type=click.Choice(["track", "audio-features"]), default="track",
              show_default=True, help="With --json: the whole result, or the audio-features view (our own values).")
def run(paths: tuple[Path, ...], as_json: bool, workers: int, force: bool, json_format: str) -> None:
    """Tag every audio file under PATHS. Exit 0 when all are DONE, 2 when any FAILED."""
    from trackscan.cli.run_command import tag_paths  # imports librosa: only when tagging

    if json_format != "track" and not as_json:
        raise click.UsageError("--format applies to the JSON lines: add --json.")
    sys.exit(tag_paths(list(paths), as_json, workers, force, json_format))


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


@cli.command()
@click.option("--older-than-s", type=click.FloatRange(min=0), default=None,
              help="Only tracks not updated for this long  [default: TRACKSCAN_RECONCILE_AFTER_S, 900]")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Most tracks to replay in this pass  [default: TRACKSCAN_RECONCILE_BATCH, 100]")
def reconcile(older_than_s: float | None, limit: int | None) -> None:
    """Send tracks stuck in RECEIVED, DECODING or INFERRING through ingest again (cloud stack:
    Firestore and Pub/Sub, or their emulators), oldest first. In the cloud, Cloud Scheduler runs
    one pass a minute. Locally, run `trackscan run` again instead."""
    from trackscan import reconcile as reconciler
    from trackscan import service

    deps = service.cloud_deps()
    done = reconciler.reconcile(deps, deps.config.reconcile_after_s if older_than_s is None else older_than_s,
                                limit)
    click.echo(f"{done.stalled} stalled track(s): {done.replayed} sent through ingest again, "
               f"{done.source_gone} recorded FAILED (source gone), {done.errors} left for the next pass (errors).")


cli.add_command(dev)


def main() -> None:
    cli()
