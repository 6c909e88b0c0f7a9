"""The mochi-server session file, key by key (SPEC B §3.2 and §3.3).

One set of records serves both directions: reading validates a file against
them, writing dumps them. Each record lists its keys in the order mochi-server
writes them, so a dump has mochi-server's key order. A key a record does not
know refuses the file (mochi-server refuses it too); a missing key or section
takes mochi-server's default. Values are checked strictly: a string where a
number belongs is an error, never a conversion.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
)

from mochi_grpc.entities import DEFAULT_CONTEXT_WINDOW, ExecutionPolicy, WindowReason
from mochi_grpc.store.rows import format_time, parse_time

# What export writes; what import reads (a file without format_version is 1.3).
CURRENT_VERSION = "1.4"
KNOWN_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")
UNVERSIONED = "1.3"

_ID = re.compile(r"[0-9a-f]{10}")


def is_id(value: str) -> bool:
    """Whether a value is a session or message id: 10 lower-case hex characters."""
    return _ID.fullmatch(value) is not None


def _check_id(value: str) -> str:
    if not is_id(value):
        raise ValueError(f"{value!r} is not 10 lower-case hex characters")
    return value


def _check_version(value: str) -> str:
    # mochi-server relabels any version as 1.4; a version it never wrote may
    # mean keys this reader would misread, so it is refused instead.
    if value not in KNOWN_VERSIONS:
        raise ValueError(f"{value!r} is not one of {', '.join(KNOWN_VERSIONS)}")
    return value


def _timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_time(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    else:
        raise ValueError("an ISO 8601 time string is required")
    # Times without an offset (the layout of mochi-server's spec examples) are UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


Id = Annotated[str, AfterValidator(_check_id)]
Timestamp = Annotated[
    datetime, PlainValidator(_timestamp), PlainSerializer(format_time, return_type=str)
]
FormatVersion = Annotated[str, AfterValidator(_check_version)]
# Enum values arrive as JSON strings: these two fields take the value, not only the member.
Policy = Annotated[ExecutionPolicy, Strict(False)]
Reason = Annotated[WindowReason, Strict(False)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ToolSettingsRecord(_Record):
    tools: list[str] = Field(default_factory=list)
    execution_policy: Policy = ExecutionPolicy.ALWAYS_CONFIRM
    tool_policies: dict[str, Policy] = Field(default_factory=dict)
    # Format 1.3 enabled tools by group; 1.4 dropped that (read, never written).
    tool_group: Any = Field(default=None, exclude=True)


class AgentSettingsRecord(_Record):
    enabled_agents: list[str] = Field(default_factory=list)


class AdjustmentRecord(_Record):
    reason: Reason
    window: int
    usage_tokens: int


class ContextWindowRecord(_Record):
    dynamic_enabled: bool = True
    current_window: int = DEFAULT_CONTEXT_WINDOW
    last_adjustment: Reason = WindowReason.INITIAL_SETUP
    adjustment_history: list[AdjustmentRecord] = Field(default_factory=list)
    manual_override: bool = False


class SummaryRecord(_Record):
    summary: str = ""
    topics: list[str] = Field(default_factory=list)


class MetadataRecord(_Record):
    session_id: str
    model: str
    created_at: Timestamp
    updated_at: Timestamp
    message_count: int = 0
    summary: SummaryRecord | None = None
    summary_model: str | None = None
    format_version: FormatVersion = UNVERSIONED
    tool_settings: ToolSettingsRecord = Field(default_factory=ToolSettingsRecord)
    agent_settings: AgentSettingsRecord = Field(default_factory=AgentSettingsRecord)
    context_window_config: ContextWindowRecord = Field(default_factory=ContextWindowRecord)


class UserRecord(_Record):
    role: Literal["user"] = "user"
    content: str = ""
    message_id: Id
    timestamp: Timestamp


class SystemRecord(_Record):
    role: Literal["system"] = "system"
    content: str = ""
    source_file: str | None = None
    message_id: Id
    timestamp: Timestamp


class FunctionRecord(_Record):
    name: str
    arguments: dict[str, Any]


class ToolCallRecord(_Record):
    """A tool call in Ollama's shape, as the ollama client dumps it."""

    function: FunctionRecord


class AssistantRecord(_Record):
    role: Literal["assistant"] = "assistant"
    content: str = ""
    model: str = ""
    message_id: Id
    timestamp: Timestamp
    eval_count: int | None = None
    prompt_eval_count: int | None = None
    thinking: str | None = None
    tool_calls: list[ToolCallRecord] | None = None


class ToolRecord(_Record):
    role: Literal["tool"] = "tool"
    tool_name: str = ""
    content: str = ""
    message_id: Id
    timestamp: Timestamp


MessageRecord = Annotated[
    UserRecord | SystemRecord | AssistantRecord | ToolRecord, Field(discriminator="role")
]
ROLE_TAGS = ("user", "system", "assistant", "tool")


class SessionFileRecord(_Record):
    metadata: MetadataRecord
    messages: list[MessageRecord] = Field(default_factory=list)
