"""Deliver: sends a result event to its partner's webhook, signed as Standard Webhooks says.

The body is the event's JSON, the very bytes the results topic carries. Headers: ``webhook-id``
(the event id: the same on every retry, so a receiver drops repeats), ``webhook-timestamp``
(this attempt) and ``webhook-signature`` (one ``v1,<base64>`` per secret, space-separated). A 2xx
is delivered; any other answer, a timeout or a refused connection raises RetryableError, and the
transport retries with backoff. Past the retry limit the dead-letter handler calls
``handle_undelivered``, which sends the event round again until it is webhook_retry_s old.
This step never fails a track: the track is final before its event exists. Every attempt is
kept for ``GET /v1/webhook`` (trackscan.pipeline.webhook_attempts: in batches, not a write each).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from trackscan.domain.errors import RetryableError, WebhookRefusedError
from trackscan.domain.messages import TrackFinished, to_json
from trackscan.domain.tracks import utc_now
from trackscan.domain.webhooks import DELIVERED, FAILED, REFUSED, UNDELIVERED, WebhookAttempt, partner_endpoint
from trackscan.pipeline.deliveries import current_attempt
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.webhook_attempts import BATCHES

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
    sent_at = utc_now()
    try:
        reply = deps.webhook_sender.post(endpoint.url, body, headers)
    except WebhookRefusedError as exc:
        # Retrying cannot help until the partner's URL changes; the track itself is final and fine.
        log.error("webhook refused", extra={**context, "error": str(exc)})
        _keep(deps, event, sent_at, REFUSED, error=str(exc))
        return
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("webhook failed", extra={**context, "host": host, "error": error})
        _keep(deps, event, sent_at, FAILED, error=error)
        raise RetryableError(f"webhook at {host} not reached: {type(exc).__name__}") from exc
    latency_s = round(reply.latency_s, 3)
    outcome = {**context, "host": host, "status": reply.status, "latency_s": latency_s}
    if not 200 <= reply.status < 300:
        log.warning("webhook failed", extra=outcome)
        _keep(deps, event, sent_at, FAILED, status=reply.status, latency_s=latency_s)
        raise RetryableError(f"webhook at {host} answered HTTP {reply.status}")
    log.info("webhook delivered", extra=outcome)
    _keep(deps, event, sent_at, DELIVERED, status=reply.status, latency_s=latency_s)


def _keep(
    deps: Deps,
    event: TrackFinished,
    at: str,
    outcome: str,
    status: int | None = None,
    latency_s: float | None = None,
    error: str | None = None,
) -> None:
    """Keeps this attempt for GET /v1/webhook (in this process's batch, see webhook_attempts)."""
    attempt = WebhookAttempt(
        at, event.event_id, event.type, event.track_id, current_attempt(), outcome, status, latency_s, error
    )
    BATCHES.add(event.partner, attempt, deps.webhook_registry, deps.config.webhook_attempts_flush_s)


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
    undelivered = WebhookAttempt(
        utc_now(), event.event_id, event.type, event.track_id, attempts, UNDELIVERED, error=last_error
    )
    BATCHES.add(event.partner, undelivered, deps.webhook_registry, deps.config.webhook_attempts_flush_s)
