"""Emulator fixtures: one dev stack (trackscan.dev.DevStack) for the whole session.

The stack runs on free ports with its state in a temporary folder, so it never collides with
a `trackscan dev up` of the developer. Tests skip (with the reason) where gcloud or Java is
missing, as on machines without the gcloud SDK.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from trackscan.dev import DevPorts, DevStack, DevStackUnavailable, services
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.config import Config

FUNCTIONS_SOURCE = REPO_ROOT / "functions" / "main.py"
INSTALL_TRITON = REPO_ROOT / "scripts" / "install_triton_venv.sh"


def _triton_unavailable(config: Config) -> str:
    """Why the local Triton cannot run here, or "" when it can (installs its venv once)."""
    if not Path(config.model_path).is_file():
        return f"no model at {config.model_path} (make model)"
    done = subprocess.run([str(INSTALL_TRITON)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return f"could not install .venv-triton: {done.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def stack_config() -> Config:
    """The default names (project, topics, buckets), unaffected by the caller's environment."""
    return Config.from_env({})


@pytest.fixture(scope="session")
def emulator_tools() -> None:
    """Skips the test where gcloud (with the emulators) or Java is missing."""
    try:
        services.require_tools()
    except DevStackUnavailable as exc:
        pytest.skip(f"dev stack unavailable: {exc}")


@pytest.fixture(scope="session")
def triton_skip_reason(emulator_tools: None, stack_config: Config) -> str:
    """Why the session stack runs without Triton ("" when it runs with it)."""
    return _triton_unavailable(stack_config)


@pytest.fixture(scope="session")
def dev_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    stack_config: Config,
    triton_skip_reason: str,
) -> Iterator[DevStack]:
    """The running dev stack; functions only where functions/main.py exists."""
    stack = DevStack(
        config=stack_config,
        ports=DevPorts.free(),
        state_dir=tmp_path_factory.mktemp("dev"),
        functions_source=FUNCTIONS_SOURCE if FUNCTIONS_SOURCE.is_file() else None,
        with_triton=not triton_skip_reason,
    )
    try:
        stack.start()
    except DevStackUnavailable as exc:
        pytest.skip(f"dev stack unavailable: {exc}")
    timings = ", ".join(f"{name} {seconds:.1f}" for name, seconds in stack.ready_s.items())
    _report(request, f"dev stack ready after (s): {timings}")
    yield stack
    stack.stop()


@pytest.fixture
def stack_env(dev_stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points SDK clients created in the test at the stack (PUBSUB_EMULATOR_HOST and the like)."""
    for name, value in dev_stack.env.items():
        monkeypatch.setenv(name, value)
    return dev_stack.env


def _report(request: pytest.FixtureRequest, line: str) -> None:
    # Printed past pytest's capture, so CI logs show the start-up time of every run.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)
