"""Child processes of the dev stack: start each in its own process group, record it, stop it.

A process group per service matters because several services are wrappers: `gcloud ... start`
is a Python launcher whose Java child survives a signal to the launcher alone, and PyTriton
and functions-framework (gunicorn) fork workers. Signalling the whole group stops all of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

STOP_GRACE_S = 12.0  # Triton drains for up to 8 s (--exit-timeout-s) before it exits.


@dataclass(frozen=True)
class ChildProcess:
    """One started service, as recorded in the state file."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log_path: str
    # What `trackscan dev start NAME` needs to start it again from another process.
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the caller's environment
    ready_url: str = ""
    any_status: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ChildProcess:
        """Rebuilds a record read from the state file."""
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_ticks=int(str(data["start_ticks"])),
            argv=tuple(data["argv"]),  # type: ignore[arg-type]
            log_path=str(data["log_path"]),
            env=dict(data.get("env") or {}),  # type: ignore[call-overload]
            ready_url=str(data.get("ready_url", "")),
            any_status=bool(data.get("any_status", False)),
        )


def start_child(
    name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path, cwd: Path | None = None
) -> tuple[ChildProcess, subprocess.Popen]:
    """Starts argv as the leader of a new session (so of a new process group), logging to a file.

    Returns:
        The record to keep in the state file, and the Popen handle (to reap it in this process).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record = ChildProcess(name, popen.pid, _start_ticks(popen.pid) or 0, tuple(argv), str(log_path))
    return record, popen


def _start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot, or None if it is gone.

    With the pid it identifies a process across pid reuse: a recycled pid has a later start.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after ")" are fixed.
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_ours(child: ChildProcess) -> bool:
    """Whether the recorded leader still runs and is the process we started, not a pid reuse."""
    ticks = _start_ticks(child.pid)
    return ticks is not None and (child.start_ticks == 0 or ticks == child.start_ticks)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_children(
    children: Sequence[ChildProcess],
    popens: Mapping[str, subprocess.Popen] | None = None,
    grace_s: float = STOP_GRACE_S,
) -> None:
    """Stops each child's whole process group: SIGTERM to all, then SIGKILL after grace_s.

    All groups are signalled at once so their shutdowns overlap. A leader that is alive but
    is not the recorded process (its pid was reused) is left alone. A dead leader whose group
    still has members (gcloud's Java child) still gets the group signalled: Linux does not
    reuse a pid as long as a process group of that id exists.
    """
    popens = popens or {}
    ours = [c for c in children if _start_ticks(c.pid) is None or is_ours(c)]
    signalled = [c for c in ours if _signal_group(c.pid, signal.SIGTERM)]
    deadline = time.monotonic() + grace_s
    while signalled and time.monotonic() < deadline:
        for child in signalled:
            _reap(popens.get(child.name))
        signalled = [c for c in signalled if group_alive(c.pid)]
        time.sleep(0.1)
    for child in signalled:
        _signal_group(child.pid, signal.SIGKILL)
    for child in ours:
        popen = popens.get(child.name)
        if popen is not None:
            popen.wait(timeout=5)


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _reap(popen: subprocess.Popen | None) -> None:
    # A leader started by this very process stays a zombie (and its group "alive") until reaped.
    if popen is not None:
        popen.poll()


def log_tail(child: ChildProcess, max_chars: int = 2000) -> str:
    """The end of a child's log, for error messages."""
    try:
        return Path(child.log_path).read_text(errors="replace")[-max_chars:]
    except OSError:
        return ""


class StateFile:
    """The JSON file listing the started processes, so `dev down` from another shell finds them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[ChildProcess]:
        """The recorded processes; none if there is no state file."""
        if not self.path.is_file():
            return []
        data = json.loads(self.path.read_text())
        return [ChildProcess.from_dict(item) for item in data["processes"]]

    def raw(self) -> dict[str, object]:
        """The whole recorded document (processes, env, ports); empty if there is none."""
        if not self.path.is_file():
            return {}
        data: dict[str, object] = json.loads(self.path.read_text())
        return data

    def write(self, children: Sequence[ChildProcess], **extra: object) -> None:
        """Records children (written atomically, so a crash never leaves half a file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"processes": [asdict(child) for child in children], **extra}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(self.path)

    def remove(self) -> None:
        """Deletes the state file if present."""
        self.path.unlink(missing_ok=True)
