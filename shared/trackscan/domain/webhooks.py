"""Where a partner's result events go: its webhook URL and the secrets that sign them.

Two sources, the first that has the partner wins: a webhook the partner registered through the
API (``WebhookRegistration``, kept by the WebhookRegistry port), whose secrets are derived from
the service's webhook key and so are stored nowhere; and one set in the configuration
(TRACKSCAN_WEBHOOKS with TRACKSCAN_WEBHOOK_SECRETS: Terraform's presets, `trackscan run --webhook`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from trackscan.domain.config import Config

EVERY_PARTNER = "*"
SECRET_PREFIX = "whsec_"  # Standard Webhooks: the prefix, then the key in base64


@dataclass(frozen=True)
class WebhookEndpoint:
    """A partner's receiver: events are POSTed to ``url``, signed by each secret (``whsec_...``)."""

    url: str
    secrets: tuple[str, ...]


# After a rotation the previous secret signs beside the new one this long, so a receiver can
# switch without missing a verifiable event.
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class WebhookRegistration:
    """A partner's webhook as registered through the API: no secret in it, only its generation."""

    partner: str
    url: str
    generation: int  # of the signing secret: derived_secret(key, partner, generation)
    created_at: str
    rotated_at: str | None = None
    previous_until: str | None = None  # the previous generation signs too until then (ISO 8601)


# What became of one try at sending an event: a 2xx; any other answer, a timeout or no connection
# (retried); a URL the sender refuses (not retried); the last try of an event past its retry age.
DELIVERED, FAILED, REFUSED, UNDELIVERED = "delivered", "failed", "refused", "undelivered"
# How long the attempts are kept for GET /v1/webhook: a month of a partner's history, then gone
# (Firestore's TTL policy on expire_at; the SQLite adapter deletes them as it adds).
ATTEMPTS_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class WebhookAttempt:
    """One try at sending a result event to a partner's webhook, as GET /v1/webhook lists it."""

    at: str  # when it was sent (ISO 8601, UTC)
    event_id: str  # the webhook-id header: the same on every try of one event
    type: str  # track.done, track.failed, track.retagged or webhook.test
    track_id: str
    attempt: int  # the transport's delivery attempt of the event
    outcome: str  # DELIVERED, FAILED, REFUSED or UNDELIVERED
    status: int | None = None  # the reply's HTTP status; None where none came
    latency_s: float | None = None
    error: str | None = None


def latest_attempts(attempts: list[WebhookAttempt], limit: int, undelivered: bool) -> list[WebhookAttempt]:
    """Up to limit of the attempts, newest first; only the undelivered ones if asked."""
    kept = [a for a in attempts if a.outcome == UNDELIVERED] if undelivered else attempts
    return sorted(kept, key=lambda a: a.at, reverse=True)[:limit]


def derived_secret(key: bytes, partner: str, generation: int) -> str:
    """The partner's signing secret of one generation: HMAC of the webhook key, never stored."""
    digest = hmac.new(key, f"webhook|{partner}|{generation}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest[:24]).decode()


def registered_endpoint(registration: WebhookRegistration, key: bytes, now: datetime) -> WebhookEndpoint:
    """Where a registration sends, signed by its secret and, within a rotation's overlap, the previous one."""
    generations = [registration.generation]
    if registration.previous_until and now < datetime.fromisoformat(registration.previous_until):
        generations.append(registration.generation - 1)
    secrets = tuple(derived_secret(key, registration.partner, g) for g in generations)
    return WebhookEndpoint(registration.url, secrets)


def _entries(text: str) -> list[tuple[str, str]]:
    pairs = (entry.strip().partition("=") for entry in text.split(","))
    return [(partner.strip(), value.strip()) for partner, sep, value in pairs if sep and value.strip()]


def webhook_endpoint(config: Config, partner: str) -> WebhookEndpoint | None:
    """The partner's webhook from Config.webhooks (its own entry, else "*"); None when it has none.

    Raises:
        ValueError: a webhook is set without a secret to sign its events.
    """
    urls = dict(_entries(config.webhooks))
    owner = partner if partner in urls else EVERY_PARTNER
    url = urls.get(owner)
    if url is None:
        return None
    secrets = tuple(secret for name, secret in _entries(config.webhook_secrets) if name == owner)
    if not secrets:
        raise ValueError(f"the webhook of {owner!r} has no secret in TRACKSCAN_WEBHOOK_SECRETS")
    return WebhookEndpoint(url, secrets)


def check_secret(secret: str) -> None:
    """Refuses a signing secret that is not ``whsec_`` and a non-empty base64 key.

    Raises:
        ValueError: the prefix is missing, or what follows is not base64 of at least 16 bytes.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    _key_bytes(secret.removeprefix(SECRET_PREFIX), "a webhook secret's key")


def webhook_key(config: Config) -> bytes:
    """The key the registered webhooks' secrets derive from.

    Raises:
        ValueError: TRACKSCAN_WEBHOOK_KEY is unset or not base64 of at least 16 bytes.
    """
    return _key_bytes(config.webhook_key, "TRACKSCAN_WEBHOOK_KEY")


def _key_bytes(text: str, what: str) -> bytes:
    """The bytes of a base64 key of at least 16 bytes; ValueError naming ``what`` otherwise."""
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{what} is not base64: {exc}") from exc
    if len(key) < 16:
        raise ValueError(f"{what} is unset or shorter than 16 bytes ({len(key)})")
    return key


def partner_endpoint(
    config: Config, partner: str, registration: WebhookRegistration | None, now: datetime
) -> WebhookEndpoint | None:
    """Where the partner's events go: its registered webhook, else the configured one, else nowhere.

    Raises:
        ValueError: the key or a configured secret is missing.
    """
    if registration is not None:
        return registered_endpoint(registration, webhook_key(config), now)
    return webhook_endpoint(config, partner)
