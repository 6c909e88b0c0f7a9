"""JSON log lines: the fields they carry and when each id is on them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from mochi_grpc.telemetry.log_context import LogContext, LogContextObserver, plain_id
from observability.logs import JsonLines


class Lines:
    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.log = logging.getLogger("tests.log_lines")

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """A logger whose records go through the JSON format to a string."""
    captured = Lines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(LogContext())
    captured.log.addHandler(handler)
    captured.log.setLevel(logging.INFO)
    captured.log.propagate = False
    yield captured
    captured.log.removeHandler(handler)


def test_a_line_has_its_fields_in_order_and_leaves_unknown_ids_off(lines: Lines) -> None:
    lines.log.warning("disk %s is %d%% full", "/data", 91)

    (line,) = lines.parsed()
    assert list(line) == ["time", "level", "logger", "message"]
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "tests.log_lines",
        "disk /data is 91% full",
    )
    assert line["time"].endswith("+00:00")


def test_an_exception_is_a_field_of_its_line(lines: Lines) -> None:
    try:
        raise ZeroDivisionError("nothing to divide by")
    except ZeroDivisionError:
        lines.log.exception("turn failed")

    (line,) = lines.parsed()
    assert line["message"] == "turn failed"
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert line["exc_info"].endswith("ZeroDivisionError: nothing to divide by")


def test_a_turns_ids_are_on_the_lines_of_its_block_only(lines: Lines) -> None:
    with LogContextObserver().turn("s-1", "t-1", "llama3.2:latest"):
        lines.log.info("inside")
    lines.log.info("after")

    inside, after = lines.parsed()
    assert (inside["session_id"], inside["turn_id"]) == ("s-1", "t-1")
    assert "session_id" not in after and "turn_id" not in after


def test_a_line_written_in_a_recorded_span_carries_its_trace_id(lines: Lines) -> None:
    recorded = TracerProvider().get_tracer("tests")
    dropped = TracerProvider(sampler=ALWAYS_OFF).get_tracer("tests")

    with recorded.start_as_current_span("call") as span:
        lines.log.info("traced")
    with dropped.start_as_current_span("call"):
        lines.log.info("not sampled")
    lines.log.info("outside")

    traced, not_sampled, outside = lines.parsed()
    assert traced["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert len(traced["trace_id"]) == 32
    assert "trace_id" not in not_sampled
    assert "trace_id" not in outside


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-7f3a", "req-7f3a"),
        ("a" * 128, "a" * 128),
        ("a" * 129, None),
        ("", None),
        ("two words", None),
        ("line\nbreak", None),
        ("caf\u00e9", None),
        (b"bytes", None),
    ],
)
def test_only_short_plain_ids_are_kept(sent: object, kept: str | None) -> None:
    assert plain_id(sent) == kept
