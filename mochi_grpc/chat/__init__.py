"""The domain: sessions, turns, editing. No transport in here."""

from mochi_grpc.chat.events import (
    AgentComplete,
    AgentExecution,
    AgentPlanning,
    AgentStarted,
    AgentToolCall,
    AgentToolResult,
    ConfirmationRequired,
    ContentDelta,
    ExecutedCall,
    MessageComplete,
    ThinkingDelta,
    ToolCallStarted,
    ToolContinuation,
    ToolFinished,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    WindowUsage,
)
from mochi_grpc.chat.live_turns import TurnOptions
from mochi_grpc.chat.sessions import SessionManager, SessionUpdate, WindowChange
from mochi_grpc.chat.turns import ChatEngine, TurnResult
from mochi_grpc.chat.watching import TurnWatcher, Watch

__all__ = [
    "AgentComplete",
    "AgentExecution",
    "AgentPlanning",
    "AgentStarted",
    "AgentToolCall",
    "AgentToolResult",
    "ChatEngine",
    "ConfirmationRequired",
    "ContentDelta",
    "ExecutedCall",
    "MessageComplete",
    "SessionManager",
    "SessionUpdate",
    "ThinkingDelta",
    "ToolCallStarted",
    "ToolContinuation",
    "ToolFinished",
    "TurnDone",
    "TurnEvent",
    "TurnFailed",
    "TurnOptions",
    "TurnResult",
    "TurnStarted",
    "TurnWatcher",
    "Watch",
    "WindowChange",
    "WindowUsage",
]
