"""Creates the dev stack's topics, push subscriptions and buckets in the emulators.

Uses the Google SDKs exactly as the cloud adapters do: they find the emulators through the
standard variables (PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST), set here only while the
clients are in use. Creation is idempotent, so provisioning a running stack again is harmless.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence

from trackscan.dev.layout import (
    ACK_DEADLINE_S,
    MAX_BACKOFF_S,
    MAX_DELIVERY_ATTEMPTS,
    MIN_BACKOFF_S,
    PushSubscription,
    all_topics,
)
from trackscan.domain.config import Config


@contextlib.contextmanager
def environ(env: Mapping[str, str]) -> Iterator[None]:
    """Sets env in os.environ for the duration of the block, then restores what was there."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def models_bucket_name(config: Config) -> str:
    """The Triton model repository bucket; named like terraform/modules/buckets (`<prefix>-models`)."""
    prefix = config.ingest_bucket_name.removesuffix("-ingest")
    return f"{prefix}-models"


def bucket_names(config: Config) -> list[str]:
    """The buckets of the stack: ingest, work and models."""
    return [config.ingest_bucket_name, config.work_bucket_name, models_bucket_name(config)]


def provision(config: Config, plan: Sequence[PushSubscription], env: Mapping[str, str]) -> None:
    """Creates every topic, subscription and bucket of the stack in the emulators named by env."""
    with environ(env):
        create_topics(config.project_id, all_topics(config, plan))
        create_subscriptions(config.project_id, plan)
        create_buckets(config.project_id, bucket_names(config))


def create_topics(project_id: str, topics: Sequence[str]) -> None:
    """Creates the topics that do not exist yet."""
    import google.cloud.pubsub_v1 as pubsub_v1
    from google.api_core.exceptions import AlreadyExists

    publisher = pubsub_v1.PublisherClient()
    for topic in topics:
        with contextlib.suppress(AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(project_id, topic))


def create_subscriptions(project_id: str, plan: Sequence[PushSubscription]) -> None:
    """Creates the push subscriptions, each with its dead-letter topic and retry policy."""
    import google.cloud.pubsub_v1 as pubsub_v1
    from google.api_core.exceptions import AlreadyExists

    subscriber = pubsub_v1.SubscriberClient()
    with subscriber:
        for subscription in plan:
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(request=_subscription_request(project_id, subscription))


def _subscription_request(project_id: str, subscription: PushSubscription) -> dict[str, object]:
    return {
        "name": f"projects/{project_id}/subscriptions/{subscription.name}",
        "topic": f"projects/{project_id}/topics/{subscription.topic}",
        "push_config": {"push_endpoint": subscription.push_endpoint} if subscription.push_endpoint else {},
        "ack_deadline_seconds": ACK_DEADLINE_S,
        "dead_letter_policy": {
            "dead_letter_topic": f"projects/{project_id}/topics/{subscription.dead_letter_topic}",
            "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
        },
        "retry_policy": {
            "minimum_backoff": {"seconds": MIN_BACKOFF_S},
            "maximum_backoff": {"seconds": MAX_BACKOFF_S},
        },
    }


def create_buckets(project_id: str, names: Sequence[str]) -> None:
    """Creates the buckets that do not exist yet."""
    import google.cloud.storage as storage
    from google.api_core.exceptions import Conflict

    client = storage.Client(project=project_id)
    for name in names:
        bucket = client.bucket(name)
        # Versioned like the production ingest bucket, so a generation-pinned read of an
        # overwritten object still finds the old version.
        bucket.versioning_enabled = True
        with contextlib.suppress(Conflict):
            bucket.create()
