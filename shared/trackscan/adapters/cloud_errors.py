"""Maps Google API and gRPC failures onto the retry split of trackscan.domain.errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from google.api_core import exceptions as google_errors

from trackscan.domain.errors import RetryableError

# Worth another delivery: the service was busy, slow or briefly unreachable.
TRANSIENT = (
    google_errors.TooManyRequests,
    google_errors.ServiceUnavailable,
    google_errors.InternalServerError,
    google_errors.BadGateway,
    google_errors.GatewayTimeout,
    google_errors.DeadlineExceeded,
    google_errors.Aborted,
    google_errors.RetryError,
    ConnectionError,
    TimeoutError,
)


@contextmanager
def transient_as_retryable(what: str) -> Iterator[None]:
    """Re-raises transient cloud errors as RetryableError, naming what was being done."""
    try:
        yield
    except TRANSIENT as exc:
        raise RetryableError(f"{what}: {type(exc).__name__}: {exc}") from exc
