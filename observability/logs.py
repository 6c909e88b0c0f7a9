"""Log lines: text for a person, or one JSON object per line for a collector.

Text is `time LEVEL logger: message`. JSON is one object per line with
`time` (ISO 8601, UTC), `level`, `logger` and `message`, then the ids the
process's context filter knows of the work the line is about (`request_id`,
`session_id`, `turn_id`, `trace_id`; one that is not known is left off the
line rather than written as null), then `exc_info` (the traceback) when the
line reports an exception. With JSON, Python warnings and an error that ends
the process go through the same formatter, so a collector never meets a
line that is not JSON.

Which ids a process knows is its own affair: each installs its own filter
(the server reads its context variables, the bridge the request being
handled); the trace id is found the same way by both (trace_id).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Literal

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_FIELDS: Final = (
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "session_id",
    "turn_id",
    "trace_id",
)
# uvicorn's start-up lines carry a copy of the message with terminal colours.
_DROPPED: Final = frozenset({"color_message"})


def trace_id() -> str | None:
    """The id of the OpenTelemetry span being recorded where this is called
    (32 hex digits); None outside one, or in one not sampled."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JsonLines(JsonFormatter):
    """One JSON object per record, its fields in a fixed order."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        ordered: dict[str, Any] = {key: log_data.pop(key) for key in _FIELDS if key in log_data}
        # exc_info, stack_info, a caller's extra fields
        ordered.update((k, v) for k, v in log_data.items() if k not in _DROPPED)
        return ordered


def configure(
    log_format: LogFormat, level: str, *, context: logging.Filter, logger: str, stopped: str
) -> None:
    """Sends the process's log records to stderr in `log_format`. With JSON,
    `context` puts the ids it knows on each line, Python warnings are logged,
    and an error that ends the process is logged as `stopped` on `logger`."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        handler.addFilter(context)
        logging.basicConfig(level=level, handlers=[handler], force=True)
        logging.captureWarnings(True)
        sys.excepthook = _uncaught_logged(logging.getLogger(logger), stopped)
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT)


def _uncaught_logged(
    log: logging.Logger, message: str
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    def log_uncaught(
        kind: type[BaseException], error: BaseException, traceback: TracebackType | None
    ) -> None:
        log.critical(message, exc_info=(kind, error, traceback))

    return log_uncaught
