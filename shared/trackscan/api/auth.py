"""Who is calling: a partner name from an API key (local, dev) or a verified Google identity.

The Google ID token check itself lives in ``google_identity`` behind the ``IdentityVerifier``
callable, so the API-key path and the identity mapping are tested without network.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Protocol

from trackscan.api.errors import ApiError
from trackscan.domain.config import Config

log = logging.getLogger(__name__)
# A bearer token in, the verified e-mail address of its subject out (raises InvalidTokenError).
IdentityVerifier = Callable[[str], str]

API_KEY_HEADER = "X-API-Key"
INVALID_TOKEN = (
    "The ID token is not valid: send an unexpired Google-signed ID token minted for this API, "
    "with your verified e-mail address in it."
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="trackscan"'}


class HeaderSource(Protocol):
    """Request headers, looked up case-insensitively (werkzeug's Headers)."""

    def get(self, key: str) -> str | None:
        """The header's value, or None when the request has no such header."""


class InvalidTokenError(Exception):
    """The bearer token is malformed, expired, for another audience or not signed by Google."""


def parse_api_keys(spec: str) -> dict[str, str]:
    """Maps each key to its partner, from "partner:key,partner2:key2".

    Raises:
        ValueError: an entry has no key, or two partners share a key.
    """
    keys: dict[str, str] = {}
    for partner, key in _pairs(spec, ":"):
        if key in keys:
            raise ValueError(f"TRACKSCAN_API_KEYS gives the same key to {keys[key]} and {partner}")
        keys[key] = partner
    return keys


def parse_identities(spec: str) -> dict[str, str]:
    """Maps each e-mail address (lower case) to its partner, from "email=partner,email2=partner2"."""
    return {email.lower(): partner for email, partner in _pairs(spec, "=")}


def _pairs(spec: str, separator: str) -> list[tuple[str, str]]:
    pairs = []
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        left, found, right = entry.partition(separator)
        if not (found and left.strip() and right.strip()):
            raise ValueError(f"malformed entry {entry!r}: expected 'a{separator}b'")
        pairs.append((left.strip(), right.strip()))
    return pairs


class Authenticator:
    """Turns request headers into the calling partner's name, or raises a 401/403 ApiError.

    Args:
        api_keys: partner by API key.
        identities: partner by Google identity (e-mail address, lower case).
        verifier: checks a Google ID token and returns its e-mail address; None: API keys only.
    """

    def __init__(self, api_keys: dict[str, str], identities: dict[str, str], verifier: IdentityVerifier | None) -> None:
        self._api_keys = api_keys
        self._identities = identities
        self._verifier = verifier

    @classmethod
    def from_config(cls, config: Config, verifier: IdentityVerifier | None) -> Authenticator:
        """Reads the keys and identity mapping; fails at start-up, not per request, when malformed."""
        return cls(parse_api_keys(config.api_keys), parse_identities(config.partner_identities), verifier)

    def partner_of(self, headers: HeaderSource) -> str:
        """The partner the request speaks for.

        Raises:
            ApiError: 401 without valid credentials; 403 for a verified identity of no partner.
        """
        api_key = headers.get(API_KEY_HEADER)
        if api_key is not None:
            return self._partner_of_key(api_key)
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return self._partner_of_token(token.strip())
        raise _unauthenticated(f"Send an {API_KEY_HEADER} header or 'Authorization: Bearer <ID token>'.")

    def _partner_of_key(self, api_key: str) -> str:
        # Compare with every key in constant time, so timing does not reveal a key's prefix.
        partner = None
        for key, owner in self._api_keys.items():
            if hmac.compare_digest(key.encode(), api_key.encode()):
                partner = owner
        if partner is None:
            raise _unauthenticated("The API key is not valid.")
        return partner

    def _partner_of_token(self, token: str) -> str:
        if self._verifier is None:
            raise _unauthenticated("This deployment does not accept Google ID tokens; use an API key.")
        try:
            email = self._verifier(token).lower()
        except InvalidTokenError as exc:
            # The reason stays in the log: google-auth's text names the audience the API expects
            # (its URL), which a caller without a valid token has no business learning.
            log.info("invalid ID token", extra={"reason": str(exc)[:300]})
            raise _unauthenticated(INVALID_TOKEN) from exc
        partner = self._identities.get(email)
        if partner is None:
            raise ApiError(403, "PERMISSION_DENIED", f"The identity {email} is not registered to a partner.")
        return partner


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message, _CHALLENGE)
