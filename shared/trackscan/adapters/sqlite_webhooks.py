"""WebhookRegistry in the embedded default's SQLite file: one row per partner."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path

from trackscan.domain.webhooks import WebhookRegistration

SCHEMA = "CREATE TABLE IF NOT EXISTS webhooks (partner TEXT PRIMARY KEY, registration TEXT NOT NULL)"


class SqliteWebhookRegistry:
    """The registration as JSON beside the track records (the same file, its own table)."""

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path
        self._local = threading.local()

    @property
    def _db(self) -> sqlite3.Connection:
        # Per process and thread, as the track store's (sqlite3 connections stay in their thread).
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", 0) != os.getpid():
            Path(self._db_path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
            connection.execute(SCHEMA)
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def webhook(self, partner: str) -> WebhookRegistration | None:
        """The partner's registration, or None."""
        row = self._db.execute("SELECT registration FROM webhooks WHERE partner = ?", (partner,)).fetchone()
        return WebhookRegistration(**json.loads(row[0])) if row else None

    def save_webhook(self, registration: WebhookRegistration) -> None:
        """Creates or replaces the partner's registration."""
        row = (registration.partner, json.dumps(asdict(registration)))
        self._db.execute("INSERT OR REPLACE INTO webhooks VALUES (?, ?)", row)

    def delete_webhook(self, partner: str) -> bool:
        """Removes the partner's registration; False when it had none."""
        return self._db.execute("DELETE FROM webhooks WHERE partner = ?", (partner,)).rowcount > 0
