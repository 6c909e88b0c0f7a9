"""What a turn reports while it runs, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mochi_grpc.entities import Message, WindowReason
from mochi_grpc.errors import MochiError


@dataclass(frozen=True)
class TurnStarted:
    """The turn was accepted: the session exists, is free and has something
    to answer. Errors after this one arrive as TurnFailed."""

    session_id: str
    turn_id: str


@dataclass(frozen=True)
class ContentDelta:
    content: str
    role: str = "assistant"


@dataclass(frozen=True)
class ThinkingDelta:
    content: str


@dataclass(frozen=True)
class WindowUsage:
    current_window: int
    usage_tokens: int
    reason: WindowReason


@dataclass(frozen=True)
class ExecutedCall:
    name: str
    arguments: dict[str, Any]
    success: bool


@dataclass(frozen=True)
class ToolCallStarted:
    """A tool call that runs without confirmation."""

    tool_name: str
    arguments: dict[str, Any]
    call_index: int
    tool_call_id: str


@dataclass(frozen=True)
class ConfirmationRequired:
    """A tool call that waits for ConfirmToolCall."""

    tool_name: str
    arguments: dict[str, Any]
    call_index: int
    tool_call_id: str
    confirmation_id: str


@dataclass(frozen=True)
class ToolFinished:
    tool_name: str
    success: bool
    result: str
    error: str | None
    call_index: int
    tool_call_id: str


@dataclass(frozen=True)
class ToolContinuation:
    """The tool results go back to the model for another round."""

    message: str
    tool_count: int


@dataclass(frozen=True)
class AgentStarted:
    """An agent starts working on a task the model delegated to it."""

    agent_name: str
    instruction: str


@dataclass(frozen=True)
class AgentPlanning:
    """A piece of the agent's plan."""

    content: str


@dataclass(frozen=True)
class AgentExecution:
    """A piece of the agent's work."""

    content: str


@dataclass(frozen=True)
class AgentToolCall:
    """The agent calls one of its tools."""

    agent_name: str
    tool_name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class AgentToolResult:
    agent_name: str
    tool_name: str
    success: bool
    result: str


@dataclass(frozen=True)
class AgentComplete:
    """The agent finished; its output is the agent tool's result."""

    agent_name: str
    session_id: str
    output: str


@dataclass(frozen=True)
class MessageComplete:
    message: Message
    context_window: WindowUsage
    executed: tuple[ExecutedCall, ...] = ()


@dataclass(frozen=True)
class TurnFailed:
    """The turn stopped on an error; whatever the model produced is stored."""

    error: MochiError


@dataclass(frozen=True)
class TurnDone:
    session_id: str


# The events a turn's log holds and its readers receive.
TurnEvent = (
    ContentDelta
    | ThinkingDelta
    | ToolCallStarted
    | ConfirmationRequired
    | ToolFinished
    | ToolContinuation
    | AgentStarted
    | AgentPlanning
    | AgentExecution
    | AgentToolCall
    | AgentToolResult
    | AgentComplete
    | MessageComplete
    | TurnFailed
    | TurnDone
)
