"""Structured JSON logs (severity, message, track_id, ...) that Cloud Logging parses."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter


def configure(level: str = "INFO", stream: TextIO = sys.stdout, handler: logging.Handler | None = None) -> None:
    """Sends every log record to ``stream`` as one JSON object per line, or to ``handler``.

    Extra fields passed with ``extra={...}`` (track_id, step, code) become JSON keys. A
    terminal passes its own handler (the CLI's human-readable one) instead.
    """
    if handler is None:
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


_STANDARD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class TextFormatter(logging.Formatter):
    """One readable line per record for a person at a terminal: the message, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The message followed by ``key=value`` for each extra field (track_id, step, error...)."""
        fields = " ".join(f"{key}={value}" for key, value in vars(record).items()
                          if key not in _STANDARD_FIELDS and value is not None)
        return f"{record.getMessage()} {fields}".rstrip()
