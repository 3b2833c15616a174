"""Named failpoints for the fault suite: a crash, hang or error at an exact point of a step.

Disabled unless TRACKSCAN_FAILPOINTS is set, e.g. ``after_prediction_write=crash``,
``infer=error:3`` (fail the first 3 hits in this process) or ``decode@poison=crash`` (only
where the hit's key, such as the source URI, contains "poison"). Actions:
    crash   kill the process on the spot (os._exit, as SIGKILL would)
    hang    sleep far past any step budget
    sleepN  sleep N seconds, then go on (a step slower than its ack deadline)
    error   raise RetryableError
Reading one environment variable per hit costs nothing next to a step.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from trackscan.domain.errors import RetryableError

ENV = "TRACKSCAN_FAILPOINTS"
_hits: Counter[str] = Counter()


def hit(name: str, key: str = "") -> None:
    """Triggers the failpoint ``name`` if TRACKSCAN_FAILPOINTS enables it (for this key)."""
    action = _action(name, key)
    if action is None:
        return
    kind, _, limit = action.partition(":")
    _hits[name] += 1
    if limit and _hits[name] > int(limit):
        return
    if kind == "crash":
        os._exit(137)
    if kind == "hang":
        time.sleep(3600)
    if kind.startswith("sleep"):
        time.sleep(float(kind.removeprefix("sleep")))
    if kind == "error":
        raise RetryableError(f"failpoint {name}")


def _action(name: str, key: str) -> str | None:
    for entry in os.environ.get(ENV, "").split(","):
        target, _, action = entry.strip().partition("=")
        target_name, _, key_part = target.partition("@")
        if target_name == name and key_part in key:
            return action or "error"
    return None
