"""One deadline per step: every backend call inside a step draws its timeout from what is left.

``run_step`` opens the deadline from the step budget (Config.step_budget_s). An adapter about to
call a backend (GCS, Firestore, Pub/Sub, Triton, the decoder child) asks ``time_left`` for the
call's timeout: its own cap, cut to what is left of the step. When nothing is left it raises
StepDeadlineError, a RetryableError: the message is redelivered. Every handler is idempotent
under redelivery, so a step cut short between two writes is the same as a worker killed there:
the next delivery redoes what is missing and nothing is recorded half-done.

Outside a step (the API, the CLI's reads) there is no deadline and every call keeps its cap.
The deadline lives in a context variable: it follows the step's own thread, not a thread pool's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from trackscan.domain.errors import RetryableError

_DEADLINE: ContextVar[float | None] = ContextVar("step_deadline", default=None)


class StepDeadlineError(RetryableError):
    """The step's budget ran out before a backend call: retry the whole step later."""


@contextmanager
def step_deadline(budget_s: float) -> Iterator[None]:
    """Runs the block under a deadline budget_s from now, or the enclosing one where it is nearer.

    A budget of 0 or less adds none (the enclosing deadline, if any, still holds).
    """
    enclosing = _DEADLINE.get()
    deadline = time.monotonic() + budget_s if budget_s > 0 else None
    if enclosing is not None and (deadline is None or enclosing < deadline):
        deadline = enclosing
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left(cap_s: float, what: str) -> float:
    """The timeout of the next backend call: cap_s, or less where the step's deadline is nearer.

    Raises:
        StepDeadlineError: the step's deadline has passed; ``what`` names the call not made.
    """
    deadline = _DEADLINE.get()
    if deadline is None:
        return cap_s
    left = deadline - time.monotonic()
    if left <= 0:
        raise StepDeadlineError(f"the step's deadline passed before {what}")
    return min(cap_s, left)
