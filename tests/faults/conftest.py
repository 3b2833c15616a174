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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import report
from tests.faults.emulator_stack import FUNCTION_ENV, Cloud, FaultStack, tools_unavailable, triton_unavailable
from trackscan.dev import DevPorts, DevStackUnavailable
from trackscan.dev.provision import environ
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.config import Config
from trackscan.pipeline.deps import Deps
from trackscan.runtimes.bootstrap import cloud_deps

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
            stdout=subprocess.PIPE,
            stderr=self.stderr_path.open("w"),
            text=True,
            env=environment,
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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """One emulator stack for every emulator module of the suite (their tests run in file order,
    each leaving the stack as it found it)."""
    config = Config.from_env({})
    reason = tools_unavailable() or triton_unavailable(config)
    if reason:
        pytest.skip(f"emulator stack unavailable: {reason}")
    stack = FaultStack(
        config=config,
        ports=DevPorts.free(),
        state_dir=tmp_path_factory.mktemp("faultstack"),
        functions_source=REPO_ROOT / "functions" / "main.py",
        extra_env=FUNCTION_ENV,
    )
    try:
        stack.start()
    except DevStackUnavailable as exc:
        pytest.skip(f"emulator stack unavailable: {exc}")
    try:
        with environ(stack.env):
            yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def cloud(stack: FaultStack) -> Cloud:
    return Cloud(stack)


@pytest.fixture(scope="session")
def deps(stack: FaultStack) -> Deps:
    """The cloud adapters in this process, for reconcile (the stack env is set)."""
    return cloud_deps(Config.from_env())
