"""``/v1/webhook``: a partner registers, shows, rotates, tests and removes its webhook.

The secret is shown when the webhook is created and when it is rotated, never again: it is
derived from the service's webhook key and the registration's generation (domain.webhooks), so
neither the database nor a log holds it. After a rotation the previous secret signs beside the
new one for ROTATION_OVERLAP, so a receiver can switch without missing an event.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, request

from trackscan.api.errors import ApiError
from trackscan.api.validation import MAX_JSON_BYTES, invalid, parse_json
from trackscan.domain.errors import WebhookRefusedError
from trackscan.domain.tracks import utc_now
from trackscan.domain.webhooks import (
    DELIVERED,
    FAILED,
    ROTATION_OVERLAP,
    WebhookAttempt,
    WebhookRegistration,
    derived_secret,
    registered_endpoint,
    webhook_key,
)
from trackscan.pipeline.deliver import signed_headers
from trackscan.pipeline.deps import Deps

log = logging.getLogger(__name__)
MAX_URL_CHARS = 2048
RECENT_ATTEMPTS = 20


def register(app: Flask, deps: Deps) -> None:
    """Adds the /v1/webhook routes to the partner API (authenticated like every /v1 route)."""
    views = _WebhookViews(deps)
    app.add_url_rule("/v1/webhook", "put_webhook", views.put, methods=["PUT"])
    app.add_url_rule("/v1/webhook", "get_webhook", views.get, methods=["GET"])
    app.add_url_rule("/v1/webhook", "delete_webhook", views.delete, methods=["DELETE"])
    app.add_url_rule("/v1/webhook:rotate", "rotate_webhook", views.rotate, methods=["POST"])
    app.add_url_rule("/v1/webhook:test", "test_webhook", views.test, methods=["POST"])


class _WebhookViews:
    """One method per route; the partner is the request's (g.partner)."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._registry = deps.webhook_registry

    def put(self) -> Response:
        """PUT /v1/webhook: registers the webhook (secret shown) or moves it (secret kept)."""
        url = _url_of(request.stream.read(MAX_JSON_BYTES + 1))
        try:
            self._deps.webhook_sender.check(url)
        except WebhookRefusedError as exc:
            raise invalid(f"The webhook URL is refused: {exc}") from exc
        host = {"partner": g.partner, "host": urlsplit(url).hostname}
        existing = self._registry.webhook(g.partner)
        if existing is not None:
            self._registry.save_webhook(replace(existing, url=url))
            log.info("webhook moved", extra=host)
            return jsonify({"url": url})  # the secret stays as it was (rotate for a new one)
        # A random first generation: a webhook deleted and registered again never gets an old secret.
        created = WebhookRegistration(g.partner, url, generation=secrets.randbelow(1 << 62) + 1, created_at=utc_now())
        secret = self._secret(created)  # before saving: without a key nothing is registered unseen
        self._registry.save_webhook(created)
        log.info("webhook registered", extra=host)
        return jsonify({"url": url, "secret": secret})

    def get(self) -> Response:
        """GET /v1/webhook: the registration, never its secret, with its latest send attempts.

        ``attempts``: the last RECENT_ATTEMPTS, newest first (the deliver step writes them in
        batches, up to TRACKSCAN_WEBHOOK_ATTEMPTS_FLUSH_S apart); ``undelivered``: the events whose
        retries ran out within ATTEMPTS_KEPT, newest first.
        """
        registration = self._registration()
        recent = self._registry.attempts(g.partner, RECENT_ATTEMPTS)
        undelivered = self._registry.attempts(g.partner, RECENT_ATTEMPTS, undelivered=True)
        return jsonify(
            {
                **_resource(registration),
                "attempts": [asdict(a) for a in recent],
                "undelivered": [asdict(a) for a in undelivered],
            }
        )

    def delete(self) -> tuple[str, int]:
        """DELETE /v1/webhook."""
        if not self._registry.delete_webhook(g.partner):
            raise ApiError(404, "NOT_FOUND", "No webhook is registered.")
        log.info("webhook removed", extra={"partner": g.partner})
        return "", 204

    def rotate(self) -> Response:
        """POST /v1/webhook:rotate: a new secret; the previous one signs beside it for the overlap."""
        current = self._registration()
        now = datetime.now(UTC)
        rotated = replace(
            current,
            generation=current.generation + 1,
            rotated_at=now.isoformat(timespec="milliseconds"),
            previous_until=(now + ROTATION_OVERLAP).isoformat(timespec="milliseconds"),
        )
        self._registry.save_webhook(rotated)
        log.info("webhook secret rotated", extra={"partner": g.partner, "generation": rotated.generation})
        return jsonify({**_resource(rotated), "secret": self._secret(rotated)})

    def test(self) -> Response:
        """POST /v1/webhook:test: a signed webhook.test event now; what the receiver answered."""
        now = datetime.now(UTC)
        endpoint = registered_endpoint(self._registration(), self._key(), now)
        event_id = f"evt_test_{secrets.token_hex(8)}"
        event = {"type": "webhook.test", "event_id": event_id, "partner": g.partner, "made_at": now.isoformat()}
        body = json.dumps(event).encode()
        outcome: dict[str, Any] = {"event_id": event_id, "status": None, "latency_s": None, "error": None}
        try:
            reply = self._deps.webhook_sender.post(
                endpoint.url, body, signed_headers(event_id, body, endpoint.secrets, now)
            )
            outcome.update(status=reply.status, latency_s=round(reply.latency_s, 3))
        except (WebhookRefusedError, OSError) as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:300]
        outcome["delivered"] = outcome["status"] is not None and 200 <= outcome["status"] < 300
        kept = WebhookAttempt(
            now.isoformat(timespec="milliseconds"),
            event_id,
            "webhook.test",
            "",
            1,
            DELIVERED if outcome["delivered"] else FAILED,
            outcome["status"],
            outcome["latency_s"],
            outcome["error"],
        )
        self._registry.add_attempts(g.partner, [kept])  # one write: a test is rare
        return jsonify(outcome)

    def _registration(self) -> WebhookRegistration:
        found = self._registry.webhook(g.partner)
        if found is None:
            raise ApiError(404, "NOT_FOUND", "No webhook is registered: PUT /v1/webhook with its url.")
        return found

    def _secret(self, registered: WebhookRegistration) -> str:
        return derived_secret(self._key(), registered.partner, registered.generation)

    def _key(self) -> bytes:
        try:
            return webhook_key(self._deps.config)
        except ValueError as exc:
            log.error("no webhook key", extra={"error": str(exc)})
            raise ApiError(503, "UNAVAILABLE", "Webhooks are not configured on this deployment.") from exc


def _url_of(data: bytes) -> str:
    """The url of a PUT body: {"url": "https://..."} and nothing else."""
    if len(data) > MAX_JSON_BYTES:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"A JSON body holds at most {MAX_JSON_BYTES} bytes.")
    body = parse_json(data)
    if not isinstance(body, dict) or set(body) != {"url"}:
        raise invalid('The body is {"url": "https://..."}.')
    url = body["url"]
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise invalid(f"url is a string of 1 to {MAX_URL_CHARS} characters.")
    return url


def _resource(registered: WebhookRegistration) -> dict[str, Any]:
    """What GET shows: never the secret."""
    return {
        "url": registered.url,
        "created_at": registered.created_at,
        "rotated_at": registered.rotated_at,
        "previous_secret_until": registered.previous_until,
    }
