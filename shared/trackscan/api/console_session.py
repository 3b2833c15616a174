"""The console's sign-in session: a signed cookie with a lifetime, an id that logout revokes, headers.

The cookie is signed with ``console_secret`` (every instance must share it; without one, each
process makes its own and a sign-in holds for that process only). It carries a random session id;
logout writes that id under ``<work root>/console-sessions/revoked/`` in the blob store, which
every instance reads, so a cookie copied before logout is refused afterwards. The work bucket's
lifecycle rule removes the markers, long after the cookies they revoke have expired.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface

from trackscan.domain.ports import BlobStore

# How long a sign-in holds: one working day.
SESSION_LIFETIME = timedelta(hours=10)
REVOKED_PREFIX = "console-sessions/revoked"
# No script at all, styles from the console only, no framing, forms post back to the console.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages and the CSV carry partner data: no browser or proxy cache keeps them.
    "Cache-Control": "no-store",
}


class _HttpsOnlyWhereServedSo(SecureCookieSessionInterface):
    """Marks the cookie Secure whenever the console is reached over https.

    Directly or, as on Cloud Run, through a proxy that says so; plain http (the dev stack) could
    not send a Secure cookie back.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def configure(app: Flask, secret: str) -> None:
    """Signs the app's sessions with ``secret`` (a random one per process when empty), for SESSION_LIFETIME."""
    if not app.secret_key:
        app.secret_key = secret or secrets.token_hex(32)
    app.session_interface = _HttpsOnlyWhereServedSo()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME
    )


def add_security_headers(response: Response) -> Response:
    """Every console answer: CSP, no framing, no sniffing, no referrer, no caching."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def new_session_id() -> str:
    """A random id for a new sign-in, and a CSRF token is made the same way."""
    return secrets.token_urlsafe(24)


class SessionRevocations:
    """Session ids that logout ended, kept in the blob store that every instance shares.

    Args:
        blobs: the blob store.
        work_root_uri: the work root; markers go under ``<root>/console-sessions/revoked/``.
    """

    def __init__(self, blobs: BlobStore, work_root_uri: str) -> None:
        self._blobs = blobs
        self._prefix = f"{work_root_uri.rstrip('/')}/{REVOKED_PREFIX}/"

    def revoke(self, session_id: str) -> None:
        """Ends the session for good (idempotent)."""
        self._blobs.write_if_absent(self._uri(session_id), b"")

    def is_revoked(self, session_id: str) -> bool:
        """Whether logout ended this session."""
        return self._blobs.stat(self._uri(session_id)) is not None

    def _uri(self, session_id: str) -> str:
        # Ids are made by new_session_id (URL-safe base64) and come back in a signed cookie.
        return self._prefix + session_id
