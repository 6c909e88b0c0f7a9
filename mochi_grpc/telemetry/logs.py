"""The server's log lines: text for a person, or one JSON object per line.

Text (the default) is `time LEVEL logger: message`. JSON (MOCHI_LOG_FORMAT=json)
is for a log collector: every line the process writes to stderr is one
object with `time` (ISO 8601, UTC), `level`, `logger` and `message`, then
`request_id`, `session_id`, `turn_id` and `trace_id` when the line is about
one (see log_context; an unknown id is left off), then `exc_info` (the
traceback) when the line reports an exception. Python warnings and an error
that ends the process go through the same formatter, so a collector never
meets a line that is not JSON.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from mochi_grpc.config import Settings
from mochi_grpc.telemetry.log_context import LogContext

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_FIELDS = ("time", "level", "logger", "message", "request_id", "session_id", "turn_id", "trace_id")


class JsonLines(JsonFormatter):
    """One JSON object per record, its fields in a fixed order."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        ordered = {key: log_data.pop(key) for key in _FIELDS if key in log_data}
        ordered.update(log_data)  # exc_info, stack_info, a caller's extra fields
        return ordered


def configure_logging(settings: Settings) -> None:
    """Sends the process's log records to stderr in the configured format."""
    if settings.log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        handler.addFilter(LogContext())
        logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
    else:
        logging.basicConfig(level=settings.log_level, format=TEXT_FORMAT)
    # One line per Ollama request is noise at INFO.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("mochi_grpc").critical(
        "the server stopped on an error", exc_info=(kind, error, traceback)
    )
