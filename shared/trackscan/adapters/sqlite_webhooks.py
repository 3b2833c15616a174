"""WebhookRegistry in the embedded default's SQLite file: one row per partner."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from trackscan.adapters.sqlite_store import ThreadConnections
from trackscan.domain.webhooks import (
    ATTEMPTS_KEPT,
    UNDELIVERED,
    WebhookAttempt,
    WebhookRegistration,
    latest_attempts,
)


class SqliteWebhookRegistry:
    """The registration as JSON beside the track records (the same file, its own tables)."""

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

    def add_attempts(self, partner: str, attempts: list[WebhookAttempt]) -> None:
        """Keeps the batch as one row; rows older than ATTEMPTS_KEPT go as it is added."""
        if not attempts:
            return
        latest = max(a.at for a in attempts)
        undelivered = any(a.outcome == UNDELIVERED for a in attempts)
        kept_from = (datetime.now(UTC) - ATTEMPTS_KEPT).isoformat()
        connection = self._connections.get()
        connection.execute("DELETE FROM webhook_attempts WHERE at < ?", (kept_from,))
        row = (partner, latest, undelivered, json.dumps([asdict(a) for a in attempts]))
        connection.execute("INSERT INTO webhook_attempts VALUES (?, ?, ?, ?)", row)

    def attempts(self, partner: str, limit: int, undelivered: bool = False) -> list[WebhookAttempt]:
        """The partner's latest attempts, newest first; only the undelivered ones if asked."""
        query = "SELECT attempts FROM webhook_attempts WHERE partner = ? AND undelivered >= ? ORDER BY at DESC LIMIT ?"
        rows = self._connections.get().execute(query, (partner, int(undelivered), limit)).fetchall()
        found = [WebhookAttempt(**a) for (batch,) in rows for a in json.loads(batch)]
        return latest_attempts(found, limit, undelivered)
