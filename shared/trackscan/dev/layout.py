"""What the dev stack consists of: ports, functions, Pub/Sub wiring and the shared environment.

Pure data, no processes and no SDKs, so the wiring can be read (and unit-tested) in one place.
Names mirror terraform/modules/push_subscription: a step subscription `<prefix>-<step>` has a
dead-letter topic and a dead-letter subscription, both `<prefix>-<step>-dead-letter`, and
the dead-letter subscriptions park what they cannot deliver on `<prefix>-dead-letter-parked`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from trackscan.domain.config import Config
from trackscan.pipeline.steps import CLOUD_RUN_LANE, STEPS, WORKERS_LANE, step_named

HOST = "127.0.0.1"
NAME_PREFIX = "trackscan"
DEV_PARTNER = "dev-partner"
PARKED_TOPIC = f"{NAME_PREFIX}-dead-letter-parked"
# Like production (terraform/modules/push_subscription) but with short backoffs for a fast
# dev loop. The emulator sends pushes about once a second whatever these say.
ACK_DEADLINE_S = 60
MAX_DELIVERY_ATTEMPTS = 10
MIN_BACKOFF_S = 1
MAX_BACKOFF_S = 10


@dataclass(frozen=True)
class FunctionSpec:
    """One functions-framework target of functions/main.py; ``step`` is set for a pipeline step."""

    target: str
    signature_type: str
    step: str = ""
    # Requests served at once, as Cloud Run's concurrency in terraform/: the CPU-bound steps
    # take one at a time, so a step's time is its own work, not a share of a crowded core.
    concurrency: int = 4


# What Cloud Build gives the workers lane's workers (cloudbuild.yaml, deploy-workers).
# Its whole-track limit here is sized for a development machine without AMX (fp32), where a
# unit takes up to 0.058 s per audio-second: 90 s keeps one near 5 s, inside the step budget
# (BENCHMARKS.md, "The whole-track unit and the lanes"; Terraform's 300 s is for AMX machines).
WORKER_LANE_ENV = {"TRACKSCAN_TAGGER": "in-process", "TRACKSCAN_WHOLE_TRACK_MAX_S": "90"}

DEAD_LETTER_TARGET = "dead_letter"
API_TARGET = "api"
# Every target of functions/main.py: one per step of the registry, then the others.
FUNCTIONS = (
    *(FunctionSpec(step.name, "cloudevent", step.name, step.deployment.concurrency) for step in STEPS),
    FunctionSpec(DEAD_LETTER_TARGET, "cloudevent"),
    FunctionSpec("reconcile", "http", concurrency=1),
    FunctionSpec(API_TARGET, "http", concurrency=20),  # the API service's in terraform/
)
# The API keeps the port functions-framework uses by default; the other functions follow 8091.
FIRST_FUNCTION_PORT = 8091


def _default_function_ports() -> dict[str, int]:
    others = [spec.target for spec in FUNCTIONS if spec.target != API_TARGET]
    return {API_TARGET: 8080, **{target: FIRST_FUNCTION_PORT + i for i, target in enumerate(others)}}


@dataclass(frozen=True)
class DevPorts:
    """TCP ports on 127.0.0.1, one per server and one per function.

    Defaults are the usual ports of each tool.
    """

    pubsub: int = 8085
    firestore: int = 8086
    storage: int = 4443
    triton_http: int = 8000
    triton_grpc: int = 8001
    functions: Mapping[str, int] = field(default_factory=_default_function_ports)

    @classmethod
    def free(cls) -> DevPorts:
        """Ports the kernel reports free right now (for tests and parallel stacks)."""
        servers = [f.name for f in fields(cls) if f.name != "functions"]
        ports = free_ports(len(servers) + len(FUNCTIONS))
        return cls(
            **dict(zip(servers, ports, strict=False)),
            functions={spec.target: port for spec, port in zip(FUNCTIONS, ports[len(servers) :], strict=True)},
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DevPorts:
        """Rebuilds the ports a state file recorded (``as_dict``); defaults where absent."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]

    def of(self, name: str) -> int:
        """The port of a function target or of a server."""
        return int(self.functions[name]) if name in self.functions else int(getattr(self, name))

    def with_function(self, target: str, port: int) -> DevPorts:
        """These ports, with one function moved to another port."""
        return replace(self, functions={**self.functions, target: port})

    def as_dict(self) -> dict[str, object]:
        """Plain data, for the state file."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "functions": dict(self.functions)}

    def busy(self) -> list[str]:
        """Names of the ports something already listens on."""
        names = [*(f.name for f in fields(self) if f.name != "functions"), *self.functions]
        return [f"{name}={self.of(name)}" for name in names if not port_free(self.of(name))]


def free_ports(count: int) -> list[int]:
    """Distinct free ports, as many as count, chosen by the kernel (all sockets held open until chosen)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_free(port: int) -> bool:
    """Whether nothing listens on HOST:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((HOST, port)) != 0


@dataclass(frozen=True)
class PushSubscription:
    """A push subscription and where its undeliverable messages go."""

    name: str
    topic: str
    push_endpoint: str
    dead_letter_topic: str


def step_topics(config: Config) -> list[str]:
    """The topics between pipeline steps."""
    return [step.topic(config.topic_prefix) for step in STEPS]


def function_url(ports: DevPorts, target: str) -> str:
    """Base URL of a function's functions-framework server."""
    return f"http://{HOST}:{ports.of(target)}"


def push_endpoint(ports: DevPorts, target: str, project_id: str, topic: str) -> str:
    """The push URL of a function, carrying the topic in its path.

    functions-framework reads `projects/P/topics/T` from the path of a raw Pub/Sub push into
    the CloudEvent source, as Cloud Run's Pub/Sub triggers provide it.
    """
    return f"{function_url(ports, target)}/projects/{project_id}/topics/{topic}"


def subscriptions(config: Config, ports: DevPorts, lane: str = CLOUD_RUN_LANE) -> list[PushSubscription]:
    """Every subscription of the stack: one per step, one per step's dead-letter topic.

    In the workers lane a step's subscription is pulled (no push endpoint) by its worker.
    """
    plan: list[PushSubscription] = []
    for spec in (s for s in FUNCTIONS if s.step):
        topic = step_named(spec.step).topic(config.topic_prefix)
        name = f"{NAME_PREFIX}-{spec.step}"
        dead_letter = f"{name}-dead-letter"
        endpoint = "" if lane == WORKERS_LANE else push_endpoint(ports, spec.target, config.project_id, topic)
        plan.append(PushSubscription(name, topic, endpoint, dead_letter))
        plan.append(
            PushSubscription(
                dead_letter,
                dead_letter,
                push_endpoint(ports, DEAD_LETTER_TARGET, config.project_id, dead_letter),
                PARKED_TOPIC,
            )
        )
    return plan


def all_topics(config: Config, plan: Iterable[PushSubscription]) -> list[str]:
    """Step topics, dead-letter topics and the parked topic, each once, in creation order."""
    names = [*step_topics(config), *(s.dead_letter_topic for s in plan)]
    return list(dict.fromkeys(names))


def model_sha256(config: Config) -> str:
    """The served model's sha256 (from the sidecar the build writes), as Cloud Build sets it."""
    sidecar = Path(config.model_path + ".sha256")
    return sidecar.read_text().split()[0] if sidecar.is_file() else ""


def stack_env(config: Config, ports: DevPorts, api_key: str) -> dict[str, str]:
    """The variables that point trackscan (and any SDK client) at the dev stack."""
    return {
        "GOOGLE_CLOUD_PROJECT": config.project_id,
        "PUBSUB_EMULATOR_HOST": f"{HOST}:{ports.pubsub}",
        "FIRESTORE_EMULATOR_HOST": f"{HOST}:{ports.firestore}",
        "STORAGE_EMULATOR_HOST": f"http://{HOST}:{ports.storage}",
        "TRACKSCAN_INGEST_BUCKET": config.ingest_bucket_name,
        "TRACKSCAN_WORK_BUCKET": config.work_bucket_name,
        "TRACKSCAN_TOPIC_PREFIX": config.topic_prefix,
        "TRACKSCAN_TRITON_MODEL": config.triton_model_name,
        "TRACKSCAN_MODEL_SHA256": model_sha256(config),
        "TRITON_GRPC_URL": f"{HOST}:{ports.triton_grpc}",
        "TRACKSCAN_API_URL": function_url(ports, API_TARGET),
        "TRACKSCAN_DEV_PARTNER": DEV_PARTNER,
        "TRACKSCAN_PARTNERS": DEV_PARTNER,
        # A short sweep threshold, so an outage drill recovers within a minute or two.
        "TRACKSCAN_SWEEP_AFTER_S": "20",
        "TRACKSCAN_DEV_API_KEY": api_key,
    }
