"""The Cloud Run entrypoints of functions/main.py, served in this process by functions-framework's
own Flask app and driven with real CloudEvents, against a dev stack of servers only.

The stack here runs no functions: every message a function publishes stays on its topic, where
a pull subscription of the test picks it up and the test pushes it to the next function itself.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trackscan.dev import DevPorts, DevStack, DevStackUnavailable, services
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.config import Config
from trackscan.pipeline.steps import STEP_NAMES, topic_name
from trackscan.runtimes import cloud_runtime

FUNCTIONS_SOURCE = REPO_ROOT / "functions" / "main.py"
INSTALL_TRITON = REPO_ROOT / "scripts" / "install_triton_venv.sh"
PARTNER = "fn-partner"
API_KEY = "fn-test-key"
PUBSUB_SERVICE = "pubsub.googleapis.com"
MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


def _triton_unavailable(config: Config) -> str:
    """Why the local Triton cannot run here, or "" when it can (installs its venv once)."""
    if not Path(config.model_path).is_file():
        return f"no model at {config.model_path} (make model)"
    done = subprocess.run([str(INSTALL_TRITON)], capture_output=True, text=True, timeout=600)
    return "" if done.returncode == 0 else f"could not install .venv-triton: {done.stderr.strip()[-300:]}"


@pytest.fixture(scope="session")
def function_triton_skip_reason() -> str:
    try:
        services.require_tools()
    except DevStackUnavailable as exc:
        pytest.skip(f"dev stack unavailable: {exc}")
    return _triton_unavailable(Config.from_env({}))


@pytest.fixture(scope="session")
def function_stack(tmp_path_factory: pytest.TempPathFactory, function_triton_skip_reason: str) -> Iterator[DevStack]:
    """Emulators, fake GCS and (where it can run) Triton; no functions."""
    stack = DevStack(
        config=Config.from_env({}),
        ports=DevPorts.free(),
        state_dir=tmp_path_factory.mktemp("fn-dev"),
        functions_source=None,
        with_triton=not function_triton_skip_reason,
        api_key=API_KEY,
    )
    try:
        stack.start()
    except DevStackUnavailable as exc:
        pytest.skip(f"dev stack unavailable: {exc}")
    yield stack
    stack.stop()


@pytest.fixture
def needs_triton(function_triton_skip_reason: str) -> None:
    if function_triton_skip_reason:
        pytest.skip(function_triton_skip_reason)


def reset_cloud_deps() -> None:
    """Forgets the instance's ports (and stops their decoder child), so the next request builds
    fresh clients from the environment as it is then."""
    if cloud_runtime.cloud_deps.cache_info().currsize:
        cloud_runtime.cloud_deps().decoder.close()  # type: ignore[attr-defined]
    cloud_runtime.cloud_deps.cache_clear()
    cloud_runtime.api_app.cache_clear()


@pytest.fixture
def cloud_env(function_stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    """The environment a Cloud Run instance of the functions would get, pointed at the stack."""
    for name, value in function_stack.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRACKSCAN_API_KEYS", f"{PARTNER}:{API_KEY}")
    monkeypatch.setenv("TRACKSCAN_PARTNERS", f"{function_stack.env['TRACKSCAN_PARTNERS']},{PARTNER}")
    monkeypatch.delenv("FUNCTION_TARGET", raising=False)  # no librosa warm-up at import
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # cloud_deps() installs the JSON log handler
    reset_cloud_deps()
    yield Config.from_env()
    reset_cloud_deps()
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def function_client(cloud_env: Config) -> Callable[[str], Any]:
    """A functions-framework test client for a target of functions/main.py."""
    import functions_framework

    def client(target: str) -> Any:
        return functions_framework.create_app(target, str(FUNCTIONS_SOURCE)).test_client()

    return client


class Taps:
    """Pull subscriptions of one test on the pipeline's topics: what the functions published."""

    def __init__(self, config: Config) -> None:
        from google.cloud import pubsub_v1

        self._config = config
        self._subscriber = pubsub_v1.SubscriberClient()
        self._paths: dict[str, str] = {}
        suffix = uuid.uuid4().hex[:8]
        for topic in (topic_name(config.topic_prefix, step) for step in STEP_NAMES):
            path = self._subscriber.subscription_path(config.project_id, f"tap-{topic}-{suffix}")
            self._subscriber.create_subscription(name=path, topic=f"projects/{config.project_id}/topics/{topic}")
            self._paths[topic] = path

    def subscription(self, topic: str) -> str:
        return self._paths[topic]

    def pull(
        self, topic: str, expected: int, match: Callable[[Any], bool] = lambda m: True, timeout_s: float = 20.0
    ) -> list[Any]:
        """Pulls (and acks) the topic's messages until `expected` of them match; returns those.

        Then pulls once more, so a test sees any message published beyond what it expected.
        """
        path, matched = self._paths[topic], []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self._subscriber.pull(subscription=path, max_messages=20, timeout=2)
            received = response.received_messages
            if received:
                self._subscriber.acknowledge(subscription=path, ack_ids=[m.ack_id for m in received])
            matched += [m.message for m in received if match(m.message)]
            if len(matched) >= expected and not received:
                return matched
        raise AssertionError(f"{len(matched)} of {expected} messages on {topic} within {timeout_s} s")

    def close(self) -> None:
        for path in self._paths.values():
            self._subscriber.delete_subscription(subscription=path)
        self._subscriber.close()


@pytest.fixture
def taps(cloud_env: Config) -> Iterator[Taps]:
    tapped = Taps(cloud_env)
    yield tapped
    tapped.close()


def envelope(
    data: bytes,
    attributes: dict[str, str],
    subscription: str = "projects/p/subscriptions/s",
    message_id: str | None = None,
) -> dict[str, Any]:
    """The body of a Pub/Sub push request."""
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes,
            "messageId": message_id or uuid.uuid4().hex[:16],
            "publishTime": "2026-01-01T00:00:00.000Z",
        },
        "subscription": subscription,
    }


def envelope_of(message: Any, subscription: str) -> dict[str, Any]:
    """The push body of a message pulled from the emulator, as the push subscription would send it."""
    return envelope(message.data, dict(message.attributes), subscription, message.message_id)


def post_raw_push(client: Any, config: Config, topic: str, body: dict[str, Any]) -> Any:
    """A raw Pub/Sub push, to the URL path that names the topic (as the dev stack's subscriptions)."""
    return client.post(f"/projects/{config.project_id}/topics/{topic}", json=body)


def post_cloud_event(client: Any, config: Config, topic: str, body: dict[str, Any]) -> Any:
    """A binary-mode CloudEvent, as Eventarc delivers a Pub/Sub message to Cloud Run."""
    headers = {
        "ce-id": body["message"]["messageId"],
        "ce-source": f"//{PUBSUB_SERVICE}/projects/{config.project_id}/topics/{topic}",
        "ce-type": MESSAGE_PUBLISHED,
        "ce-specversion": "1.0",
        "ce-time": body["message"]["publishTime"],
    }
    return client.post("/", json=body, headers=headers)
