"""Who may use the support console, and which partners' tracks each one sees.

Staff are not partners: they come from their own settings. ``TRACKSCAN_CONSOLE_KEYS`` holds
``name:key:scope`` entries for the dev login (the dev stack and local runs); ``TRACKSCAN_CONSOLE_IDENTITIES``
holds ``email=scope`` entries for Google accounts, whose ID tokens are checked like partners' (in the
cloud, through an authenticating proxy such as ``gcloud run services proxy``). A scope is ``*`` for
every partner or one partner's name: support staff of a partner see that partner's tracks only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from trackscan.api.auth import IdentityVerifier, InvalidTokenError, parse_identities
from trackscan.domain.config import Config

EVERY_PARTNER = "*"


@dataclass(frozen=True)
class Staff:
    """A signed-in member of staff and the partner they may see (None: every partner)."""

    name: str
    partner: str | None

    def sees(self, partner: str) -> bool:
        """Whether this member of staff may see a track of ``partner``."""
        return self.partner is None or self.partner == partner


def _scope(value: str) -> str | None:
    return None if value == EVERY_PARTNER else value


def parse_console_keys(spec: str) -> dict[str, Staff]:
    """Maps each login key to its member of staff, from "name:key:scope,..." (scope defaults to *).

    Raises:
        ValueError: an entry has no name or key, or two entries share a key.
    """
    keys: dict[str, Staff] = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        name, _, rest = entry.partition(":")
        key, _, scope = rest.partition(":")
        if not (name.strip() and key.strip()):
            raise ValueError(f"malformed TRACKSCAN_CONSOLE_KEYS entry {entry!r}: expected 'name:key[:scope]'")
        if key.strip() in keys:
            raise ValueError("TRACKSCAN_CONSOLE_KEYS gives the same key twice")
        keys[key.strip()] = Staff(name.strip(), _scope(scope.strip() or EVERY_PARTNER))
    return keys


class StaffDirectory:
    """Checks a login key or a Google ID token against the console's staff settings.

    Args:
        config: the configuration holding the console's keys and identities.
        verifier: checks a Google ID token and returns its e-mail; None accepts keys only.
    """

    def __init__(self, config: Config, verifier: IdentityVerifier | None) -> None:
        self._keys = parse_console_keys(config.console_keys)
        self._identities = parse_identities(config.console_identities)
        self._verifier = verifier

    @property
    def enabled(self) -> bool:
        """Whether anyone at all may use the console (else it is not served)."""
        return bool(self._keys or self._identities)

    def by_key(self, key: str) -> Staff | None:
        """The member of staff whose login key this is (compared in constant time), or None."""
        found = None
        for known, staff in self._keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                found = staff
        return found

    def by_token(self, authorization: str | None) -> Staff | None:
        """The member of staff an ``Authorization: Bearer`` Google ID token names, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if self._verifier is None or scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            email = self._verifier(token.strip()).lower()
        except InvalidTokenError:
            return None
        scope = self._identities.get(email)
        return Staff(email, _scope(scope)) if scope is not None else None
