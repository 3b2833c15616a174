"""``trackscan run``: the embedded default on a set of files, with progress and results."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click
from rich.console import Console

from trackscan import logs
from trackscan.cli.files import audio_files, upload_event
from trackscan.cli.output import json_line, results_table
from trackscan.cli.progress import RunProgress
from trackscan.config import Config
from trackscan.local_runner import LocalRunner
from trackscan.tracks import TrackRecord, TrackState, track_id_for

EXIT_ALL_DONE = 0
EXIT_ANY_FAILED = 2
EXIT_INTERRUPTED = 3


def tag_paths(paths: list[Path], as_json: bool, workers: int, force: bool, json_format: str = "track") -> int:
    """Tags every audio file under the paths; returns the exit code."""
    config = Config.from_env()
    # Quiet on a terminal unless asked: TRACKSCAN_LOG_LEVEL=INFO logs every step with its time.
    logs.configure(os.environ.get("TRACKSCAN_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    if not Path(config.model_path).is_file():
        raise click.ClickException(f"No model at {config.model_path}. Build it with `make model`.")
    uploads = [upload_event(path, force) for path in audio_files(paths)]
    finished: dict[str, TrackRecord] = {}
    stderr = Console(stderr=True)
    with RunProgress(len(uploads), stderr) as progress:

        def on_finished(record: TrackRecord) -> None:
            finished[record.track_id] = record
            progress.track_finished(record)
            if as_json:
                click.echo(json_line(record, json_format))

        runner = LocalRunner(config, workers, on_finished)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runner.stop())  # drain: finish the steps in hand
        runner.run(list(uploads))
    if runner.stopped_early:
        stderr.print("Stopped after the steps in hand finished; run the same command again to resume.")
        return EXIT_INTERRUPTED
    records = [finished.get(track_id_for(u.source_uri, u.generation)) for u in uploads]
    if not as_json:
        Console().print(results_table([r for r in records if r]))
    return EXIT_ALL_DONE if all(r and r.state is TrackState.DONE for r in records) else EXIT_ANY_FAILED
