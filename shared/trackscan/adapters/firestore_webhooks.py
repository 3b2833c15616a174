"""WebhookRegistry in Firestore: a document per partner in ``<tracks>-webhooks``.

No secret is stored: a registration holds the generation of its secret, which the deliver step
derives from the webhook key (Secret Manager), so a reader of the database learns no secret.
Send attempts go in batches to ``<tracks>-webhook-attempts``, a document per batch (the deliver
step writes a few a minute, not one per event); Firestore's TTL policy on ``expire_at``
(terraform/modules/firestore) deletes them after ATTEMPTS_KEPT.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from google.cloud import firestore

from trackscan.adapters.cloud_errors import call_limits, transient_as_retryable
from trackscan.adapters.firestore_store import RETRY
from trackscan.domain.webhooks import (
    ATTEMPTS_KEPT,
    UNDELIVERED,
    WebhookAttempt,
    WebhookRegistration,
    latest_attempts,
)


class FirestoreWebhookRegistry:
    """One small document per partner, written only when the partner changes its webhook."""

    def __init__(self, client: firestore.Client, tracks_collection: str) -> None:
        self._webhooks = client.collection(f"{tracks_collection}-webhooks")
        self._attempts = client.collection(f"{tracks_collection}-webhook-attempts")

    def webhook(self, partner: str) -> WebhookRegistration | None:
        """The partner's registration, or None."""
        with transient_as_retryable(f"reading the webhook of {partner}"):
            snapshot = self._webhooks.document(partner).get(**call_limits("reading a webhook", RETRY))
        data = snapshot.to_dict() if snapshot.exists else None
        return WebhookRegistration(**data) if data else None

    def save_webhook(self, registration: WebhookRegistration) -> None:
        """Creates or replaces the partner's registration."""
        with transient_as_retryable(f"saving the webhook of {registration.partner}"):
            self._webhooks.document(registration.partner).set(
                asdict(registration), **call_limits("saving a webhook", RETRY)
            )

    def delete_webhook(self, partner: str) -> bool:
        """Removes the partner's registration; False when it had none."""
        document = self._webhooks.document(partner)
        with transient_as_retryable(f"deleting the webhook of {partner}"):
            existed = document.get(**call_limits("reading a webhook", RETRY)).exists
            document.delete(**call_limits("deleting a webhook", RETRY))
        return existed

    def add_attempts(self, partner: str, attempts: list[WebhookAttempt]) -> None:
        """Keeps the batch as one document, deleted by the TTL policy after ATTEMPTS_KEPT."""
        if not attempts:
            return
        document = {
            "partner": partner,
            "at": max(a.at for a in attempts),
            "undelivered": any(a.outcome == UNDELIVERED for a in attempts),
            "attempts": [asdict(a) for a in attempts],
            "expire_at": datetime.now(UTC) + ATTEMPTS_KEPT,
        }
        with transient_as_retryable(f"keeping the webhook attempts of {partner}"):
            self._attempts.document().set(document, **call_limits("keeping webhook attempts", RETRY))

    def attempts(self, partner: str, limit: int, undelivered: bool = False) -> list[WebhookAttempt]:
        """The partner's latest attempts, newest first; only the undelivered ones if asked."""
        # Served by the (partner, undelivered, at descending) composite index in terraform/modules/firestore.
        query = self._attempts.where(filter=firestore.FieldFilter("partner", "==", partner))
        if undelivered:
            query = query.where(filter=firestore.FieldFilter("undelivered", "==", True))
        query = query.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
        with transient_as_retryable(f"listing the webhook attempts of {partner}"):
            batches = [s.to_dict() or {} for s in query.stream(**call_limits("listing webhook attempts", RETRY))]
        found = [WebhookAttempt(**a) for batch in batches for a in batch.get("attempts", [])]
        return latest_attempts(found, limit, undelivered)
