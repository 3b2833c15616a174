"""Publisher on Google Cloud Pub/Sub: a message goes to the topic of the step that consumes it."""

from __future__ import annotations

import google.cloud.pubsub_v1 as pubsub_v1
from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry, if_exception_type

from trackscan.adapters.cloud_errors import call_limits, transient_as_retryable
from trackscan.domain.config import Config
from trackscan.domain.messages import Message, to_json
from trackscan.pipeline.steps import STEPS

PUBLISH_TIMEOUT_S = 10.0
# The codes the client's own publish retry retries, but only until the step's deadline (call_limits).
PUBLISH_RETRY = Retry(
    predicate=if_exception_type(
        google_errors.Aborted,
        google_errors.Cancelled,
        google_errors.DeadlineExceeded,
        google_errors.InternalServerError,
        google_errors.ResourceExhausted,
        google_errors.ServiceUnavailable,
        google_errors.Unknown,
    ),
    initial=0.1,
    maximum=2.0,
)


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
        """Publishes with a kind attribute (and track_id, when the message has one).

        Waits at most PUBLISH_TIMEOUT_S, or what is left of the step's deadline.
        """
        attributes = {"kind": message.kind}
        track_id = getattr(message, "track_id", None)
        if track_id:
            attributes["track_id"] = track_id
        with transient_as_retryable(f"publishing {message.kind}"):
            limits = call_limits(f"publishing {message.kind}", PUBLISH_RETRY, PUBLISH_TIMEOUT_S)
            data = to_json(message).encode()
            future = self._client.publish(
                self._topics[type(message)], data, retry=limits["retry"], timeout=limits["timeout"], **attributes
            )
            future.result(timeout=limits["timeout"])
