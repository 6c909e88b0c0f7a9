"""The data the service keeps: sessions and their messages."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_CONTEXT_WINDOW = 8192


def new_id() -> str:
    """A session or message id: 10 lower-case hex characters."""
    return uuid.uuid4().hex[:10]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ExecutionPolicy(enum.StrEnum):
    ALWAYS_CONFIRM = "always_confirm"
    NEVER_CONFIRM = "never_confirm"


class WindowReason(enum.StrEnum):
    INITIAL_SETUP = "initial_setup"
    USAGE_THRESHOLD = "usage_threshold"
    MODEL_CHANGE = "model_change"
    NO_ADJUSTMENT = "no_adjustment"
    MANUAL_OVERRIDE = "manual_override"


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool requested by the model, in Ollama's shape."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    role: Role
    content: str
    message_id: str = field(default_factory=new_id)
    timestamp: datetime = field(default_factory=utc_now)
    thinking: str | None = None
    model: str | None = None
    eval_count: int | None = None
    prompt_eval_count: int | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    source_file: str | None = None
    tool_name: str | None = None
    partial_reason: str | None = None


@dataclass
class ToolSettings:
    tools: list[str] = field(default_factory=list)
    execution_policy: ExecutionPolicy = ExecutionPolicy.ALWAYS_CONFIRM
    tool_policies: dict[str, ExecutionPolicy] = field(default_factory=dict)


@dataclass
class AgentSettings:
    enabled_agents: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WindowAdjustment:
    reason: WindowReason
    window: int
    usage_tokens: int


@dataclass
class ContextWindowConfig:
    dynamic_enabled: bool = True
    current_window: int = DEFAULT_CONTEXT_WINDOW
    last_adjustment: WindowReason = WindowReason.INITIAL_SETUP
    adjustment_history: list[WindowAdjustment] = field(default_factory=list)
    manual_override: bool = False
    # The model's context length as last looked up (None: unknown).
    model_max_context: int | None = None


@dataclass
class Summary:
    summary: str
    topics: list[str] = field(default_factory=list)


@dataclass
class Session:
    """A session's metadata; its messages are stored and loaded separately."""

    model: str
    session_id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    message_count: int = 0
    tool_settings: ToolSettings = field(default_factory=ToolSettings)
    agent_settings: AgentSettings = field(default_factory=AgentSettings)
    context_window: ContextWindowConfig = field(default_factory=ContextWindowConfig)
    summary: Summary | None = None
    summary_model: str | None = None
    preview: str = ""
    # The turn running on the session, if any (set while it runs).
    active_turn_id: str | None = None
    # The API key that created the session (None: created without keys).
    owner: str | None = None
    # An agent's own conversation: the agent's name (None: a user session).
    agent_name: str | None = None


@dataclass
class ApiKey:
    """A key callers authenticate with; only a hash of its token is kept."""

    name: str
    token_hash: str
    admin: bool = False
    created_at: datetime = field(default_factory=utc_now)
    last_used_at: datetime | None = None


PREVIEW_LENGTH = 100


def preview_of(text: str) -> str:
    """The list preview of a session's first user message: at most 100 chars."""
    if len(text) <= PREVIEW_LENGTH:
        return text
    return text[: PREVIEW_LENGTH - 3] + "..."
