"""A request rate limit per partner: a token bucket in this instance's memory.

Each instance keeps its own buckets, so a partner may reach ``instances x rate`` across a
service scaled out to several instances, and a new instance starts with full buckets. That
bounds what one partner can make one instance do (a loop of submits, a crawler of track ids);
an exact limit across instances would need a shared counter on every request, and a flood
from unauthenticated callers is the edge's to stop (Cloud Armor in front of the load balancer).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Allows each partner ``burst`` requests at once and ``rate_per_s`` a second after that.

    Args:
        rate_per_s: tokens added per second to each partner's bucket; 0 turns the limit off.
        burst: the bucket's size: how many requests may arrive at once after a quiet spell.
        clock: seconds from a monotonic clock (tests pass their own).
    """

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s < 0 or (rate_per_s > 0 and burst < 1):
            raise ValueError("the API rate must be >= 0 and its burst >= 1")
        self._rate_per_s = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # partner -> (tokens, at)
        self._lock = threading.Lock()  # the service handles several requests at once

    def wait_s(self, partner: str) -> int:
        """Takes a token for the partner's request: 0 when it may go on, else whole seconds to wait."""
        if self._rate_per_s == 0:
            return 0
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(partner, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate_per_s)
            if tokens >= 1:
                self._buckets[partner] = (tokens - 1, now)
                return 0
            self._buckets[partner] = (tokens, now)
            # Rounded up, so a client that waits as told finds a whole token.
            return max(1, math.ceil((1 - tokens) / self._rate_per_s))
