"""Reading one mochi-server session file into a session and its messages.

mochi-server's loading rules apply (SPEC B §3.4, §3.5): the session id is the
file-name stem; a file without format_version is 1.3, and every older format
is read as 1.4 (missing tool_settings, agent_settings and
context_window_config sections take their defaults, a missing tool_policies
is {}, the legacy tool_group is dropped); an unknown role or key makes the
whole file unreadable. Beyond mochi-server, ids must be ours (10 lower-case
hex) and timestamps must parse: a file that breaks a rule is refused with the
reason, never read in part.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mochi_grpc.entities import (
    AgentSettings,
    ContextWindowConfig,
    Message,
    Role,
    Session,
    Summary,
    ToolCall,
    ToolSettings,
    WindowAdjustment,
)
from mochi_grpc.migration.file_format import (
    ROLE_TAGS,
    AssistantRecord,
    MessageRecord,
    MetadataRecord,
    SessionFileRecord,
    SystemRecord,
    ToolRecord,
    UserRecord,
    is_id,
)

# Reasons beyond these are summed up, so a report stays one line per file.
MAX_REASONS = 3


class SessionFileError(ValueError):
    """A session file that cannot be read; the message says why."""


def read_session_file(content: bytes, session_id: str) -> tuple[Session, list[Message]]:
    """The session stored in `content` (a file named `<session_id>.json`)."""
    if not is_id(session_id):
        raise SessionFileError(
            f"the file name {session_id!r} is not a session id (10 lower-case hex characters)"
        )
    try:
        data = json.loads(content)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not text
        raise SessionFileError(f"not valid JSON: {exc}") from None
    try:
        record = SessionFileRecord.model_validate(data)
    except ValidationError as exc:
        raise SessionFileError(describe(exc)) from None
    messages = [_message(m) for m in record.messages]
    return _session(record.metadata, session_id, len(messages)), messages


def describe(error: ValidationError) -> str:
    """The problems of a file, one clause each: where, then what."""
    problems = [_problem(detail) for detail in error.errors()]
    text = "; ".join(problems[:MAX_REASONS])
    if len(problems) > MAX_REASONS:
        text += f" (and {len(problems) - MAX_REASONS} more)"
    return text


def _problem(detail: ErrorDetails) -> str:
    where = _path(detail["loc"])
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: missing"
    if kind == "union_tag_invalid":
        return f"{where}: unknown role {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return f"{where}: no role"
    if kind == "value_error":
        return f"{where}: {ctx.get('error', detail['msg'])}"
    return f"{where}: {detail['msg']}"


def _path(loc: tuple[int | str, ...]) -> str:
    """('messages', 2, 'user', 'mood') -> 'messages[2].mood'."""
    text = ""
    after_index = False
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            after_index = True
            continue
        if after_index and part in ROLE_TAGS:
            continue  # which kind of message pydantic tried: the role says it already
        text += f".{part}" if text else part
        after_index = False
    return text or "the file"


def _session(metadata: MetadataRecord, session_id: str, message_count: int) -> Session:
    tools = metadata.tool_settings
    window = metadata.context_window_config
    summary = metadata.summary
    return Session(
        model=metadata.model,
        session_id=session_id,
        created_at=metadata.created_at,
        updated_at=metadata.updated_at,
        message_count=message_count,
        tool_settings=ToolSettings(
            tools=list(tools.tools),
            execution_policy=tools.execution_policy,
            tool_policies=dict(tools.tool_policies),
        ),
        agent_settings=AgentSettings(enabled_agents=list(metadata.agent_settings.enabled_agents)),
        context_window=ContextWindowConfig(
            dynamic_enabled=window.dynamic_enabled,
            current_window=window.current_window,
            last_adjustment=window.last_adjustment,
            adjustment_history=[
                WindowAdjustment(a.reason, a.window, a.usage_tokens)
                for a in window.adjustment_history
            ],
            manual_override=window.manual_override,
        ),
        # mochi-server reads an empty summary object as no summary.
        summary=Summary(summary.summary, list(summary.topics))
        if summary is not None and summary.model_fields_set
        else None,
        summary_model=metadata.summary_model,
    )


def _message(record: MessageRecord) -> Message:
    match record:
        case UserRecord():
            return Message(Role.USER, record.content, record.message_id, record.timestamp)
        case SystemRecord():
            return Message(
                Role.SYSTEM,
                record.content,
                record.message_id,
                record.timestamp,
                source_file=record.source_file,
            )
        case AssistantRecord():
            return Message(
                Role.ASSISTANT,
                record.content,
                record.message_id,
                record.timestamp,
                thinking=record.thinking,
                model=record.model,
                eval_count=record.eval_count,
                prompt_eval_count=record.prompt_eval_count,
                tool_calls=[
                    ToolCall(c.function.name, dict(c.function.arguments))
                    for c in record.tool_calls or []
                ],
            )
        case ToolRecord():
            return Message(
                Role.TOOL,
                record.content,
                record.message_id,
                record.timestamp,
                tool_name=record.tool_name,
            )
