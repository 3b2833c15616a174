"""Structured JSON logs (severity, message, track_id, ...) that Cloud Logging parses."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

# Cloud Logging groups the lines of one request under this field ("projects/P/traces/T").
TRACE_FIELD = "logging.googleapis.com/trace"
_trace: ContextVar[str | None] = ContextVar("trace", default=None)


@contextmanager
def traced(trace: str | None) -> Iterator[None]:
    """Every log line written inside carries ``trace`` (when not None) in TRACE_FIELD."""
    token = _trace.set(trace)
    try:
        yield
    finally:
        _trace.reset(token)


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        trace = _trace.get()
        if trace is not None and not hasattr(record, TRACE_FIELD):
            setattr(record, TRACE_FIELD, trace)
        return True


def trace_of(headers: Mapping[str, str], project_id: str) -> str | None:
    """The Cloud Logging trace of a request, from its traceparent or X-Cloud-Trace-Context header."""
    parent = headers.get("traceparent", "").split("-")
    if len(parent) == 4 and len(parent[1]) == 32:
        return f"projects/{project_id}/traces/{parent[1]}"
    context = headers.get("X-Cloud-Trace-Context", "").split("/", 1)[0]
    return f"projects/{project_id}/traces/{context}" if context else None


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
    handler.addFilter(_TraceFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


_STANDARD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class TextFormatter(logging.Formatter):
    """One readable line per record for a person at a terminal: the message, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The message followed by ``key=value`` for each extra field (track_id, step, error...)."""
        fields = " ".join(
            f"{key}={value}" for key, value in vars(record).items() if key not in _STANDARD_FIELDS and value is not None
        )
        return f"{record.getMessage()} {fields}".rstrip()
