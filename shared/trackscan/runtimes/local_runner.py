"""The embedded default's transport: an in-process queue feeding a pool of worker processes.

The queue plays Pub/Sub's part: a step's emitted messages are queued, a failed message is
retried with backoff, and one that keeps failing goes to the dead-letter handler. Later steps
run first, so tracks finish one after another instead of all at the end. The queue itself is
not durable: a killed run is resumed by running again, which republishes unfinished tracks
while their finished segments are kept.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import NoReturn

from trackscan.audio.warmup import warm_up
from trackscan.domain.config import Config
from trackscan.domain.messages import Message
from trackscan.domain.ports import QueuedPublisher
from trackscan.domain.tracks import TrackRecord
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import handle_dead_letter, run_step
from trackscan.pipeline.steps import STEPS, track_id_of
from trackscan.runtimes.bootstrap import local_deps
from trackscan.runtimes.child_processes import end_with_parent, leave_interrupts_to_parent

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
RETRY_BASE_S = 0.5
# Later steps first, so tracks finish one after another.
STEP_PRIORITY = {step.consumes: rank for rank, step in enumerate(reversed(STEPS))}

_worker_deps: Deps | None = None
_step_in_hand = False
_stop_after_step = False


def _init_worker(config: Config, model_threads: int, parent_pid: int, configure_logs: Callable[[], None]) -> None:
    global _worker_deps
    end_with_parent(parent_pid)
    configure_logs()  # a spawned worker starts with Python's default logging, not the parent's
    leave_interrupts_to_parent()
    # The worker's stop signals are its own: the parent's "drain the queue" means nothing here.
    signal.signal(signal.SIGTERM, _on_sigterm)
    _worker_deps = local_deps(config, model_threads=model_threads)
    warm_up()  # the feature code's numba compilation now, not inside the first step


def _default_logs() -> None:
    """Python's default: warnings and errors to stderr."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    """Stops this worker: at once when idle, else once the step in hand is done."""
    global _stop_after_step
    if _step_in_hand:
        _stop_after_step = True
    else:
        _exit_worker()


def _exit_worker() -> NoReturn:
    # The parent sees the pool break and retries what this worker held; a finished step's
    # retry finds its output written and does nothing twice.
    log.info("worker stopped by SIGTERM", extra={"pid": os.getpid()})
    sys.stderr.flush()
    os._exit(0)


def _run_in_worker(message: Message, attempt: int) -> list[Message]:
    global _step_in_hand
    assert _worker_deps is not None
    _step_in_hand = True
    try:
        run_step(message, _worker_deps, attempt)
        assert isinstance(_worker_deps.publisher, QueuedPublisher)  # local_deps builds the in-process queue
        return _worker_deps.publisher.drain()
    finally:
        _step_in_hand = False
        if _stop_after_step:
            _exit_worker()


@dataclass(order=True)
class _Job:
    ready_at: float
    priority: int
    seq: int
    message: Message = field(compare=False)
    attempt: int = field(compare=False, default=1)
    last_error: str = field(compare=False, default="")


class LocalRunner:
    """Runs uploads through the pipeline until every track is DONE or FAILED.

    Args:
        config: the configuration; the local ports are built from it.
        workers: worker processes, each running one step at a time.
        on_finished: called once per track, in this process, when it ends DONE or FAILED.
        configure_logs: called first in each worker to set up its logging; a module-level function
            (or a partial of one), since it is pickled to reach the spawned worker.
    """

    def __init__(
        self,
        config: Config,
        workers: int,
        on_finished: Callable[[TrackRecord], None],
        configure_logs: Callable[[], None] = _default_logs,
    ) -> None:
        self._config = config
        self._configure_logs = configure_logs
        self._workers = workers
        self._on_finished = on_finished
        self._deps = local_deps(config)
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._reported: set[str] = set()
        self._stopping = False
        # Steps handed to the pool at once: one running and one waiting per worker.
        self._capacity = 2 * workers

    def stop(self) -> None:
        """Drain: take no new work, let the steps in hand finish. Safe to call from a signal handler."""
        self._stopping = True

    @property
    def stopped_early(self) -> bool:
        """True once stop() was called: the run may have left work queued."""
        return self._stopping

    def run(self, messages: list[Message]) -> None:
        """Runs the messages and every message their steps publish, until none is left.

        A failed step is retried with backoff, then dead-lettered after MAX_ATTEMPTS. After
        stop(), only the steps in hand finish.
        """
        for message in messages:
            self._push(message)
        pool = self._new_pool()
        running: dict[Future, _Job] = {}
        try:
            while (self._queue and not self._stopping) or running:
                if not self._stopping:
                    self._submit_ready(pool, running)
                done = self._wait(running)
                for future in done:
                    job = running.pop(future, None)
                    if job is not None:  # None: already retried after a pool restart
                        pool = self._settle(future, job, pool, running)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        # The model gets one thread per worker: the workers already use every core. The workers
        # are started from this (the main) thread, which lives as long as the run.
        # Spawned, not forked: after the first finished step (and in a backfill, before the first
        # pool) this process holds an open SQLite connection, and SQLite's locks do not survive a
        # fork (sqlite.org/howtocorrupt.html, 2.6): a forked worker's writes could race and corrupt.
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._config, 1, os.getpid(), self._configure_logs),
        )

    def _push(self, message: Message, attempt: int = 1, delay_s: float = 0.0, error: str = "") -> None:
        priority = -STEP_PRIORITY[type(message)]
        job = _Job(time.monotonic() + delay_s, priority, next(self._seq), message, attempt, error)
        heapq.heappush(self._queue, job)

    def _submit_ready(self, pool: ProcessPoolExecutor, running: dict[Future, _Job]) -> None:
        now = time.monotonic()
        ready = [job for job in self._queue if job.ready_at <= now]
        ready.sort(key=lambda job: (job.priority, job.seq))
        for job in ready[: max(0, self._capacity - len(running))]:
            self._queue.remove(job)
            running[pool.submit(_run_in_worker, job.message, job.attempt)] = job
        heapq.heapify(self._queue)

    def _wait(self, running: dict[Future, _Job]) -> set[Future]:
        """Blocks until a step finishes or a queued retry comes due; never spins."""
        at_capacity = len(running) >= self._capacity
        if self._queue and not self._stopping and not at_capacity:
            timeout_s: float | None = max(0.0, min(job.ready_at for job in self._queue) - time.monotonic())
        else:
            timeout_s = None  # only a finishing step can change anything
        if not running:
            time.sleep(timeout_s or 0.0)
            return set()
        done, _ = wait(running, timeout=timeout_s, return_when=FIRST_COMPLETED)
        return done

    def _settle(
        self, future: Future, job: _Job, pool: ProcessPoolExecutor, running: dict[Future, _Job]
    ) -> ProcessPoolExecutor:
        try:
            for message in future.result():
                self._push(message)
        except BrokenProcessPool:
            # A worker died (a crashing decoder, the OOM killer): every job in flight is retried.
            log.error("a worker process died; restarting the pool")
            for other in list(running):
                self._retry(running.pop(other), "a worker process died")
            self._retry(job, "a worker process died")
            # The pool SIGTERMs its other workers; waiting for them to finish their steps keeps two
            # copies of a step from running at once, and none outlives the run.
            pool.shutdown(wait=True, cancel_futures=True)
            return self._new_pool()
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then dead-lettered
            self._retry(job, f"{type(exc).__name__}: {exc}")
        self._report_if_finished(track_id_of(job.message))
        return pool

    def _retry(self, job: _Job, error: str) -> None:
        if job.attempt >= MAX_ATTEMPTS:
            handle_dead_letter(job.message, error, self._deps, job.attempt)
            assert isinstance(self._deps.publisher, QueuedPublisher)  # local_deps builds the in-process queue
            for message in self._deps.publisher.drain():  # the FAILED track's result event
                self._push(message)
            self._report_if_finished(track_id_of(job.message))
            return
        log.warning(
            "step will be retried", extra={"track_id": track_id_of(job.message), "attempt": job.attempt, "error": error}
        )
        self._push(job.message, job.attempt + 1, RETRY_BASE_S * 2 ** (job.attempt - 1), error)

    def _report_if_finished(self, track_id: str) -> None:
        if track_id in self._reported:
            return
        record = self._deps.tracks.get(track_id)
        if record is not None and record.state.is_final:
            self._reported.add(track_id)
            self._on_finished(record)
