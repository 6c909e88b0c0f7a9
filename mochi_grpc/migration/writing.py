"""Writing a session and its messages as a mochi-server session file.

The file is what mochi-server itself writes (SPEC B §3.2): format 1.4, keys in
its order, 2-space indentation, ensure_ascii=False, no final newline;
message_count is the number of messages. What mochi-server does not know is
left out, since it refuses unknown keys: a message's partial_reason and the
model's context length kept in our context window.
"""

from __future__ import annotations

import json

from mochi_grpc.entities import Message, Role, Session
from mochi_grpc.migration.file_format import (
    CURRENT_VERSION,
    AdjustmentRecord,
    AgentSettingsRecord,
    AssistantRecord,
    ContextWindowRecord,
    FunctionRecord,
    MessageRecord,
    MetadataRecord,
    SessionFileRecord,
    SummaryRecord,
    SystemRecord,
    ToolCallRecord,
    ToolRecord,
    ToolSettingsRecord,
    UserRecord,
)


def write_session_file(session: Session, messages: list[Message]) -> str:
    """The text of `<session_id>.json` for a session and all its messages."""
    record = SessionFileRecord(
        metadata=_metadata(session, len(messages)), messages=[_message(m) for m in messages]
    )
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _metadata(session: Session, message_count: int) -> MetadataRecord:
    tools = session.tool_settings
    window = session.context_window
    summary = session.summary
    return MetadataRecord(
        session_id=session.session_id,
        model=session.model,
        created_at=session.created_at,
        updated_at=session.updated_at,
        message_count=message_count,
        summary=None
        if summary is None
        else SummaryRecord(summary=summary.summary, topics=list(summary.topics)),
        summary_model=session.summary_model,
        format_version=CURRENT_VERSION,
        tool_settings=ToolSettingsRecord(
            tools=list(tools.tools),
            execution_policy=tools.execution_policy,
            tool_policies=dict(tools.tool_policies),
        ),
        agent_settings=AgentSettingsRecord(
            enabled_agents=list(session.agent_settings.enabled_agents)
        ),
        context_window_config=ContextWindowRecord(
            dynamic_enabled=window.dynamic_enabled,
            current_window=window.current_window,
            last_adjustment=window.last_adjustment,
            adjustment_history=[
                AdjustmentRecord(reason=a.reason, window=a.window, usage_tokens=a.usage_tokens)
                for a in window.adjustment_history
            ],
            manual_override=window.manual_override,
        ),
    )


def _message(message: Message) -> MessageRecord:
    match message.role:
        case Role.USER:
            return UserRecord(
                content=message.content,
                message_id=message.message_id,
                timestamp=message.timestamp,
            )
        case Role.SYSTEM:
            return SystemRecord(
                content=message.content,
                source_file=message.source_file,
                message_id=message.message_id,
                timestamp=message.timestamp,
            )
        case Role.ASSISTANT:
            return AssistantRecord(
                content=message.content,
                model=message.model or "",
                message_id=message.message_id,
                timestamp=message.timestamp,
                eval_count=message.eval_count,
                prompt_eval_count=message.prompt_eval_count,
                thinking=message.thinking,
                # mochi-server stores null, not [], for a reply without tool calls.
                tool_calls=[
                    ToolCallRecord(function=FunctionRecord(name=c.name, arguments=c.arguments))
                    for c in message.tool_calls
                ]
                or None,
            )
        case Role.TOOL:
            return ToolRecord(
                tool_name=message.tool_name or "",
                content=message.content,
                message_id=message.message_id,
                timestamp=message.timestamp,
            )
