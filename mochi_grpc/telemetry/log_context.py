"""Which request, session and turn a log line is about.

The ids live in context variables, so they follow the work without being
passed down: a call's interceptor sets the request id and the call's session
id, a turn's task inherits them from the call that started it (asyncio copies
the context into a new task) and its observer adds the turn's own ids. A
logging filter copies what is known onto each record; an id that is not
known is left off the line rather than written as null. The trace id is that
of the OpenTelemetry span current where the line is written, when one is
being recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from mochi_grpc.chat.observing import UNOBSERVED, TurnObservation
from observability.logs import trace_id

current_request_id: ContextVar[str | None] = ContextVar("mochi_log_request_id", default=None)
current_session_id: ContextVar[str | None] = ContextVar("mochi_log_session_id", default=None)
current_turn_id: ContextVar[str | None] = ContextVar("mochi_log_turn_id", default=None)

# Ids that reach a log line from a client are bounded and plain, so that a
# caller cannot fill the logs or forge lines with them.
MAX_ID_LENGTH = 128


def plain_id(value: object) -> str | None:
    """`value` if it is a usable id (1 to 128 printable ASCII characters, no
    spaces), else None."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        return None
    return value if all("!" <= c <= "~" for c in value) else None


_IDS = (
    ("request_id", current_request_id),
    ("session_id", current_session_id),
    ("turn_id", current_turn_id),
)


class LogContext(logging.Filter):
    """Adds request_id, session_id, turn_id and trace_id to a record, each
    only when known (the JSON format writes them; the text format does not
    install this filter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _IDS:
            value = var.get()
            if value is not None:
                setattr(record, name, value)
        traced = trace_id()
        if traced is not None:
            record.trace_id = traced
        return True


class LogContextObserver:
    """Gives the log lines of a turn's task its session and turn ids (a
    chat.observing.TurnObserver; it records nothing itself)."""

    @contextmanager
    def turn(self, session_id: str, turn_id: str, model: str) -> Iterator[TurnObservation]:
        session_token = current_session_id.set(session_id)
        turn_token = current_turn_id.set(turn_id)
        try:
            yield UNOBSERVED
        finally:
            current_turn_id.reset(turn_token)
            current_session_id.reset(session_token)
