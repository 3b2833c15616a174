"""Publisher on Google Cloud Pub/Sub: a message goes to the topic of the step that consumes it."""

from __future__ import annotations

import google.cloud.pubsub_v1 as pubsub_v1

from trackscan.adapters.cloud_errors import transient_as_retryable
from trackscan.domain.config import Config
from trackscan.domain.messages import Message, to_json
from trackscan.pipeline.steps import STEPS

PUBLISH_TIMEOUT_S = 10.0


def topic_names(config: Config) -> dict[type, str]:
    """The topic of each message kind: that of the step that consumes it."""
    return {step.consumes: step.topic(config.topic_prefix) for step in STEPS}


class PubSubPublisher:
    """Publishes to the topic of the consuming step and waits for the server's acknowledgement.

    Waiting means a failed publish fails the step, so the inbound message is redelivered instead
    of acknowledged.
    """

    def __init__(self, client: pubsub_v1.PublisherClient, config: Config) -> None:
        self._client = client
        self._topics = {kind: client.topic_path(config.project_id, name) for kind, name in topic_names(config).items()}

    def publish(self, message: Message) -> None:
        """Publishes with a kind attribute (and track_id, when the message has one); waits at most PUBLISH_TIMEOUT_S."""
        attributes = {"kind": message.kind}
        track_id = getattr(message, "track_id", None)
        if track_id:
            attributes["track_id"] = track_id
        with transient_as_retryable(f"publishing {message.kind}"):
            future = self._client.publish(self._topics[type(message)], to_json(message).encode(), **attributes)
            future.result(timeout=PUBLISH_TIMEOUT_S)
