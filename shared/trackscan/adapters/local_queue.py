"""Publisher for the in-process queue: a worker collects what a step emits and hands it back."""

from __future__ import annotations

from trackscan.domain.messages import Message


class CollectingPublisher:
    """Keeps published messages in a list; the local runner enqueues them after the step."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(self, message: Message) -> None:
        """Keeps the message until the next drain()."""
        self.messages.append(message)

    def drain(self) -> list[Message]:
        """Returns and forgets the messages published so far."""
        messages, self.messages = self.messages, []
        return messages
