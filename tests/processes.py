"""Which processes a test started are still alive, read from /proc."""

from __future__ import annotations

import time
from pathlib import Path


def session_members(session_id: int) -> list[int]:
    """Live (not zombie) processes in a session: a parent started with start_new_session and every
    descendant that did not start a session of its own, reparented or not."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended while we looked
        # Fields after the command name (which may hold spaces): state, ppid, pgrp, session, ...
        state, _ppid, _pgrp, session = text.rsplit(")", 1)[1].split()[:4]
        if int(session) == session_id and state != "Z":
            members.append(int(stat.parent.name))
    return sorted(members)


def wait_until_gone(session_id: int, timeout_s: float) -> list[int]:
    """Waits up to timeout_s for a session to empty; returns its members left then."""
    deadline = time.monotonic() + timeout_s
    while (left := session_members(session_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
