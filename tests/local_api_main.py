"""functions/main.py's ``api`` target over local ports: a functions-framework source for tests.

Served by the dev stack's own gunicorn command (``trackscan.dev.services.function``), so a test
sees what the dev stack and the image serve, against SQLite and an in-memory blob store instead
of the emulators. TRACKSCAN_TEST_API_HOME holds the SQLite file; TRACKSCAN_MAX_FILE_BYTES the
upload limit. Partners acme and beta by API key (tests.api_fixtures), console login alice.
"""

import functools
import os
from pathlib import Path

import functions_framework

from tests.api_fixtures import api_deps
from tests.console_fixtures import ALICE_KEY
from trackscan.pipeline.deps import Deps
from trackscan.runtimes import cloud_runtime


@functools.cache
def _local_deps() -> Deps:
    return api_deps(
        Path(os.environ["TRACKSCAN_TEST_API_HOME"]),
        max_file_bytes=int(os.environ["TRACKSCAN_MAX_FILE_BYTES"]),
        console_keys=f"alice:{ALICE_KEY}:*",
        api_rate_per_s=0.0,
    )


# The instance's cloud ports, replaced by local ones: cloud_runtime builds the API app over them
# (API keys, no upload sessions) and serve_api itself is what runs.
cloud_runtime.cloud_deps = _local_deps


@functions_framework.http
def api(request):  # functions-framework's request and reply
    """The partner API, as functions/main.py serves it."""
    return cloud_runtime.serve_api(request)
