"""Verifies Google-signed ID tokens (production auth) with google-auth.

A partner calls with ``Authorization: Bearer <ID token>`` minted for its service account with
the API's URL as audience (e.g. ``gcloud auth print-identity-token --audiences=URL
--include-email``). The token's verified e-mail is then mapped to a partner by ``auth``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import cachecontrol
import google.auth.transport.requests
import requests
from google.auth import exceptions
from google.auth.transport import Request
from google.oauth2 import id_token

from trackscan.api.auth import IdentityVerifier, InvalidTokenError
from trackscan.domain.errors import RetryableError

# Fetching Google's certificates must not eat a request's time budget (the default is 120 s).
CERTS_TIMEOUT_S = 5.0
# Tolerated clock difference between the token issuer and this server.
CLOCK_SKEW_S = 10


def google_id_token_verifier(audience: str, request: Request | None = None) -> IdentityVerifier:
    """An IdentityVerifier that accepts Google-signed ID tokens for ``audience``.

    Args:
        audience: the expected ``aud`` claim, normally the API's URL. Required: without it
            any Google ID token, minted for any service, would be accepted.
        request: the HTTP transport that fetches Google's certificates; by default one that
            caches them as long as their Cache-Control header allows (they rotate about daily),
            so a request does not pay a certificate download.

    Raises:
        ValueError: the audience is empty.
    """
    if not audience:
        raise ValueError("an ID token audience is required")
    transport = request or _caching_transport()

    def verify(token: str) -> str:
        try:
            # verify_oauth2_token = verify_token plus the issuer check (accounts.google.com).
            claims = id_token.verify_oauth2_token(token, transport, audience, clock_skew_in_seconds=CLOCK_SKEW_S)
        except exceptions.TransportError as exc:
            raise RetryableError("could not fetch Google's token certificates") from exc
        except (ValueError, exceptions.GoogleAuthError) as exc:
            raise InvalidTokenError(str(exc)) from exc
        return verified_email(claims)

    return verify


def verified_email(claims: Mapping[str, Any]) -> str:
    """The token's e-mail address, which Google must have marked verified.

    Raises:
        InvalidTokenError: the token has no e-mail claim or it is not verified.
    """
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        raise InvalidTokenError("the token carries no verified e-mail; mint it with the e-mail included")
    return email


def _caching_transport() -> Request:
    session = cachecontrol.CacheControl(requests.Session())
    transport = google.auth.transport.requests.Request(session=session)
    return functools.partial(transport, timeout=CERTS_TIMEOUT_S)  # type: ignore[return-value]
