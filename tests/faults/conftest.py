"""The fault suite: each test injects one fault, checks nothing is lost or doubled, and adds a
row to FAULTS.md (written when FAULTS_REPORT names the file, as `make test-faults` does)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import report

RESULTS_START, RESULTS_END = "<!-- results: written by the fault suite -->", "<!-- end of results -->"


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("FAULTS_REPORT")
    if not target or not report.ROWS:
        return
    report.splice(Path(target), RESULTS_START, RESULTS_END)


class CliRun:
    """A `trackscan run` in a subprocess, in its own process group so a kill takes its workers."""

    def __init__(self, paths: list[Path], home: Path, **env: str) -> None:
        self.stderr_path = home.parent / f"stderr-{time.monotonic_ns()}.log"
        environment = {**os.environ, "TRACKSCAN_HOME": str(home), "TRACKSCAN_LOG_LEVEL": "INFO", **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trackscan.cli", "run", "--json", "--workers", "2", *map(str, paths)],
            stdout=subprocess.PIPE, stderr=self.stderr_path.open("w"), text=True, env=environment,
            start_new_session=True,
        )
        self.lines: list[dict] = []

    def next_record(self) -> dict:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        record = json.loads(line)
        self.lines.append(record)
        return record

    def finish(self, timeout_s: float = 900) -> int:
        out, _ = self.process.communicate(timeout=timeout_s)
        self.lines += [json.loads(line) for line in out.splitlines() if line.strip()]
        return self.process.returncode

    def signal_group(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def log_count(self, message: str) -> int:
        return len(re.findall(rf'"message": "{message}"', self.stderr_path.read_text()))


def wait_exit(run: CliRun, timeout_s: float) -> float:
    """Seconds until the run's process exits (fails the test past timeout_s)."""
    started = time.monotonic()
    run.process.wait(timeout=timeout_s)
    return time.monotonic() - started


SIGTERM, SIGKILL = signal.SIGTERM, signal.SIGKILL
