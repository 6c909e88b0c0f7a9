"""A turn's events to and from the records the store keeps, so that a turn
that has ended (or whose process died) replays with the ids it was sent with."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

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
    WindowUsage,
)
from mochi_grpc.chat.turn_log import Positioned
from mochi_grpc.entities import Message, Role, WindowReason
from mochi_grpc.errors import recorded_error
from mochi_grpc.store import EventRecord

_PLAIN: dict[str, type[Any]] = {
    "content_delta": ContentDelta,
    "thinking_delta": ThinkingDelta,
    "tool_call": ToolCallStarted,
    "tool_call_confirmation_required": ConfirmationRequired,
    "tool_result": ToolFinished,
    "tool_continuation_start": ToolContinuation,
    "agent_start": AgentStarted,
    "agent_planning": AgentPlanning,
    "agent_execution": AgentExecution,
    "agent_tool_call": AgentToolCall,
    "agent_tool_result": AgentToolResult,
    "agent_complete": AgentComplete,
    "done": TurnDone,
}
_KINDS = {cls: kind for kind, cls in _PLAIN.items()}


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(end: int, event: TurnEvent) -> EventRecord:
    if isinstance(event, ContentDelta):  # the most frequent: no dataclass walk
        return EventRecord(
            end, "content_delta", _dumps({"content": event.content, "role": event.role})
        )
    kind = _KINDS.get(type(event))
    if kind is not None:
        return EventRecord(end, kind, _dumps(asdict(event)))
    if isinstance(event, MessageComplete):
        m = event.message
        return EventRecord(
            end,
            "message_complete",
            _dumps(
                {
                    "message_id": m.message_id,
                    "model": m.model,
                    "eval_count": m.eval_count,
                    "prompt_eval_count": m.prompt_eval_count,
                    "context_window": asdict(event.context_window),
                    "executed": [asdict(c) for c in event.executed],
                }
            ),
        )
    if isinstance(event, TurnFailed):
        e = event.error
        return EventRecord(
            end, "error", _dumps({"code": e.code, "message": e.message, "details": e.details})
        )
    raise TypeError(f"{event!r} is not stored with a turn")


def decode(record: EventRecord) -> Positioned:
    data = json.loads(record.payload)
    cls = _PLAIN.get(record.kind)
    if cls is not None:
        event: TurnEvent = cls(**data)
    elif record.kind == "message_complete":
        usage = data["context_window"]
        event = MessageComplete(
            # What the event tells of the stored reply; the reply is in the session.
            Message(
                Role.ASSISTANT,
                "",
                message_id=data["message_id"],
                model=data["model"],
                eval_count=data["eval_count"],
                prompt_eval_count=data["prompt_eval_count"],
            ),
            WindowUsage(
                usage["current_window"], usage["usage_tokens"], WindowReason(usage["reason"])
            ),
            tuple(ExecutedCall(**c) for c in data["executed"]),
        )
    elif record.kind == "error":
        event = TurnFailed(recorded_error(data["code"], data["message"], data["details"]))
    else:
        raise ValueError(f"unknown stored event kind {record.kind!r}")
    return record.position, event
