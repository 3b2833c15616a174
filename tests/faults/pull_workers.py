"""Watching the emulator stack work: JSON-lines logs read as they grow, pull workers
(`trackscan worker`) in subprocesses, and a step taken over by them for one test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.faults.emulator_stack import Cloud, FaultStack
from trackscan.dev.stack import REPO_ROOT
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.reconcile import reconcile


class Tail:
    """Reads a JSON-lines log as it grows, stamping each line with when it was seen (±0.1 s)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[tuple[float, dict]] = []
        self._offset = path.stat().st_size if path.exists() else 0  # only what is written from now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        pending = ""
        while not self._stop.is_set():
            if self.path.exists():
                with self.path.open(errors="replace") as log:
                    log.seek(self._offset)
                    chunk = log.read()
                    self._offset = log.tell()
                pending += chunk
                *complete, pending = pending.split("\n")
                now = time.monotonic()
                self.lines += [(now, record) for record in map(_json_line, complete) if record]
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def matching(self, message: str, track_ids: Iterable[str] | None = None) -> list[tuple[float, dict]]:
        ids = set(track_ids) if track_ids is not None else None
        return [
            (t, r)
            for t, r in list(self.lines)
            if r.get("message") == message and (ids is None or r.get("track_id") in ids)
        ]

    def wait_for(
        self,
        message: str,
        track_ids: Iterable[str] | None,
        count: int,
        timeout_s: float,
        alive: Callable[[], bool] = lambda: True,
    ) -> list[tuple[float, dict]]:
        """Waits until count matching lines were seen; fails the test past timeout_s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and alive():
            found = self.matching(message, track_ids)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        time.sleep(0.2)  # the last lines of a process that just exited
        found = self.matching(message, track_ids)
        assert len(found) >= count, f"{len(found)} of {count} '{message}' lines in {self.path}"
        return found


def _json_line(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def log_lines(path: Path, message: str, track_ids: Iterable[str]) -> list[dict]:
    """Every line of a JSON-lines log with this message about one of the tracks."""
    ids = set(track_ids)
    if not path.exists():
        return []
    records = (_json_line(line) for line in path.read_text(errors="replace").splitlines())
    return [r for r in records if r and r.get("message") == message and r.get("track_id") in ids]


class PullWorker:
    """`trackscan worker --step STEP` in a subprocess of its own group, like one pod."""

    def __init__(
        self,
        stack: FaultStack,
        step: str,
        subscription: str,
        log_path: Path,
        failpoints: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        env = {
            **os.environ,
            **stack.function_env(),
            "TRACKSCAN_FAILPOINTS": failpoints,
            "TRACKSCAN_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "trackscan.cli",
                    "worker",
                    "--step",
                    step,
                    "--subscription",
                    subscription,
                    "--concurrency",
                    "1",
                ],
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.tail = Tail(log_path)

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for(
        self, message: str, track_ids: Iterable[str] | None, count: int = 1, timeout_s: float = 120
    ) -> list[tuple[float, dict]]:
        return self.tail.wait_for(message, track_ids, count, timeout_s, self.alive)

    def terminate(self) -> float:
        """SIGTERM to the worker process alone, as the kubelet signals a container's PID 1."""
        self.process.send_signal(signal.SIGTERM)
        return time.monotonic()

    def kill(self) -> float:
        """SIGKILL to the whole group (the worker and its decoder child), as a pod is killed."""
        os.killpg(self.process.pid, signal.SIGKILL)
        return time.monotonic()

    def kill_alone(self) -> float:
        """SIGKILL to the worker process alone, as the OOM killer picks one process."""
        self.process.kill()
        return time.monotonic()

    def close(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.tail.close()


class PulledStep:
    """A step taken over by pull workers for one test: its push subscription turned into a pull
    one (Cloud.pulled), workers started on it, and at the end (or on hand_back) the workers
    stopped and the step handed back to its function."""

    def __init__(self, stack: FaultStack, cloud: Cloud, step: str, log_dir: Path) -> None:
        self.stack, self.cloud, self.step, self.log_dir = stack, cloud, step, log_dir
        self.workers: list[PullWorker] = []
        self._pulled: contextlib.AbstractContextManager[str] | None = None
        self.subscription = ""

    def __enter__(self) -> PulledStep:
        self._pulled = self.cloud.pulled(self.step)
        self.subscription = self._pulled.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hand_back()
        for worker in self.workers:
            worker.close()

    def worker(self, name: str, failpoints: str = "", env: dict[str, str] | None = None) -> PullWorker:
        self.workers.append(
            PullWorker(self.stack, self.step, self.subscription, self.log_dir / f"{name}.log", failpoints, env)
        )
        return self.workers[-1]

    def hand_back(self) -> None:
        """Stops the live workers (SIGTERM, so they drain) and lets the function push again."""
        for worker in self.workers:
            if worker.alive():
                worker.terminate()
                worker.process.wait(timeout=30)
        if self._pulled is not None:
            self._pulled.__exit__(None, None, None)
            self._pulled = None


# How long a dead worker's messages get to come back before reconcile steps in: past the
# worker's 30 s lease extension, after which real Pub/Sub redelivers them.
REDELIVERY_WAIT_S = 40.0


def comeback(steps: list[tuple[float, dict]], fault_at: float, replayed: int) -> str:
    """How the messages of a dead worker came back: redelivered (after how long), or replayed."""
    if replayed:
        return (
            f"its messages did not come back within {REDELIVERY_WAIT_S:.0f} s (the emulator "
            f"strands some: see FAULTS.md), so the step went back to its function and reconcile replayed"
        )
    back = [(t, line) for t, line in steps if line["attempt"] > 1]
    if not back:
        return "no message needed redelivery"
    return (
        f"its messages came back {back[0][0] - fault_at:.0f} s later "
        f"(attempts {sorted(line['attempt'] for _, line in back)})"
    )


def wait_or_replay(step: PulledStep, cloud: Cloud, deps: Deps, track_ids: list[str]) -> tuple[dict, int]:
    """Waits REDELIVERY_WAIT_S for the tracks; if a message is still stranded then, hands the step
    back to its function and replays the stuck tracks with reconcile.

    Returns the records and how many tracks reconcile replayed (0 when none was needed).
    """
    records = cloud.wait_final(track_ids, timeout_s=REDELIVERY_WAIT_S)
    if all(r and r["state"] in ("DONE", "FAILED") for r in records.values()):
        return records, 0
    step.hand_back()
    replayed = reconcile(deps, older_than_s=0).replayed
    return cloud.wait_final(track_ids, timeout_s=120), replayed
