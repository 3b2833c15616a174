"""Children that end with their parent, and whose stop signals are their own.

A worker or decoder process left behind by a killed parent holds hundreds of MB and a core for
nothing: its results have nowhere to go. The kernel's parent-death signal ends it instead, the
moment the parent dies, however the parent dies (SIGKILL and the OOM killer included).

Linux sends the parent-death signal when the *thread* that started the child ends, not only the
process: a child must be started from a thread that lives as long as its parent needs it
(the main thread, or a thread kept for the purpose, as the sandboxed decoder does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
P = ParamSpec("P")
T = TypeVar("T")
_lasting_threads: dict[int, ThreadPoolExecutor] = {}


def end_with_parent(parent_pid: int) -> None:
    """Asks the kernel to SIGKILL this process when its parent dies; exits now if it already has.

    Called first thing in a child. SIGKILL, not SIGTERM: with the parent gone there is nobody to
    hand a result to, so finishing the step in hand would only delay the exit.

    Args:
        parent_pid: the parent's pid, read in the parent before the child started. A parent
            that died before this call has left the child to another process (init or a
            subreaper), which the comparison catches.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(0)


def leave_interrupts_to_parent() -> None:
    """Ignores SIGINT: Ctrl-C reaches the whole process group, and the parent decides what it means."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_on_lasting_thread(start: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Runs ``start`` (a call that starts a child process) on a thread that lasts as long as this process.

    A step's thread may end while the child it started lives on (a server's request thread, a
    test's thread): the child would get its parent-death signal then. One such thread per process,
    keyed by pid: a forked process inherits the dict but not the thread.
    """
    pid = os.getpid()
    if pid not in _lasting_threads:
        _lasting_threads[pid] = ThreadPoolExecutor(1, thread_name_prefix="child-starter")
    return _lasting_threads[pid].submit(start, *args, **kwargs).result()
