"""The bridge's JSON log lines: the ids of the request a line is about, the
trace id of the span being recorded, fields in a fixed order."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from bridge import logs, request_ids
from observability.logs import JsonLines


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What a logger of its own writes through the bridge's JSON handler."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonLines())
    handler.addFilter(logs.RequestContext())
    logger = logging.getLogger("tests.bridge_log_lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield written
    logger.removeHandler(handler)


def _written(lines: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines.getvalue().splitlines()]


def _scope(request_id: str, **path_params: str) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http", "path_params": path_params}
    request_ids.give(scope, request_id)
    return scope


def test_a_line_about_a_request_names_it_and_its_session(lines: io.StringIO) -> None:
    log = logging.getLogger("tests.bridge_log_lines")

    log.info("outside")
    with logs.about(_scope("req-1", session_id="0123456789")):
        log.info("inside %s", "it", extra={"color_message": "\x1b[1minside\x1b[0m"})
    with logs.about(_scope("req-2", session_id="not plain")):
        log.info("with an odd session id")

    outside, inside, odd = _written(lines)
    assert set(outside) == {"time", "level", "logger", "message"}
    assert list(inside) == ["time", "level", "logger", "message", "request_id", "session_id"]
    assert inside["message"] == "inside it" and inside["level"] == "INFO"
    assert (inside["request_id"], inside["session_id"]) == ("req-1", "0123456789")
    assert odd["request_id"] == "req-2" and "session_id" not in odd


def test_a_line_written_in_a_recorded_span_names_its_trace(lines: io.StringIO) -> None:
    log = logging.getLogger("tests.bridge_log_lines")
    tracer = TracerProvider().get_tracer("tests")

    with tracer.start_as_current_span("request") as span:
        log.info("traced")
    log.info("not traced")

    traced, untraced = _written(lines)
    assert traced["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in untraced
