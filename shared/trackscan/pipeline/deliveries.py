"""Parses what the transports deliver into pipeline messages, and keeps what it refuses.

A Pub/Sub push reaches a function as a CloudEvent whose data is {"message": {"data": base64,
"attributes": {...}, "messageId": ...}, "subscription": ...}. The ingest topic carries either a
GCS OBJECT_FINALIZE notification or an UploadReceived published by the API.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from trackscan.domain.config import Config
from trackscan.domain.errors import BadMessageError, RejectedEventError
from trackscan.domain.messages import GENERATION, Message, UploadReceived, from_json
from trackscan.domain.ports import RejectionLog
from trackscan.domain.rejections import rejected_event

log = logging.getLogger(__name__)
FINALIZE = "OBJECT_FINALIZE"
_ATTEMPT: ContextVar[int] = ContextVar("delivery_attempt", default=1)


@contextmanager
def handling_attempt(attempt: int) -> Iterator[None]:
    """Makes ``attempt`` the delivery attempt of the message the running step handles."""
    token = _ATTEMPT.set(attempt)
    try:
        yield
    finally:
        _ATTEMPT.reset(token)


def current_attempt() -> int:
    """The delivery attempt of the message the running step handles (1 outside a step)."""
    return _ATTEMPT.get()


@dataclass(frozen=True)
class Delivery:
    """A Pub/Sub message as a push or a pull hands it over, with its delivery attempt."""

    data: bytes
    attributes: dict[str, str]
    message_id: str
    delivery_attempt: int


def delivery_from_push(event_data: Any) -> Delivery:
    """The Pub/Sub message inside a push CloudEvent's data."""
    try:
        message = event_data["message"]
        data = base64.b64decode(message.get("data", ""))
        attempt = int(event_data.get("deliveryAttempt") or message.get("deliveryAttempt") or 1)
        return Delivery(data, dict(message.get("attributes") or {}), str(message.get("messageId", "")), attempt)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadMessageError(f"not a Pub/Sub push: {exc}") from exc


def upload_from_notification(delivery: Delivery, config: Config) -> UploadReceived | None:
    """UploadReceived from a GCS notification; None for events other than a finished upload.

    The partner is the first folder of the object name: partners upload under <partner>/, and
    only the configured ingest bucket and registered partners (matched exactly) are accepted.
    Keyed by bucket/object#generation, never by message id: one event may arrive many times.

    Raises:
        BadMessageError: a field is missing or of the wrong type.
        RejectedEventError: another bucket, no partner prefix, or an unknown partner.
    """
    attributes = delivery.attributes
    if attributes.get("eventType") != FINALIZE:
        return None
    bucket, name, generation = (attributes.get(k) for k in ("bucketId", "objectId", "objectGeneration"))
    if not (bucket and name and generation):
        raise BadMessageError("the notification lacks bucketId, objectId or objectGeneration")
    if not GENERATION.fullmatch(generation):
        raise BadMessageError(f"objectGeneration {generation[:40]!r} is not a number")
    partner = ingest_partner(bucket, name, config)
    return UploadReceived(f"gs://{bucket}/{name}", generation, _size(delivery.data), partner)


def ingest_partner(bucket: str, name: str, config: Config) -> str:
    """The partner whose prefix holds the object, once ingest is known to accept it.

    Raises:
        RejectedEventError: another bucket, no partner prefix, or an unknown partner.
    """
    if bucket != config.ingest_bucket_name:
        raise RejectedEventError(f"gs://{bucket[:100]} is not the ingest bucket gs://{config.ingest_bucket_name}")
    partner, slash, _ = name.partition("/")
    if not slash:
        raise RejectedEventError(f"{name[:200]} is not under a partner prefix (<partner>/...)")
    known = config.partner_ids
    if known and partner not in known:
        raise RejectedEventError(f"{partner[:100]!r} is not a registered partner (partner ids match exactly)")
    return partner


def checked_upload(message: UploadReceived, config: Config) -> UploadReceived:
    """An UploadReceived from Pub/Sub (the API's submit, a reconcile replay), held to a notification's rules.

    Anyone allowed to publish to the ingest topic could send one, so it gets no more than a
    notification would: an object of the ingest bucket under a registered partner's prefix,
    recorded for that partner, and never ``force``, which only ``trackscan run --force`` sets
    in the process that runs the pipeline (it deletes a finished track's work and redoes it).

    Raises:
        BadMessageError: the generation is not a number.
        RejectedEventError: forced, not an ingest object, or another partner's object.
    """
    if message.force:
        raise RejectedEventError("force is refused from Pub/Sub: only `trackscan run --force` redoes a track")
    if not GENERATION.fullmatch(message.generation):
        raise BadMessageError(f"generation {message.generation[:40]!r} is not a number")
    bucket, slash, name = message.source_uri.removeprefix("gs://").partition("/")
    if not message.source_uri.startswith("gs://") or not slash:
        raise RejectedEventError(f"{message.source_uri[:200]} is not a gs://bucket/object URI")
    partner = ingest_partner(bucket, name, config)
    if message.partner != partner:
        raise RejectedEventError(f"the message names partner {message.partner[:100]!r} for {partner!r}'s object")
    return message


def _size(data: bytes) -> int:
    size = _json(data).get("size", 0) if data else 0
    if isinstance(size, int) or (isinstance(size, str) and size.isdigit()):
        return int(size)
    raise BadMessageError(f"the notification's size {str(size)[:40]!r} is not a whole number")


def message_of(delivery: Delivery, config: Config) -> Message | None:
    """A pipeline message from a push; on the ingest topic, also a GCS notification.

    Raises:
        BadMessageError: malformed, or a field of the wrong type.
        RejectedEventError: an upload ingest does not accept (see ``checked_upload``).
    """
    if "eventType" in delivery.attributes:
        return upload_from_notification(delivery, config)
    try:
        message = from_json(delivery.data)
    except ValueError as exc:
        raise BadMessageError(f"not a trackscan message: {exc}") from exc
    return checked_upload(message, config) if isinstance(message, UploadReceived) else message


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise BadMessageError(f"notification data is not JSON: {exc}") from exc
    return value if isinstance(value, dict) else {}


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
