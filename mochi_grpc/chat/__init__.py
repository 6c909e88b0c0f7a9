"""The domain: sessions, turns, editing. No transport in here."""

from mochi_grpc.chat.events import (
    ContentDelta,
    MessageComplete,
    ThinkingDelta,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    WindowUsage,
)
from mochi_grpc.chat.locks import SessionLocks
from mochi_grpc.chat.sessions import SessionManager, SessionUpdate
from mochi_grpc.chat.turns import ChatEngine, TurnResult

__all__ = [
    "ChatEngine",
    "ContentDelta",
    "MessageComplete",
    "SessionLocks",
    "SessionManager",
    "SessionUpdate",
    "ThinkingDelta",
    "TurnDone",
    "TurnEvent",
    "TurnFailed",
    "TurnResult",
    "TurnStarted",
    "WindowUsage",
]
