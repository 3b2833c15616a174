"""What the dev stack consists of: ports, functions, Pub/Sub wiring and the shared environment.

Pure data, no processes and no SDKs, so the wiring can be read (and unit-tested) in one place.
Names mirror terraform/modules/push_subscription: a step subscription `<prefix>-<step>` has a
dead-letter topic and a dead-letter subscription, both `<prefix>-<step>-dead-letter`, and
the dead-letter subscriptions park what they cannot deliver on `<prefix>-dead-letter-parked`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from trackscan.config import Config

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
    """One functions-framework target of functions/main.py.

    topic_field names the Config field of the topic it consumes; step names its subscription.
    """

    target: str
    signature_type: str
    topic_field: str = ""
    step: str = ""
    # Requests served at once, as Cloud Run's concurrency in terraform/: the CPU-bound steps
    # take one at a time, so a step's time is its own work, not a share of a crowded core.
    concurrency: int = 4


FUNCTIONS = (
    FunctionSpec("on_upload", "cloudevent", "uploads_topic", "upload"),
    FunctionSpec("on_segment", "cloudevent", "segments_topic", "features", concurrency=1),
    FunctionSpec("on_features_ready", "cloudevent", "features_topic", "infer", concurrency=1),
    FunctionSpec("on_track_inferred", "cloudevent", "inferred_topic", "finalize"),
    FunctionSpec("on_dead_letter", "cloudevent"),
    FunctionSpec("api", "http"),
)
DEAD_LETTER_TARGET = "on_dead_letter"


@dataclass(frozen=True)
class DevPorts:
    """TCP ports on 127.0.0.1, one per server. Defaults are the usual ports of each tool."""

    pubsub: int = 8085
    firestore: int = 8086
    storage: int = 4443
    triton_http: int = 8000
    triton_grpc: int = 8001
    api: int = 8080
    on_upload: int = 8091
    on_segment: int = 8092
    on_features_ready: int = 8093
    on_track_inferred: int = 8094
    on_dead_letter: int = 8095

    @classmethod
    def free(cls) -> DevPorts:
        """Ports the kernel reports free right now (for tests and parallel stacks)."""
        return cls(*free_ports(len(fields(cls))))

    def of(self, target: str) -> int:
        """The port of a function target or service name."""
        return int(getattr(self, target))

    def busy(self) -> list[str]:
        """Names of the ports something already listens on."""
        return [f"{f.name}={self.of(f.name)}" for f in fields(self) if not port_free(self.of(f.name))]


def free_ports(count: int) -> list[int]:
    """count distinct free ports, chosen by the kernel (all sockets held open until chosen)."""
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
    return [getattr(config, spec.topic_field) for spec in FUNCTIONS if spec.topic_field]


def function_url(ports: DevPorts, target: str) -> str:
    """Base URL of a function's functions-framework server."""
    return f"http://{HOST}:{ports.of(target)}"


def push_endpoint(ports: DevPorts, target: str, project_id: str, topic: str) -> str:
    """The push URL of a function, carrying the topic in its path.

    functions-framework reads `projects/P/topics/T` from the path of a raw Pub/Sub push into
    the CloudEvent source, as Cloud Run's Pub/Sub triggers provide it.
    """
    return f"{function_url(ports, target)}/projects/{project_id}/topics/{topic}"


def subscriptions(config: Config, ports: DevPorts) -> list[PushSubscription]:
    """Every push subscription of the stack: one per step, one per step's dead-letter topic."""
    plan: list[PushSubscription] = []
    for spec in (s for s in FUNCTIONS if s.topic_field):
        topic = getattr(config, spec.topic_field)
        name = f"{NAME_PREFIX}-{spec.step}"
        dead_letter = f"{name}-dead-letter"
        plan.append(PushSubscription(name, topic, push_endpoint(ports, spec.target, config.project_id, topic),
                                     dead_letter))
        plan.append(PushSubscription(dead_letter, dead_letter, push_endpoint(
            ports, DEAD_LETTER_TARGET, config.project_id, dead_letter), PARKED_TOPIC))
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
        "TRACKSCAN_UPLOADS_TOPIC": config.uploads_topic,
        "TRACKSCAN_SEGMENTS_TOPIC": config.segments_topic,
        "TRACKSCAN_FEATURES_TOPIC": config.features_topic,
        "TRACKSCAN_INFERRED_TOPIC": config.inferred_topic,
        "TRACKSCAN_TRITON_MODEL": config.triton_model_name,
        "TRACKSCAN_MODEL_SHA256": model_sha256(config),
        "TRITON_GRPC_URL": f"{HOST}:{ports.triton_grpc}",
        "TRACKSCAN_API_URL": function_url(ports, "api"),
        "TRACKSCAN_DEV_PARTNER": DEV_PARTNER,
        "TRACKSCAN_DEV_API_KEY": api_key,
    }
