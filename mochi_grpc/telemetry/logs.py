"""The server's log lines: text for a person, or one JSON object per line.

Text (the default) is `time LEVEL logger: message`. JSON (MOCHI_LOG_FORMAT=json)
is for a log collector: every line the process writes to stderr is one
object with `time` (ISO 8601, UTC), `level`, `logger` and `message`, then
`request_id`, `session_id`, `turn_id` and `trace_id` when the line is about
one (see log_context; an unknown id is left off), then `exc_info` (the
traceback) when the line reports an exception. Python warnings and an error
that ends the process go through the same formatter, so a collector never
meets a line that is not JSON. The format is the bridge's too
(observability.logs).
"""

from __future__ import annotations

import logging

import observability.logs
from mochi_grpc.config import Settings
from mochi_grpc.telemetry.log_context import LogContext


def configure_logging(settings: Settings) -> None:
    """Sends the process's log records to stderr in the configured format."""
    observability.logs.configure(
        settings.log_format,
        settings.log_level,
        context=LogContext(),
        logger="mochi_grpc",
        stopped="the server stopped on an error",
    )
    # One line per Ollama request is noise at INFO.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
