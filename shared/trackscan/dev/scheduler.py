"""Cloud Scheduler's part on the dev stack: POST to the reconcile function at a fixed interval.

``python -m trackscan.dev.scheduler URL EVERY_S``. Each answer is logged on one line; a failed
call is logged and the next one comes on time, as a Cloud Scheduler job with no retries does.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

TIMEOUT_S = 30.0


def call(url: str) -> str:
    """One POST with an empty body; the answer, or why there was none."""
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return f"{response.status} {response.read().decode(errors='replace')}"
    except (urllib.error.URLError, OSError) as exc:
        return f"no answer: {exc}"


def main(argv: list[str]) -> None:
    """Calls the URL every EVERY_S seconds until stopped."""
    url, every_s = argv[0], float(argv[1])
    while True:
        started = time.monotonic()
        print(f"reconcile pass: {call(url)}", flush=True)  # the scheduler's log is its output
        time.sleep(max(0.0, every_s - (time.monotonic() - started)))


if __name__ == "__main__":
    main(sys.argv[1:])
