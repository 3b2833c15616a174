"""Where a partner's result events go: its webhook URL and the secrets that sign them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from trackscan.domain.config import Config

EVERY_PARTNER = "*"
SECRET_PREFIX = "whsec_"  # Standard Webhooks: the prefix, then the key in base64


@dataclass(frozen=True)
class WebhookEndpoint:
    """A partner's receiver: events are POSTed to ``url``, signed by each secret (``whsec_...``)."""

    url: str
    secrets: tuple[str, ...]


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
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"a webhook secret is {SECRET_PREFIX} and base64: {exc}") from exc
    if len(key) < 16:
        raise ValueError(f"a webhook secret's key is at least 16 bytes, not {len(key)}")
