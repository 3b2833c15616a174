"""Google client calls inside a step: failures mapped, time limits drawn from the deadline.

Failures map onto the retry split of trackscan.domain.errors; a call's timeout and its retries'
end come from what is left of the step's deadline (trackscan.domain.step_deadline).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as google_errors
from google.api_core.retry import Retry

from trackscan.domain.errors import RetryableError
from trackscan.domain.step_deadline import time_left

# The longest one call and its retries may take outside a step (the API, the CLI): the Google
# clients' own default for one request.
CALL_CAP_S = 60.0

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


def call_limits(what: str, retry: Retry, cap_s: float = CALL_CAP_S) -> dict[str, Any]:
    """The ``timeout`` and ``retry`` arguments of one Google client call: what is left of the step.

    The retry gives up at the same moment as the call, so a call and all its retries end by the
    step's deadline (trackscan.domain.step_deadline); StepDeadlineError when none is left.
    """
    left = time_left(cap_s, what)
    return {"timeout": left, "retry": retry.with_timeout(left)}
