"""Events the pipeline will not process, recorded with the reason so nothing vanishes silently.

A malformed Pub/Sub message, a notification from another bucket, an object outside a known
partner's prefix: each is acknowledged (redelivering it would never help) and recorded once,
keyed by its content, so support staff can see what was refused and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from trackscan.domain.tracks import utc_now


@dataclass(frozen=True)
class RejectedEvent:
    """One refused event: why, what it was about, and enough of it to find the sender."""

    event_id: str  # a digest of the event's content: a duplicate delivery is the same record
    reason: str
    subject: str  # the object URI or message kind the event was about, "" when unknown
    message_id: str
    attributes: dict[str, str]
    received_at: str


def rejected_event(reason: str, data: bytes, attributes: dict[str, str], message_id: str) -> RejectedEvent:
    """The record of an event refused for ``reason``."""
    digest = hashlib.sha256(data + json.dumps(attributes, sort_keys=True).encode()).hexdigest()
    subject = _subject(attributes)
    return RejectedEvent(f"r{digest[:24]}", reason, subject, message_id, dict(attributes), utc_now())


def _subject(attributes: dict[str, str]) -> str:
    if "bucketId" in attributes:
        return f"gs://{attributes.get('bucketId', '')}/{attributes.get('objectId', '')}"
    return attributes.get("track_id", attributes.get("kind", ""))
