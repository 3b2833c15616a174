"""WebhookRegistry in Firestore: a document per partner in ``<tracks>-webhooks``.

No secret is stored: a registration holds the generation of its secret, which the deliver step
derives from the webhook key (Secret Manager), so a reader of the database learns no secret.
"""

from __future__ import annotations

from dataclasses import asdict

from google.cloud import firestore

from trackscan.adapters.cloud_errors import call_limits, transient_as_retryable
from trackscan.adapters.firestore_store import RETRY
from trackscan.domain.webhooks import WebhookRegistration


class FirestoreWebhookRegistry:
    """One small document per partner, written only when the partner changes its webhook."""

    def __init__(self, client: firestore.Client, tracks_collection: str) -> None:
        self._webhooks = client.collection(f"{tracks_collection}-webhooks")

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
