"""The bridge's log lines: text for a person, or one JSON object per line.

Text (the default) is `time LEVEL logger: message`, and uvicorn keeps its
own format. JSON (MOCHI_LOG_FORMAT=json) is for a log collector, the same
shape as the server's: every line the process writes to stderr, uvicorn's
included (its access log too), is one object with `time` (ISO 8601, UTC),
`level`, `logger` and `message`, then, when the line is written while an HTTP
request is handled, its `request_id` and the `session_id` its route names,
then the `trace_id` of the OpenTelemetry span being recorded, if one is,
then `exc_info` when the line reports an exception. An id that is not known
is left off the line rather than written as null. The format and its set-up
are the server's (observability.logs); which request a line is about is the
bridge's own (RequestContext).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

from starlette.types import Scope
from uvicorn.config import LOGGING_CONFIG

import observability.logs
from bridge import request_ids
from bridge.config import BridgeSettings

# A session id from a path reaches a log line only when it is plain.
_PLAIN_ID: Final = re.compile(r"[!-~]{1,128}")

# The scope of the HTTP request being handled where a line is written.
_request: ContextVar[Scope | None] = ContextVar("bridge_log_request", default=None)


@contextmanager
def about(scope: Scope) -> Iterator[None]:
    """Lines written inside (and in tasks started inside) are about this request."""
    token = _request.set(scope)
    try:
        yield
    finally:
        _request.reset(token)


class RequestContext(logging.Filter):
    """Adds request_id, session_id and trace_id to a record, each only when
    known (installed for the JSON format only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _request.get()
        if scope is not None:
            request_id = request_ids.of(scope)
            if request_id is not None:
                record.request_id = request_id
            session_id = scope.get("path_params", {}).get("session_id")
            if isinstance(session_id, str) and _PLAIN_ID.fullmatch(session_id):
                record.session_id = session_id
        traced = observability.logs.trace_id()
        if traced is not None:
            record.trace_id = traced
        return True


def configure(settings: BridgeSettings) -> None:
    """Sends the process's log records to stderr in the configured format."""
    observability.logs.configure(
        settings.log_format,
        settings.log_level,
        context=RequestContext(),
        logger="bridge",
        stopped="the bridge stopped on an error",
    )


def uvicorn_log_config(settings: BridgeSettings) -> dict[str, Any] | None:
    """uvicorn's logging set-up: its own for text; none for JSON, so that its
    loggers (the access log included) write through the root's JSON handler."""
    return None if settings.log_format == "json" else LOGGING_CONFIG
