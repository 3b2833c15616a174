"""AudioDecoder adapters: decode in this process, or in a child process with limits.

FFmpeg is C code: a crafted file can crash it, hang it or make it allocate without bound.
SandboxedDecoder runs probe and decode in one long-lived child process per worker, under an
address-space cap and a wall-clock timeout, so such a file fails its own track instead of taking
the worker, and every message in flight on it, down.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import resource
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.util import Finalize
from typing import BinaryIO, TypeVar

from trackscan.audio.decode import decode_segment, decode_whole, probe
from trackscan.domain.decoded_audio import AudioInfo, DecodedAudio, SegmentPlan, WholeTrack
from trackscan.domain.errors import BadAudioError, PermanentError, RetryableError
from trackscan.domain.messages import split_pinned_uri
from trackscan.domain.ports import BlobStore
from trackscan.domain.step_deadline import time_left
from trackscan.pipeline import failpoints
from trackscan.runtimes.child_processes import end_with_parent, leave_interrupts_to_parent, start_on_lasting_thread

# Opens a source URI (pinned to a generation, see messages.pinned_uri) for reading; the child
# calls it, so it must be a picklable module-level function (or a functools.partial of one)
# that builds its own clients in the child.
Opener = Callable[[str], BinaryIO]
T = TypeVar("T")
# Not fork: the parent holds gRPC clients and their threads, which do not survive a fork.
# spawn starts a fresh interpreter that imports only what the child needs (about 0.3 s here);
# forkserver restarts faster but keeps process-wide state that a forked local worker inherits.
START_METHOD = "spawn"
# Start-up is not a decode: a cold instance may import slowly, and a timeout here only turns a
# slow start into a retry. A child that cannot start in this long is broken, not slow.
CHILD_START_TIMEOUT_S = 20.0
# A process that is itself a multiprocessing child (the local runner's workers) joins its
# children at exit, after running its finalizers by priority. The child only stops when the
# pool's call queue tells it to, and that queue's feeder thread is stopped by a finalizer of
# priority 10: ours must run, and finish, before it.
EXIT_PRIORITY = 100


class InProcessDecoder:
    """Decodes in the calling process.

    Fast, for tests and tools; a crashing codec takes the process with it.
    """

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def probe(self, uri: str, max_duration_s: float) -> AudioInfo:
        """AudioDecoder.probe, on a reader from the blob store."""
        with _source_must_exist(uri), self._blobs.open_read(*split_pinned_uri(uri)) as reader:
            return probe(reader, max_duration_s)

    def decode(self, uri: str, start_s: float, duration_s: float) -> DecodedAudio:
        """AudioDecoder.decode, on a reader from the blob store."""
        with _source_must_exist(uri), self._blobs.open_read(*split_pinned_uri(uri)) as reader:
            return decode_segment(reader, start_s, duration_s)

    def decode_whole(self, uri: str, max_duration_s: float, plan: SegmentPlan) -> WholeTrack:
        """AudioDecoder.decode_whole, on a reader from the blob store."""
        with _source_must_exist(uri), self._blobs.open_read(*split_pinned_uri(uri)) as reader:
            return decode_whole(reader, max_duration_s, plan)


@contextmanager
def _source_must_exist(uri: str) -> Iterator[None]:
    """A source deleted or overwritten (its pinned generation gone) cannot come back: permanent."""
    try:
        yield
    except FileNotFoundError as exc:
        raise PermanentError("SOURCE_GONE", "The file was deleted or replaced before it could be read.") from exc


# --- The child's side: module-level functions, so they pickle by name. ---

_child_opener: Opener | None = None
_child_memory_bytes = 0


def _start_child(opener: Opener, memory_bytes: int, parent_pid: int) -> None:
    """Initializer of the child: ends with its parent, caps its address space, keeps the opener.

    Stop signals are the parent's business: a SIGTERM sent to the whole process group must not
    kill a decode in hand, which the parent would take for a crash on the file. The parent ends
    the child itself (its pool's shutdown, or the parent-death signal).
    """
    global _child_opener, _child_memory_bytes
    end_with_parent(parent_pid)
    leave_interrupts_to_parent()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _child_opener, _child_memory_bytes = opener, memory_bytes
    if memory_bytes > 0:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        # The hard limit too: decoding code in the child cannot raise it again.
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _child_pid() -> int:
    return os.getpid()


def _in_child(uri: str, read: Callable[[BinaryIO], T]) -> T:
    """Opens the source in the child and reads it with ``read`` (a partial of probe, decode_segment...)."""
    assert _child_opener is not None
    failpoints.hit("decode", uri)  # the fault suite's stand-in for a codec that crashes
    with _errors_the_parent_can_act_on(), _source_must_exist(uri), _child_opener(uri) as reader:
        return read(reader)


@contextmanager
def _errors_the_parent_can_act_on() -> Iterator[None]:
    """Turns a child's errors into ones the parent handles right.

    Running out of memory under the cap means the file asks for too much: permanent. An error
    the parent could not unpickle would break the pool there and pass for a crash: retryable.
    """
    try:
        yield
    except MemoryError as exc:
        raise _out_of_memory_error() from exc
    except BadAudioError as exc:
        # decode.py reports FFmpeg's ENOMEM (av.error.MemoryError) as CORRUPT.
        if isinstance(exc.__cause__, MemoryError):
            raise _out_of_memory_error() from exc
        raise
    except Exception as exc:
        if not _survives_pickling(exc):
            raise RetryableError(f"{type(exc).__name__}: {exc}") from None
        raise


def _survives_pickling(error: Exception) -> bool:
    try:
        pickle.loads(pickle.dumps(error))
        return True
    except Exception:  # noqa: BLE001 - any failure means the parent could not rebuild it
        return False


def _out_of_memory_error() -> BadAudioError:
    return BadAudioError(
        "DECODER_OUT_OF_MEMORY",
        f"Decoding the file needed more than the {_child_memory_bytes >> 20} MiB of memory a decoder "
        "may use: it is probably damaged or built to exhaust memory.",
    )


# --- The parent's side. ---


class SandboxedDecoder:
    """Probes and decodes in one long-lived child process, started on first use.

    A child that dies mid-call (a segfault, an abort, the kernel's OOM killer) is a permanent
    DECODER_CRASHED for that file: a codec that crashes on a file does so every time. A file
    that needs more than the memory cap is a permanent DECODER_OUT_OF_MEMORY. A call that
    overruns the timeout kills the child and raises RetryableError, so the transport retries
    and, after its retry limit, records RETRIES_EXHAUSTED. A dead child is replaced on the next
    call.

    Args:
        opener: opens a source URI in the child (see Opener).
        timeout_s: the longest one probe or decode may take (Config.decode_timeout_s), less where
            the step's deadline is nearer (trackscan.domain.step_deadline).
        memory_bytes: the child's address-space cap (Config.decode_memory_bytes).
    """

    def __init__(self, opener: Opener, timeout_s: float, memory_bytes: int) -> None:
        self._opener = opener
        self._timeout_s = timeout_s
        self._memory_bytes = memory_bytes
        # One call at a time: a timeout kills the child, which must not fail another caller's call.
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0
        self._stop_at_exit: Finalize | None = None

    def probe(self, uri: str, max_duration_s: float) -> AudioInfo:
        """AudioDecoder.probe, in the child."""
        return self._call(uri, _in_child, uri, functools.partial(probe, max_duration_s=max_duration_s))

    def decode(self, uri: str, start_s: float, duration_s: float) -> DecodedAudio:
        """AudioDecoder.decode, in the child; the samples come back pickled (about 23 MB per minute)."""
        return self._call(
            uri, _in_child, uri, functools.partial(decode_segment, start_s=start_s, duration_s=duration_s)
        )

    def decode_whole(self, uri: str, max_duration_s: float, plan: SegmentPlan) -> WholeTrack:
        """AudioDecoder.decode_whole, in the child; ``plan`` must pickle (a module-level function or its partial)."""
        return self._call(
            uri, _in_child, uri, functools.partial(decode_whole, max_duration_s=max_duration_s, plan=plan)
        )

    def close(self) -> None:
        """Stops the child; a later call starts a new one."""
        with self._lock:
            self._stop()

    def _call(self, uri: str, function: Callable[..., T], *args: object) -> T:
        with self._lock:
            timeout_s = time_left(self._timeout_s, f"decoding {uri}")
            future = self._submit(function, *args)
            try:
                return future.result(timeout=timeout_s)
            except BrokenProcessPool as exc:
                self._abandon(kill=False)
                raise BadAudioError(
                    "DECODER_CRASHED",
                    "The audio decoder crashed on this file: it is probably damaged or crafted.",
                ) from exc
            except TimeoutError as exc:
                if future.done() and future.exception() is exc:
                    raise  # the child's own error, such as a read timeout: the child is fine
                self._abandon(kill=True)
                stopped = f"decoding {uri} took more than {timeout_s:.1f} s; the decoder was stopped"
                raise RetryableError(stopped) from exc

    def _submit(self, function: Callable[..., T], *args: object) -> Future[T]:
        try:
            return self._running_pool().submit(function, *args)
        except BrokenProcessPool:
            # The child died between calls (killed from outside): not this file's doing.
            self._abandon(kill=False)
            return self._running_pool().submit(function, *args)

    def _running_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._start_pool()
        assert self._pool is not None
        return self._pool

    def _start_pool(self) -> None:
        """Starts the child and waits until it answers, so a crash later is the file's doing."""
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context(START_METHOD),
            initializer=_start_child,
            initargs=(self._opener, self._memory_bytes, os.getpid()),
        )
        # Also runs if this decoder is garbage-collected.
        self._stop_at_exit = Finalize(self, _stop_pool, args=(self._pool,), exitpriority=EXIT_PRIORITY)
        try:
            # The first submit starts the child (see start_on_lasting_thread).
            first = start_on_lasting_thread(self._pool.submit, _child_pid)
            self._pid = first.result(timeout=CHILD_START_TIMEOUT_S)
        except (BrokenProcessPool, TimeoutError) as exc:
            _kill_children(self._pool)
            self._abandon(kill=False)
            raise RetryableError(f"the decoder process did not start: {exc!r}") from exc

    def _stop(self) -> None:
        """Stops a live child and waits for it to exit."""
        if self._stop_at_exit is not None:
            self._stop_at_exit()  # runs _stop_pool once and unregisters it
        self._pool, self._pid, self._stop_at_exit = None, 0, None

    def _abandon(self, kill: bool) -> None:
        """Forgets a dead child, or kills a stuck one.

        The pool's thread reaps it, so the failing call returns at once.
        """
        if kill and self._pid:
            _kill(self._pid)
        if self._stop_at_exit is not None:
            self._stop_at_exit.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._pid, self._stop_at_exit = None, 0, None


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it died on its own meanwhile


def _kill_children(pool: ProcessPoolExecutor) -> None:
    # Python 3.14 has pool.kill_workers(); before it, the processes are only reachable here.
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
