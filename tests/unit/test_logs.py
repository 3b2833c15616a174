"""Log lines carry the request's trace, so Cloud Logging groups a step's lines."""

import io
import json
import logging

import pytest

from trackscan.runtimes import logs


@pytest.mark.parametrize(
    ("headers", "trace"),
    [
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        (
            {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
            "projects/p/traces/105445aa7843bc8bf206b12000100000",
        ),
        ({}, None),
    ],
)
def test_trace_of_reads_either_header_when_present(headers, trace):
    assert logs.trace_of(headers, "p") == trace


def test_configure_adds_the_trace_to_every_line_when_traced():
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("INFO", stream=stream)
        with logs.traced("projects/p/traces/abc"):
            logging.getLogger("t").info("step finished", extra={"track_id": "t1"})
        logging.getLogger("t").info("outside")
    finally:
        root.handlers[:], root.level = handlers, level
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside[logs.TRACE_FIELD] == "projects/p/traces/abc" and inside["track_id"] == "t1"
    assert logs.TRACE_FIELD not in outside
