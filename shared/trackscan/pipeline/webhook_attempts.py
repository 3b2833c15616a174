"""The deliver step's send attempts, kept in batches for ``GET /v1/webhook`` and the console.

A write per attempt would cost as much as the rest of announcing a track (costs/result_events.py),
so a process keeps its attempts in memory and writes them a batch per partner: when the first
of a batch is ``Config.webhook_attempts_flush_s`` old (a timer; on Cloud Run, which throttles an
instance's CPU between requests, it may fire only with the next request), when a batch reaches
MAX_PENDING, at once for an undelivered event, and at the process's exit. A process killed
outright loses at most that long's attempts from this list; the deliver step's log lines
("webhook delivered", "webhook failed", "webhook undelivered") keep every one.
"""

from __future__ import annotations

import atexit
import logging
import threading

from trackscan.domain.ports import WebhookRegistry
from trackscan.domain.webhooks import UNDELIVERED, WebhookAttempt

log = logging.getLogger(__name__)
MAX_PENDING = 500  # about 100 KB a batch, well under Firestore's 1 MiB document


class AttemptBatches:
    """The attempts of this process not written yet, by registry and partner; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[WebhookRegistry, str], list[WebhookAttempt]] = {}
        self._timer: threading.Timer | None = None

    def add(self, partner: str, attempt: WebhookAttempt, registry: WebhookRegistry, flush_s: float) -> None:
        """Keeps the attempt; writes every batch now if it is undelivered or a batch is due."""
        with self._lock:
            batch = self._pending.setdefault((registry, partner), [])
            batch.append(attempt)
            due = flush_s <= 0 or attempt.outcome == UNDELIVERED or len(batch) >= MAX_PENDING
            if not due and self._timer is None:
                self._timer = threading.Timer(flush_s, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Writes every pending batch, one write per partner; a batch that fails is logged and dropped."""
        with self._lock:
            pending, self._pending = self._pending, {}
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        for (registry, partner), attempts in pending.items():
            try:
                registry.add_attempts(partner, attempts)
            except Exception as exc:  # noqa: BLE001 - the list is a convenience; the logs have every attempt
                log.warning(
                    "webhook attempts not kept",
                    extra={"partner": partner, "count": len(attempts), "error": f"{type(exc).__name__}: {exc}"},
                )


BATCHES = AttemptBatches()
atexit.register(BATCHES.flush)
