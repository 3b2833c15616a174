"""DevStack: the cloud adapters' servers on this machine, started and stopped as one.

    with DevStack(ports=DevPorts.free(), state_dir=tmp) as stack:
        ...  # stack.env points any SDK client (and trackscan) at the emulators

`trackscan dev up` uses the same class and leaves the processes running; `dev down` stops
them from the state file it wrote.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from trackscan.dev import processes, services
from trackscan.dev.layout import DEV_PARTNER, FUNCTIONS, NAME_PREFIX, DevPorts, stack_env, subscriptions
from trackscan.dev.provision import provision
from trackscan.dev.services import DevStackUnavailable, Service
from trackscan.domain.config import Config
from trackscan.pipeline.steps import CLOUD_RUN_LANE, INGEST, WORKERS_LANE

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER_READY_TIMEOUT_S = 120.0  # The emulators' JVMs take ~5 s alone; with Triton on 2 cores, more.
FUNCTION_READY_TIMEOUT_S = 90.0


# The first line of the env file: `dev down` removes only a file that `dev up` wrote.
ENV_FILE_HEADER = "# Written by `trackscan dev up`"


class DevStackError(RuntimeError):
    """The dev stack could not start (a port is taken, a server died or never got ready)."""


class DevStack:
    """Starts the emulators, fake-gcs-server, Triton and the functions; stops exactly those.

    Args:
        config: names of the project, topics and buckets (Config.from_env() by default).
        ports: where each server listens (the fixed defaults of DevPorts by default).
        state_dir: folder of the state file and logs (<TRACKSCAN_HOME>/dev by default).
        functions_source: functions/main.py to serve, or None to run no functions.
        with_triton: whether to start the local Triton server.
        api_key: the dev partner's API key (random by default).
        scheduler_every_s: run a reconcile pass this often, as Cloud Scheduler does in the cloud
            (0: no scheduler, so tests decide when reconcile runs).
        lane: "cloud-run" (each step a function behind a push subscription) or "workers" (each
            step's subscription pulled by `trackscan worker`, tracks tagged whole with the model in
            process, as Terraform's lane "workers" deploys them).
    """

    def __init__(
        self,
        config: Config | None = None,
        ports: DevPorts | None = None,
        state_dir: Path | None = None,
        functions_source: Path | None = None,
        with_triton: bool = True,
        api_key: str | None = None,
        scheduler_every_s: float = 0.0,
        lane: str = CLOUD_RUN_LANE,
    ) -> None:
        self.config = config or Config.from_env()
        self.ports = ports or DevPorts()
        self.state_dir = state_dir or Path(self.config.home_dir) / "dev"
        self.functions_source = functions_source
        self.with_triton = with_triton
        self.scheduler_every_s = scheduler_every_s
        self.lane = lane
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.state = processes.StateFile(self.state_dir / "processes.json")
        self.env = stack_env(self.config, self.ports, self.api_key)
        self.ready_s: dict[str, float] = {}
        self._services: list[Service] = []
        self._children: list[processes.ChildProcess] = []
        self._popens: dict[str, subprocess.Popen] = {}

    def start(self) -> DevStack:
        """Starts every server, waits until each answers, then creates topics, subscriptions, buckets.

        Raises:
            DevStackUnavailable: a tool is missing (gcloud, java, the Triton venv or model).
            DevStackError: a port is taken, or a server died or did not get ready; whatever
                had started is stopped again.
        """
        self._check_can_start()
        started = time.monotonic()
        try:
            self._wait_all(self._start_all(self._servers()), SERVER_READY_TIMEOUT_S, started)
            # Functions boot (imports) while the topics are made: no push can reach them before
            # their subscriptions exist, and they need only the servers to be up.
            functions = self._start_all(self._functions())
            provision(self.config, subscriptions(self.config, self.ports, self.lane), self.env)
            self.ready_s["provisioned"] = time.monotonic() - started
            self._wait_all(functions, FUNCTION_READY_TIMEOUT_S, started)
            if self.scheduler_every_s and self.functions_source is not None:
                self._start_all([services.scheduler(self.ports, self.scheduler_every_s)])
        except BaseException:
            self.stop()
            raise
        self.ready_s["total"] = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stops every process this stack started (their whole groups) and removes its state file.

        A stack that started nothing leaves the state file alone: it may be another stack's.
        """
        if not self._children:
            return
        processes.stop_children(list(reversed(self._children)), self._popens)
        self._children.clear()
        self._services.clear()
        self._popens.clear()
        self.state.remove()

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def children(self) -> list[processes.ChildProcess]:
        """The processes started so far."""
        return list(self._children)

    @property
    def services(self) -> list[Service]:
        """The services started so far, with their readiness URLs."""
        return list(self._services)

    def function_env(self) -> dict[str, str]:
        """What every function process gets: the stack env and the dev partner's API key.

        The same key is the support console's dev login: on the dev stack one developer is partner and staff.
        """
        return {
            **self.env,
            "TRACKSCAN_API_KEYS": f"{DEV_PARTNER}:{self.api_key}",
            "TRACKSCAN_CONSOLE_KEYS": f"dev-staff:{self.api_key}:*",
            # A developer's webhook receiver runs on this machine (TRACKSCAN_WEBHOOKS, set by them).
            "TRACKSCAN_WEBHOOK_ALLOW_LOOPBACK": "true",
            # What registered webhooks' secrets derive from: kept with the API key across restarts.
            "TRACKSCAN_WEBHOOK_KEY": base64.b64encode(
                hashlib.sha256(f"webhook|{self.api_key}".encode()).digest()
            ).decode(),
            # GET /v1/webhook lists the send attempts within 2 s, not the cloud's two minutes.
            "TRACKSCAN_WEBHOOK_ATTEMPTS_FLUSH_S": "2",
            "PYTHONUNBUFFERED": "1",
        }

    def write_env_file(self, path: Path) -> None:
        """Writes the stack env as KEY=VALUE lines (`set -a; . PATH; set +a` exports them)."""
        lines = [ENV_FILE_HEADER + "; points SDK clients and trackscan at the dev stack."]
        lines += [f"{name}={value}" for name, value in self.env.items()]
        path.write_text("\n".join(lines) + "\n")

    def _check_can_start(self) -> None:
        services.require_tools()
        running = [c.name for c in self.state.read() if processes.is_ours(c)]
        if running:
            raise DevStackError(
                f"a dev stack is already running ({', '.join(running)}): "
                f"stop it with `trackscan dev down` (state in {self.state.path})"
            )
        busy = self.ports.busy()
        if busy:
            raise DevStackError(f"ports already in use: {', '.join(busy)} (try --free-ports)")

    def _servers(self) -> list[Service]:
        pubsub_data = self.state_dir / "pubsub-data"
        pubsub_data.mkdir(parents=True, exist_ok=True)  # gcloud writes env.yaml there, but makes no folder
        servers = [
            services.pubsub_emulator(self.ports, self.config, pubsub_data),
            services.firestore_emulator(self.ports),
            services.fake_gcs(self.ports, self.config),
        ]
        if self.with_triton:
            servers.append(services.triton(self.ports, self.config, REPO_ROOT))
        return servers

    def _functions(self) -> list[Service]:
        if self.functions_source is None:
            return []
        if self.lane != WORKERS_LANE:
            return [services.function(spec, self.ports, self.functions_source) for spec in FUNCTIONS]
        # The step functions stay down: workers pull their subscriptions (ingest two tracks at once).
        others = [services.function(spec, self.ports, self.functions_source) for spec in FUNCTIONS if not spec.step]
        workers = [
            services.worker(spec.step, f"{NAME_PREFIX}-{spec.step}", 2 if spec.step == INGEST else spec.concurrency)
            for spec in FUNCTIONS
            if spec.step
        ]
        return [*others, *workers]

    def _start_all(self, batch: list[Service]) -> list[Service]:
        # A whole batch starts at once so their start-ups overlap; each is recorded at once, so
        # a `dev down` finds it even if this process dies mid-start.
        base_env = {**os.environ, **self.function_env()}
        for service in batch:
            child, popen = processes.start_child(
                service.name, service.argv, {**base_env, **service.env}, self.state_dir / "logs", cwd=REPO_ROOT
            )
            child = replace(
                child,
                env={**self.function_env(), **service.env},
                ready_url=service.ready_url,
                any_status=service.any_status,
            )
            self._children.append(child)
            self._services.append(service)
            self._popens[child.name] = popen
            self.state.write(self._children, env=self.env, ports=self.ports.as_dict())
        return batch

    def _wait_all(self, batch: list[Service], timeout_s: float, since: float) -> None:
        for service in batch:
            self._wait(service, timeout_s)
            self.ready_s[service.name] = time.monotonic() - since

    def _wait(self, service: Service, timeout_s: float) -> None:
        popen = self._popens[service.name]
        try:
            services.wait_ready(service, lambda: popen.poll() is None, timeout_s)
        except RuntimeError as exc:
            child = next(c for c in self._children if c.name == service.name)
            tail = processes.log_tail(child)
            raise DevStackError(f"{exc}; its log ({child.log_path}) ends:\n{tail}") from exc


def stop_recorded(state_dir: Path) -> list[str]:
    """Stops the processes a `dev up` recorded in state_dir (from any process); returns their names."""
    state = processes.StateFile(state_dir / "processes.json")
    children = state.read()
    processes.stop_children(list(reversed(children)))
    state.remove()
    return [child.name for child in children]


def recorded_env(state_dir: Path) -> Mapping[str, str]:
    """The env a running `dev up` recorded, or an empty mapping."""
    path = state_dir / "processes.json"
    return json.loads(path.read_text()).get("env", {}) if path.is_file() else {}


__all__ = [
    "ENV_FILE_HEADER",
    "DevStack",
    "DevStackError",
    "DevStackUnavailable",
    "stop_recorded",
    "recorded_env",
    "REPO_ROOT",
]
