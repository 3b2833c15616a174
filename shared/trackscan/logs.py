"""Structured JSON logs (severity, message, track_id, ...) that Cloud Logging parses."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter


def configure(level: str = "INFO", stream: TextIO = sys.stdout) -> None:
    """Sends every log record to ``stream`` as one JSON object per line.

    Extra fields passed with ``extra={...}`` (track_id, step, code) become JSON keys.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{message}{name}",
            style="{",
            rename_fields={"levelname": "severity", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
