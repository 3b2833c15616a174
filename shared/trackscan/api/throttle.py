"""Failed sign-ins throttled: per source address and per key prefix, in this instance's memory.

A caller that failed ``max_failures`` times within ``window_s`` (from one address, or with keys
that start alike) is answered 429 with Retry-After until the oldest of those failures is older
than the window, whatever it sends: a right key too, else guessing would go on unhindered. Like
the rate limit (``rate_limit``), each instance counts on its own, so a service of N instances
allows N times as many guesses; a flood from many addresses is the edge's to stop (Cloud Armor).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

# Characters of a presented key that name its bucket: enough to tell keys apart, too few to
# help a guesser (the log shows none of them).
KEY_PREFIX_CHARS = 6
# Buckets kept at most; beyond that the oldest are dropped, so a spray of addresses cannot
# grow an instance's memory without bound.
MAX_BUCKETS = 100_000


def failure_buckets(source: str | None, key: str | None) -> list[str]:
    """The buckets a request counts in: its source address and, when it sent one, its key's prefix."""
    buckets = [f"source:{source or 'unknown'}"]
    if key:
        buckets.append(f"key:{key[:KEY_PREFIX_CHARS]}")
    return buckets


class FailureThrottle:
    """Counts failed sign-ins per bucket over a sliding window.

    Args:
        max_failures: failures a bucket may have within the window; 0 turns throttling off.
        window_s: how long a failure counts.
        clock: seconds from a monotonic clock (tests pass their own).
    """

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_failures < 0 or window_s <= 0:
            raise ValueError("the failed sign-in limit must be >= 0 and its window > 0 s")
        self._max_failures = max_failures
        self._window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # the service handles several requests at once

    def wait_s(self, buckets: Iterable[str]) -> int:
        """0 when a request of these buckets may try to sign in, else whole seconds to wait."""
        if self._max_failures == 0:
            return 0
        with self._lock:
            now = self._clock()
            waits = [self._wait_s(bucket, now) for bucket in buckets]
        return max(waits, default=0)

    def failed(self, buckets: Iterable[str]) -> None:
        """Records one failed sign-in in each bucket."""
        if self._max_failures == 0:
            return
        with self._lock:
            now = self._clock()
            for bucket in buckets:
                times = self._failures.pop(bucket, None) or deque(maxlen=self._max_failures)
                times.append(now)
                self._failures[bucket] = times  # re-inserted: the dict's order is by last failure
            while len(self._failures) > MAX_BUCKETS:
                del self._failures[next(iter(self._failures))]

    def _wait_s(self, bucket: str, now: float) -> int:
        times = self._failures.get(bucket)
        if times is None or len(times) < self._max_failures:
            return 0
        # Rounded up, so a caller that waits as told finds the oldest failure expired.
        remaining_s = times[0] + self._window_s - now
        return math.ceil(remaining_s) if remaining_s > 0 else 0


def log_failure(kind: str, source: str | None, wait_s: int) -> None:
    """One structured line per refused sign-in; the auth_failures metric counts them by kind and outcome."""
    log.warning(
        "authentication failed",
        extra={
            "kind": kind,
            "source": source,
            "outcome": "throttled" if wait_s else "refused",
            "retry_after_s": wait_s,
        },
    )
