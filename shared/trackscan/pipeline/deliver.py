"""Deliver: sends a result event to its partner's webhook, signed as Standard Webhooks says.

The body is the event's JSON, the very bytes the results topic carries. Headers: ``webhook-id``
(the event id: the same on every retry, so a receiver drops repeats), ``webhook-timestamp``
(this attempt) and ``webhook-signature`` (one ``v1,<base64>`` per secret, space-separated). A 2xx
is delivered; any other answer, a timeout or a refused connection raises RetryableError, and the
transport retries with backoff. Past the retry limit the dead-letter handler calls
``handle_undelivered``, which sends the event round again until it is webhook_retry_s old.
This step never fails a track: the track is final before its event exists.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from trackscan.domain.errors import RetryableError, WebhookRefusedError
from trackscan.domain.messages import TrackFinished, to_json
from trackscan.domain.webhooks import partner_endpoint
from trackscan.pipeline.deps import Deps

log = logging.getLogger(__name__)


def signed_headers(event_id: str, body: bytes, secrets: tuple[str, ...], now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: id, timestamp, a signature per secret."""
    signatures = " ".join(Webhook(secret).sign(event_id, now, body) for secret in secrets)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


def handle(event: TrackFinished, deps: Deps) -> None:
    """POSTs the event to the partner's webhook; a partner without one has nothing to send."""
    now = datetime.now(UTC)
    endpoint = partner_endpoint(deps.config, event.partner, deps.webhook_registry.webhook(event.partner), now)
    if endpoint is None:
        return
    body = to_json(event).encode()
    context = {"track_id": event.track_id, "partner": event.partner, "event_id": event.event_id}
    host = urlsplit(endpoint.url).hostname
    headers = signed_headers(event.event_id, body, endpoint.secrets, now)
    try:
        reply = deps.webhook_sender.post(endpoint.url, body, headers)
    except WebhookRefusedError as exc:
        # Retrying cannot help until the partner's URL changes; the track itself is final and fine.
        log.error("webhook refused", extra={**context, "error": str(exc)})
        return
    except OSError as exc:
        log.warning("webhook failed", extra={**context, "host": host, "error": f"{type(exc).__name__}: {exc}"})
        raise RetryableError(f"webhook at {host} not reached: {type(exc).__name__}") from exc
    outcome = {**context, "host": host, "status": reply.status, "latency_s": round(reply.latency_s, 3)}
    if not 200 <= reply.status < 300:
        log.warning("webhook failed", extra=outcome)
        raise RetryableError(f"webhook at {host} answered HTTP {reply.status}")
    log.info("webhook delivered", extra=outcome)


def handle_undelivered(event: TrackFinished, last_error: str, deps: Deps, attempts: int) -> None:
    """An event whose retries ran out: sent round again while young, else logged undelivered.

    Pub/Sub stops at 100 attempts, about 16 hours at its longest backoff; publishing the event
    again starts a new round with the same event id, until webhook_retry_s after made_at.
    """
    age_s = (datetime.now(UTC) - datetime.fromisoformat(event.made_at)).total_seconds()
    context = {"track_id": event.track_id, "partner": event.partner, "event_id": event.event_id, "attempt": attempts}
    if age_s < deps.config.webhook_retry_s:
        log.warning("webhook sent round again", extra={**context, "error": last_error})
        deps.publisher.publish(event)
        return
    log.error("webhook undelivered", extra={**context, "error": last_error})
