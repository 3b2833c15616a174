"""Outage drills on a running dev stack: stop one component, then start it again.

``trackscan dev stop NAME`` / ``trackscan dev start NAME`` work from any shell: the state file
holds each process's command, environment and readiness URL. The emulators keep nothing
across a restart, so starting Pub/Sub or fake GCS again also recreates the topics,
subscriptions and buckets (as Terraform would have them).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from trackscan.dev import processes, services
from trackscan.dev.layout import DevPorts, subscriptions
from trackscan.dev.provision import provision
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.config import Config

REPROVISIONED = {"pubsub", "storage"}  # in-memory servers whose resources the stack created


class DrillError(RuntimeError):
    """The component is unknown, or not in the state the drill needs."""


def component_names(state_dir: Path) -> list[str]:
    """The components of the running stack, in start order."""
    return [child.name for child in processes.StateFile(state_dir / "processes.json").read()]


def stop_component(state_dir: Path, name: str) -> None:
    """Stops one component's whole process group (SIGTERM, then SIGKILL after the grace)."""
    child = _child(state_dir, name)
    if not processes.is_ours(child):
        raise DrillError(f"{name} is not running")
    processes.stop_children([child])


def start_component(state_dir: Path, name: str, timeout_s: float = 120.0) -> float:
    """Starts a stopped component again with its recorded command; seconds until it answers.

    Raises:
        DrillError: the component is unknown, still running, or did not get ready.
    """
    state = processes.StateFile(state_dir / "processes.json")
    children = state.read()
    child = _child(state_dir, name)
    if processes.is_ours(child):
        raise DrillError(f"{name} is already running")
    started = time.monotonic()
    restarted, popen = processes.start_child(
        name, child.argv, {**os.environ, **child.env}, state_dir / "logs", cwd=REPO_ROOT
    )
    restarted = processes.ChildProcess(
        restarted.name,
        restarted.pid,
        restarted.start_ticks,
        restarted.argv,
        restarted.log_path,
        child.env,
        child.ready_url,
        child.any_status,
    )
    recorded = state.raw()
    state.write(
        [restarted if c.name == name else c for c in children],
        **{k: v for k, v in recorded.items() if k != "processes"},
    )
    service = services.Service(name, child.argv, child.ready_url, child.env, child.any_status)
    try:
        services.wait_ready(service, lambda: popen.poll() is None, timeout_s)
    except RuntimeError as exc:
        raise DrillError(str(exc)) from exc
    if name in REPROVISIONED:
        env = {str(k): str(v) for k, v in _mapping(recorded.get("env")).items()}
        config = Config.from_env({**os.environ, **env})
        provision(config, subscriptions(config, DevPorts.from_dict(_mapping(recorded.get("ports")))), env)
    return time.monotonic() - started


def _child(state_dir: Path, name: str) -> processes.ChildProcess:
    children = processes.StateFile(state_dir / "processes.json").read()
    found = [c for c in children if c.name == name]
    if not found:
        names = ", ".join(c.name for c in children) or "none: is a dev stack running?"
        raise DrillError(f"no component {name}; the stack's components: {names}")
    return found[0]


def _mapping(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}
