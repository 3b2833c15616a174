"""``trackscan``: tag music from the command line with the embedded default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console

from trackscan.cli.backfill_command import backfill
from trackscan.cli.cloud_access import require_cloud
from trackscan.cli.cost_command import cost
from trackscan.cli.export_command import export
from trackscan.cli.lookup import find_track
from trackscan.cli.output import print_status
from trackscan.cli.reindex_command import reindex
from trackscan.cli.similar_command import similar
from trackscan.dev.cli import dev
from trackscan.domain.config import Config
from trackscan.domain.explain import explanation
from trackscan.pipeline.deps import predictions_prefix_under
from trackscan.pipeline.steps import STEP_NAMES, step_named
from trackscan.runtimes.bootstrap import track_store, work_blob_store


@click.group()
@click.version_option(package_name="trackscan")
def cli() -> None:
    """Tag music: 100 tag scores, an embedding, tempo, key and loudness per track."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per track per line.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True, help="Worker processes."
)
@click.option("--force", is_flag=True, help="Redo tracks that already finished.")
@click.option("--verbose", "-v", is_flag=True, help="Name the files skipped because their names are not audio.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "text", "json"]),
    default="auto",
    show_default=True,
    help="Log lines on stderr: text on a terminal and JSON otherwise (auto), or as chosen.",
)
@click.option(
    "--format",
    "json_format",
    type=click.Choice(["track", "audio-features"]),
    default="track",
    show_default=True,
    help="With --json: the whole result, or the audio-features view (our own values).",
)
@click.option("--webhook", metavar="URL", help="POST each track's result event here, signed (Standard Webhooks).")
@click.option("--webhook-secret", metavar="whsec_...", help="The secret that signs the events sent to --webhook.")
def run(
    paths: tuple[Path, ...],
    as_json: bool,
    workers: int,
    force: bool,
    verbose: bool,
    log_format: str,
    json_format: str,
    webhook: str | None,
    webhook_secret: str | None,
) -> None:
    """Tag every audio file under PATHS.

    Exit 0 when every track is DONE; 1 when a track FAILED or a path was not found (the rest are
    tagged); 2 on a usage error or when no audio file is found; 3 when stopped by a signal.
    """
    from trackscan.cli.run_command import RunOptions, tag_paths  # imports librosa: only when tagging

    if json_format != "track" and not as_json:
        raise click.UsageError("--format applies to the JSON lines: add --json.")
    if bool(webhook) != bool(webhook_secret):
        raise click.UsageError("--webhook and --webhook-secret go together.")
    options = RunOptions(as_json, workers, force, verbose, log_format, json_format, webhook or "", webhook_secret or "")
    sys.exit(tag_paths(list(paths), options))


@cli.command()
@click.argument("track")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@click.option(
    "--cloud", is_flag=True, help="Read Firestore (GOOGLE_CLOUD_PROJECT; FIRESTORE_EMULATOR_HOST for the dev stack)."
)
def status(track: str, as_json: bool, cloud: bool) -> None:
    """State, why it is there, timeline and error of a track.

    TRACK is a track id, a file path, a URI (gs://bucket/partner/song.ogg, optionally #generation)
    or a bare file name.
    """
    config = Config.from_env()
    if cloud:
        require_cloud(("firestore", "storage"))
    store = track_store(config, cloud)
    record = find_track(store, track)
    if as_json:
        import json

        click.echo(json.dumps({**record.to_dict(), "explanation": explanation(record)}, indent=2))
    else:
        done = None if record.state.is_final else _segments_scored(config, record.track_id, cloud)
        print_status(Console(soft_wrap=True), record, done)


def _segments_scored(config: Config, track_id: str, cloud: bool) -> int:
    blobs, work_root = work_blob_store(config, cloud)
    return len(blobs.list_uris(predictions_prefix_under(work_root, track_id)))


@cli.command()
@click.option("--step", type=click.Choice(STEP_NAMES), required=True, help="The step to run.")
@click.option("--subscription", help="Pull subscription (default: <step topic>-pull).")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Messages handled at once (and held: a preempted worker strands no more).",
)
def worker(step: str, subscription: str | None, concurrency: int) -> None:
    """Run one step from a Pub/Sub pull subscription until SIGTERM (then drain and exit)."""
    from trackscan.runtimes import cloud_runtime, pull_worker

    require_cloud(("firestore", "pubsub", "storage"))
    deps = cloud_runtime.cloud_deps()
    cloud_runtime.on_start(step)
    name = subscription or f"{step_named(step).topic(deps.config.topic_prefix)}-pull"
    path = f"projects/{deps.config.project_id}/subscriptions/{name}"
    pull_worker.run(pull_worker.WorkerSettings(path, concurrency), deps)


@cli.command()
@click.option(
    "--older-than-s",
    type=click.FloatRange(min=0),
    default=None,
    help="Only tracks not updated for this long  [default: TRACKSCAN_RECONCILE_AFTER_S, 900]",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Most tracks to replay in this pass  [default: TRACKSCAN_RECONCILE_BATCH, 100]",
)
@click.option(
    "--sweep-after-s",
    type=click.FloatRange(min=0),
    default=None,
    help="Sweep objects older than this  [default: TRACKSCAN_SWEEP_AFTER_S, 600]",
)
def reconcile(older_than_s: float | None, limit: int | None, sweep_after_s: float | None) -> None:
    """Send stalled tracks and unannounced uploads through ingest, as the scheduled pass does.

    Tracks stuck in RECEIVED, EXTRACTING or INFERRING, oldest first; then one inventory sweep
    pass over the ingest bucket, which ingests uploads whose notification never came. On the
    cloud stack (Firestore, Pub/Sub and GCS, or the dev stack's emulators). In the cloud, Cloud
    Scheduler runs one pass a minute. Locally, run `trackscan run` again instead.
    """
    from dataclasses import replace

    from trackscan.pipeline import reconcile as reconciler
    from trackscan.pipeline.inventory import sweep
    from trackscan.runtimes import cloud_runtime

    require_cloud(("firestore", "pubsub", "storage"))
    deps = cloud_runtime.cloud_deps()
    done = reconciler.reconcile(deps, deps.config.reconcile_after_s if older_than_s is None else older_than_s, limit)
    click.echo(
        f"{done.stalled} stalled track(s): {done.replayed} sent through ingest again, "
        f"{done.source_gone} recorded FAILED (source gone), {done.errors} left for the next pass (errors)."
    )
    if sweep_after_s is not None:
        deps = replace(deps, config=replace(deps.config, sweep_after_s=sweep_after_s))
    swept = sweep(deps, f"gs://{deps.config.ingest_bucket_name}/")
    click.echo(
        f"Inventory sweep: {swept.listed} object(s) listed in {swept.pages} page(s), {swept.replayed} "
        f"unannounced upload(s) sent to ingest, {swept.recent} too recent, {swept.outside} outside partner "
        f"prefixes{'; reached the end of the bucket' if swept.wrapped else ''}. Notification config: "
        f"{cloud_runtime.notification_check(deps)}."
    )


cli.add_command(dev)
cli.add_command(similar)
cli.add_command(reindex)
cli.add_command(backfill)
cli.add_command(cost)
cli.add_command(export)


def main() -> None:
    """Runs the command line (the `trackscan` console script)."""
    cli()
