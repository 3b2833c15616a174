"""The progress bar of ``trackscan run``: tracks done and failed, audio hours per hour."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trackscan.domain.tracks import TrackRecord, TrackState


class RunProgress:
    """A rich progress bar on stderr, shown only on a terminal."""

    def __init__(self, total: int, console: Console) -> None:
        self._started = time.monotonic()
        self._audio_s = 0.0
        self._failed = 0
        self._progress = Progress(
            TextColumn("tagging"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self._task = self._progress.add_task("tracks", total=total, failed=0, speed="")

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def track_finished(self, record: TrackRecord) -> None:
        """Advances the bar by one track and updates the failed count and the audio speed."""
        if record.state is TrackState.FAILED:
            self._failed += 1
        if record.result:
            self._audio_s += record.result.duration_s
        elapsed_s = max(time.monotonic() - self._started, 1e-6)
        speed = f"{self._audio_s / elapsed_s:.0f} audio h/h"
        self._progress.update(self._task, advance=1, failed=self._failed, speed=speed)
