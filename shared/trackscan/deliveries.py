"""Parses what the transports deliver into pipeline messages.

A Pub/Sub push reaches a function as a CloudEvent whose data is {"message": {"data": base64,
"attributes": {...}, "messageId": ...}, "subscription": ...}. The uploads topic carries either a
GCS OBJECT_FINALIZE notification or an UploadReceived published by the API.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from trackscan.errors import BadMessageError
from trackscan.messages import Message, UploadReceived, from_json

FINALIZE = "OBJECT_FINALIZE"


@dataclass(frozen=True)
class PushedMessage:
    """A Pub/Sub message as delivered (by push or pull), before its data is parsed."""

    data: bytes
    attributes: dict[str, str]
    message_id: str
    delivery_attempt: int


def pushed_message(event_data: Any) -> PushedMessage:
    """The Pub/Sub message inside a push CloudEvent's data."""
    try:
        message = event_data["message"]
        data = base64.b64decode(message.get("data", ""))
        attempt = int(event_data.get("deliveryAttempt") or message.get("deliveryAttempt") or 1)
        return PushedMessage(data, dict(message.get("attributes") or {}), str(message.get("messageId", "")), attempt)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadMessageError(f"not a Pub/Sub push: {exc}") from exc


def upload_from_notification(pushed: PushedMessage) -> UploadReceived | None:
    """UploadReceived from a GCS notification; None for events other than a finished upload.

    The partner is the first folder of the object name: partners upload under <partner>/.
    Keyed by bucket/object#generation, never by message id: one event may arrive many times.
    """
    attributes = pushed.attributes
    if attributes.get("eventType") != FINALIZE:
        return None
    bucket, name, generation = (attributes.get(k) for k in ("bucketId", "objectId", "objectGeneration"))
    if not (bucket and name and generation):
        raise BadMessageError("the notification lacks bucketId, objectId or objectGeneration")
    partner, slash, _ = name.partition("/")
    if not slash:
        return None  # not under a partner prefix: not an upload for us
    size = int(_json(pushed.data).get("size", 0)) if pushed.data else 0
    return UploadReceived(f"gs://{bucket}/{name}", generation, size, partner)


def message_from_push(pushed: PushedMessage) -> Message | None:
    """A pipeline message from a push; on the uploads topic, also a GCS notification."""
    if "eventType" in pushed.attributes:
        return upload_from_notification(pushed)
    try:
        return from_json(pushed.data)
    except ValueError as exc:
        raise BadMessageError(f"not a trackscan message: {exc}") from exc


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise BadMessageError(f"notification data is not JSON: {exc}") from exc
    return value if isinstance(value, dict) else {}
