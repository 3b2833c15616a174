"""Events the pipeline will not process, kept with the reason so nothing vanishes silently.

A malformed Pub/Sub message, a notification from another bucket, an object outside a known
partner's prefix: each is acknowledged (redelivering it would never help) and recorded once,
keyed by its content, so support staff can see what was refused and why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trackscan.tracks import utc_now

if TYPE_CHECKING:
    from trackscan.ports import RejectionLog

log = logging.getLogger(__name__)


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


def keep_rejected(log_to: RejectionLog, reason: str, data: bytes, attributes: dict[str, str], message_id: str) -> None:
    """Logs the refused event at ERROR and records it; a store failure only loses the record."""
    event = rejected_event(reason, data, attributes, message_id)
    log.error(
        "rejected event",
        extra={
            "reason": reason,
            "subject": event.subject,
            "message_id": message_id,
            "event_id": event.event_id,
            "track_id": attributes.get("track_id"),
        },
    )
    try:
        log_to.record_rejected(event)
    except Exception:  # noqa: BLE001 - the event is acknowledged either way; the log line stays
        log.warning("could not record the rejected event", extra={"event_id": event.event_id})
