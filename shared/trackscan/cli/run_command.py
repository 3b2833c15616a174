"""``trackscan run``: the embedded default on a set of files, with progress and results."""

from __future__ import annotations

import functools
import os
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler

from trackscan.cli.files import AUDIO_SUFFIXES, FoundFiles, audio_files, upload_event
from trackscan.cli.output import json_line, results_table
from trackscan.cli.progress import RunProgress
from trackscan.domain.config import Config
from trackscan.domain.errors import WebhookRefusedError
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.domain.webhooks import EVERY_PARTNER, check_secret
from trackscan.runtimes import logs
from trackscan.runtimes.bootstrap import webhook_sender
from trackscan.runtimes.local_runner import LocalRunner

# Exit codes of `trackscan run` (README, "The CLI"). 2 is click's own code for a usage error.
EXIT_ALL_DONE = 0
EXIT_NOT_ALL_DONE = 1  # a track FAILED, or a path did not exist (the others were tagged)
EXIT_USAGE = 2  # bad options, or no audio file under the paths
EXIT_INTERRUPTED = 3  # stopped by SIGINT/SIGTERM after the steps in hand


@dataclass(frozen=True)
class RunOptions:
    """What ``trackscan run`` was asked to do."""

    as_json: bool = False
    workers: int = 1
    force: bool = False
    verbose: bool = False
    log_format: str = "auto"  # auto: text on a terminal, JSON otherwise
    json_format: str = "track"  # or "audio-features"
    webhook: str = ""  # where each track's result event is POSTed, signed by webhook_secret
    webhook_secret: str = ""


def tag_paths(paths: list[Path], options: RunOptions) -> int:
    """Tags every audio file under the paths; returns the exit code."""
    config = _with_webhook(Config.from_env(), options)
    stderr = Console(stderr=True)
    _configure_logs(options.log_format, stderr)
    if not Path(config.model_path).is_file():
        raise click.ClickException(f"No model at {config.model_path}. Build it with `make model`.")
    found = _report_paths(audio_files(paths), options.verbose, stderr)
    uploads = [upload_event(path, options.force) for path in found.audio]
    as_json = options.as_json
    finished: dict[str, TrackRecord] = {}
    with RunProgress(len(uploads), stderr) as progress:

        def on_finished(record: TrackRecord) -> None:
            finished[record.track_id] = record
            progress.track_finished(record)
            if as_json:
                click.echo(json_line(record, options.json_format))

        worker_logs = functools.partial(configure_worker_logs, options.log_format)
        runner = LocalRunner(config, options.workers, on_finished, worker_logs)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runner.stop())  # drain: finish the steps in hand
        runner.run(list(uploads))
    if runner.stopped_early:
        stderr.print("Stopped after the steps in hand finished; run the same command again to resume.")
        return EXIT_INTERRUPTED
    records = [finished.get(track_id_for(u.source_uri, u.generation)) for u in uploads]
    if not as_json:
        Console().print(results_table([r for r in records if r]))
    all_done = all(r and r.state is TrackState.DONE for r in records) and not found.missing
    return EXIT_ALL_DONE if all_done else EXIT_NOT_ALL_DONE


def _with_webhook(config: Config, options: RunOptions) -> Config:
    """The configuration that sends every track's event to --webhook, checked before any tagging.

    Loopback receivers are allowed here (the user's own machine); an event still undelivered
    after the queue's retries (about 8 s) is logged undelivered rather than holding the run.
    """
    if not options.webhook:
        return config
    config = replace(
        config,
        webhooks=f"{EVERY_PARTNER}={options.webhook}",
        webhook_secrets=f"{EVERY_PARTNER}={options.webhook_secret}",
        webhook_allow_loopback=True,
        webhook_retry_s=0.0,
    )
    try:
        check_secret(options.webhook_secret)
        webhook_sender(config).check(options.webhook)
    except (ValueError, WebhookRefusedError) as exc:
        raise click.UsageError(f"--webhook/--webhook-secret: {exc}") from exc
    return config


def _report_paths(found: FoundFiles, verbose: bool, stderr: Console) -> FoundFiles:
    """Says what will not be tagged; fails when nothing will be."""
    for path in found.missing:
        stderr.print(f"not found: {path}", markup=False, highlight=False, soft_wrap=True)
    if found.skipped:
        names = "".join(f"\n  {path}" for path in found.skipped) if verbose else " (--verbose names them)"
        stderr.print(
            f"skipped {len(found.skipped)} file(s) whose names are not audio{names}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if not found.audio:
        raise click.UsageError(
            "no audio files found under the paths given "
            f"(audio is recognised by name: {', '.join(sorted(AUDIO_SUFFIXES))})"
        )
    return found


def configure_worker_logs(log_format: str) -> None:
    """A worker's logs as the parent's: same level and format, on the same stderr."""
    _configure_logs(log_format, Console(stderr=True))


def _configure_logs(log_format: str, stderr: Console) -> None:
    # Quiet unless asked: TRACKSCAN_LOG_LEVEL=INFO logs every step with its time.
    level = os.environ.get("TRACKSCAN_LOG_LEVEL", "WARNING")
    if log_format == "json" or (log_format == "auto" and not stderr.is_terminal):
        logs.configure(level, stream=sys.stderr)
        return
    # Through the progress bar's console, so log lines print above the bar instead of through it.
    handler = RichHandler(console=stderr, show_path=False, show_time=False, markup=False)
    handler.setFormatter(logs.TextFormatter())
    logs.configure(level, handler=handler)
