"""One error hierarchy, split by what the transport should do with the message.

RetryableError: raise it and the message is redelivered (timeouts, 429/503, model not ready).
PermanentError: the track is recorded FAILED with a code and the message is acknowledged.
Adapters translate vendor errors into these with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TrackscanError(Exception):
    """Base class of every error trackscan raises on purpose."""


class RetryableError(TrackscanError):
    """A transient failure: the same message may succeed later."""


class PermanentError(TrackscanError):
    """The input can never succeed: record the track FAILED and acknowledge the message.

    Attributes:
        code: a short machine-readable reason, e.g. CORRUPT, UNSUPPORTED, EMPTY, TOO_LONG.
        message: a sentence a support person understands.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(
        self,
    ) -> tuple[Callable[..., PermanentError], tuple[type[PermanentError], str, str], dict[str, Any]]:
        # Pickling rebuilds an exception as cls(*args), and args holds the joined text: rebuild
        # from code and message instead, so the error survives crossing a process boundary.
        return _rebuild_permanent, (type(self), self.code, self.message), self.__dict__


def _rebuild_permanent(cls: type[PermanentError], code: str, message: str) -> PermanentError:
    error = cls.__new__(cls)
    PermanentError.__init__(error, code, message)
    return error


class BadAudioError(PermanentError):
    """The audio file cannot be decoded or is outside the accepted limits."""


class BadMessageError(PermanentError):
    """The event or message is malformed."""

    def __init__(self, message: str) -> None:
        super().__init__("BAD_MESSAGE", message)


class RejectedEventError(PermanentError):
    """A well-formed event the pipeline does not accept (another bucket, an unknown partner)."""

    def __init__(self, message: str) -> None:
        super().__init__("REJECTED", message)


class WebhookRefusedError(TrackscanError):
    """A webhook URL trackscan will not send to: its scheme, port or address (the SSRF rules).

    Not a PermanentError: a refused webhook never fails the track whose event it would carry.
    """
