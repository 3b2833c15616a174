"""WebhookRegistry in the embedded default's SQLite file: one row per partner."""

from __future__ import annotations

import json
from dataclasses import asdict

from trackscan.adapters.sqlite_store import ThreadConnections
from trackscan.domain.webhooks import WebhookRegistration


class SqliteWebhookRegistry:
    """The registration as JSON beside the track records (the same file, its own table)."""

    def __init__(self, db_path: str) -> None:
        self._connections = ThreadConnections(db_path)

    def webhook(self, partner: str) -> WebhookRegistration | None:
        """The partner's registration, or None."""
        row = self._connections.get().execute("SELECT registration FROM webhooks WHERE partner = ?", (partner,))
        found = row.fetchone()
        return WebhookRegistration(**json.loads(found[0])) if found else None

    def save_webhook(self, registration: WebhookRegistration) -> None:
        """Creates or replaces the partner's registration."""
        row = (registration.partner, json.dumps(asdict(registration)))
        self._connections.get().execute("INSERT OR REPLACE INTO webhooks VALUES (?, ?)", row)

    def delete_webhook(self, partner: str) -> bool:
        """Removes the partner's registration; False when it had none."""
        return self._connections.get().execute("DELETE FROM webhooks WHERE partner = ?", (partner,)).rowcount > 0
