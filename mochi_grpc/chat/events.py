"""What a turn reports while it runs, in order."""

from __future__ import annotations

from dataclasses import dataclass

from mochi_grpc.entities import Message, WindowReason
from mochi_grpc.errors import MochiError


@dataclass(frozen=True)
class TurnStarted:
    """The turn was accepted: the session exists, is free and has something
    to answer. Errors after this one arrive as TurnFailed."""

    session_id: str


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
class MessageComplete:
    message: Message
    context_window: WindowUsage


@dataclass(frozen=True)
class TurnFailed:
    """The turn stopped on an error; whatever the model produced is stored."""

    error: MochiError


@dataclass(frozen=True)
class TurnDone:
    session_id: str


TurnEvent = TurnStarted | ContentDelta | ThinkingDelta | MessageComplete | TurnFailed | TurnDone
