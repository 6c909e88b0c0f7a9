"""The events of a streamed turn: the cases of the ``ChatEvent`` oneof."""

from __future__ import annotations

from typing import TypeAlias, cast

import betterproto2

from ._gen.mochi.v1 import (
    AgentComplete,
    AgentExecution,
    AgentPlanning,
    AgentStart,
    AgentToolCall,
    AgentToolResult,
    ChatEvent,
    ContentDelta,
    Done,
    MessageComplete,
    StreamError,
    ThinkingDelta,
    ToolCallConfirmationRequired,
    ToolCallEvent,
    ToolContinuationStart,
    ToolResult,
)

ChatStreamEvent: TypeAlias = (
    ContentDelta
    | ThinkingDelta
    | ToolCallEvent
    | ToolCallConfirmationRequired
    | ToolResult
    | ToolContinuationStart
    | MessageComplete
    | StreamError
    | Done
    | AgentStart
    | AgentPlanning
    | AgentExecution
    | AgentToolCall
    | AgentToolResult
    | AgentComplete
)
"""One event of a turn; ``match`` on its type (``case ContentDelta(content=text):``)."""


def event_case(event: ChatEvent) -> ChatStreamEvent | None:
    """The event inside a ChatEvent; None for a case this client does not know."""
    _, value = betterproto2.which_one_of(event, "event")
    return cast("ChatStreamEvent | None", value)
