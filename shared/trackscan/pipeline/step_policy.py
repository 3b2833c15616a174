"""Runs a step handler and applies the error policy shared by every transport.

PermanentError: the track is recorded FAILED with its code, its work blobs are deleted, and the
message counts as handled. Any other exception propagates, so the transport redelivers the
message; after the retry limit, ``handle_dead_letter`` records RETRIES_EXHAUSTED. The handler
runs under the step's deadline (trackscan.domain.step_deadline): a step whose budget runs out
before a backend call raises StepDeadlineError, which is redelivered like any other.
"""

from __future__ import annotations

import logging
import time

from trackscan.domain.errors import PermanentError
from trackscan.domain.messages import Message, TrackFinished
from trackscan.domain.step_deadline import step_deadline
from trackscan.domain.tracks import ErrorInfo, FailedAttempt, TrackState, utc_now
from trackscan.domain.transitions import Transition
from trackscan.pipeline.announce import announce
from trackscan.pipeline.deliver import handle_undelivered
from trackscan.pipeline.deliveries import handling_attempt
from trackscan.pipeline.deps import Deps, track_prefix
from trackscan.pipeline.steps import step_for, track_id_of

log = logging.getLogger(__name__)
# Kept back from the handler's deadline for noting a failed attempt on the track's record, so a
# step that ran out of time (a stalled backend) still says why, inside the step's budget.
FAILED_NOTE_RESERVE_S = 1.0


def run_step(message: Message, deps: Deps, attempt: int = 1) -> None:
    """Runs the handler of the message; records permanent failures, re-raises the rest.

    Logs one line per invocation with its duration: "step finished" (INFO) when the message is
    handled, "step failed" (ERROR) when it will be redelivered; the step budget benchmark and
    the fault suite read these. A failed attempt is also kept on the track's record, so the
    record says why a track is not moving.
    """
    step = step_for(message)
    track_id = track_id_of(message)
    segment_index = getattr(message, "segment_index", None)
    context = {"track_id": track_id, "step": step.name, "attempt": attempt, "segment_index": segment_index}
    started, started_cpu = time.perf_counter(), time.process_time()

    def timing() -> dict[str, float]:
        return {
            "duration_s": round(time.perf_counter() - started, 4),
            "cpu_s": round(time.process_time() - started_cpu, 4),
        }  # this process's CPU, not the decoder's

    budget_s = deps.config.step_budget_s
    with step_deadline(budget_s), handling_attempt(attempt):  # the whole step, a failed attempt's note included
        try:
            with step_deadline(budget_s - FAILED_NOTE_RESERVE_S if budget_s > 0 else 0):
                try:
                    step.handler(message, deps)
                except PermanentError as exc:
                    error_info = ErrorInfo(exc.code, exc.message, step.name)
                    record_failure(deps, track_id, error_info, attempt, segment_index)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("step failed", extra={**context, **timing(), "error": error})
            _keep_failed_attempt(deps, track_id, FailedAttempt(step.name, attempt, error, utc_now(), segment_index))
            raise
    log.info("step finished", extra={**context, **timing()})


def _keep_failed_attempt(deps: Deps, track_id: str, attempt: FailedAttempt) -> None:
    # Best effort: when the store itself is what failed, the redelivery matters more than the note.
    try:
        deps.tracks.record_failed_attempt(track_id, attempt)
    except Exception:  # noqa: BLE001 - already failing; never mask the step's own error
        log.warning("could not note the failed attempt", extra={"track_id": track_id, "step": attempt.step})


def handle_dead_letter(message: Message, last_error: str, deps: Deps, attempts: int) -> None:
    """Marks the track of a message that exhausted its retries FAILED (RETRIES_EXHAUSTED).

    A result event's retries are its webhook's, not the track's: the track stays as it is
    (trackscan.pipeline.deliver.handle_undelivered).
    """
    if isinstance(message, TrackFinished):
        handle_undelivered(message, last_error, deps, attempts)
        return
    step = step_for(message).name
    error = ErrorInfo("RETRIES_EXHAUSTED", f"The {step} step failed {attempts} times; last error: {last_error}", step)
    record_failure(deps, track_id_of(message), error, attempts)


def record_failure(deps: Deps, track_id: str, error: ErrorInfo, attempt: int, segment_index: int | None = None) -> None:
    """Records the track FAILED with the error and deletes its work blobs.

    Logs "track failed" at ERROR with the code, whatever failed it (a step's permanent error,
    the dead-letter handler, reconcile): the FAILED-tracks-per-hour metric counts these lines.
    A track the store does not know is only logged: there is no record to fail.
    """
    log.error(
        "track failed",
        extra={
            "track_id": track_id,
            "step": error.step,
            "attempt": attempt,
            "segment_index": segment_index,
            "code": error.code,
            "error": error.message,
        },
    )
    record = deps.tracks.get(track_id)
    if record is None:
        log.error("failure of an unknown track", extra={"track_id": track_id, "code": error.code})
        return
    failed = deps.tracks.apply(track_id, Transition(TrackState.FAILED, error.step, attempt=attempt, error=error))
    deps.blobs.delete_prefix(track_prefix(deps, track_id))
    # Already final (a repeated failure): announced again, as the first announcement may be what was lost.
    announce(failed or deps.tracks.get(track_id) or record, deps)
