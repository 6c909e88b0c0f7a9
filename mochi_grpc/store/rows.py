"""Converting sessions and messages to and from plain column values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mochi_grpc.entities import (
    AgentSettings,
    ApiKey,
    ContextWindowConfig,
    ExecutionPolicy,
    Message,
    Role,
    Session,
    Summary,
    ToolCall,
    ToolSettings,
    WindowAdjustment,
    WindowReason,
    preview_of,
)


def format_time(value: datetime) -> str:
    """UTC ISO 8601 with microseconds and Z; sorts as text in time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _summary_column(summary: Summary) -> str:
    return _dump({"summary": summary.summary, "topics": summary.topics})


# Stored when a session is created; after that its kind never changes and
# only set_summary writes its summary.
_KEPT_BY_UPDATES = ("summary", "summary_model", "agent_name")


def session_columns(session: Session) -> dict[str, Any]:
    """Every column of a session, as it is created."""
    cw = session.context_window
    return {
        "session_id": session.session_id,
        "model": session.model,
        "created_at": format_time(session.created_at),
        "updated_at": format_time(session.updated_at),
        "message_count": session.message_count,
        "tool_settings": _dump(
            {
                "tools": session.tool_settings.tools,
                "execution_policy": session.tool_settings.execution_policy.value,
                "tool_policies": {
                    k: v.value for k, v in session.tool_settings.tool_policies.items()
                },
            }
        ),
        "agent_settings": _dump({"enabled_agents": session.agent_settings.enabled_agents}),
        "context_window": _dump(
            {
                "dynamic_enabled": cw.dynamic_enabled,
                "current_window": cw.current_window,
                "last_adjustment": cw.last_adjustment.value,
                "adjustment_history": [
                    {"reason": a.reason.value, "window": a.window, "usage_tokens": a.usage_tokens}
                    for a in cw.adjustment_history
                ],
                "manual_override": cw.manual_override,
                "model_max_context": cw.model_max_context,
            }
        ),
        "summary": None if session.summary is None else _summary_column(session.summary),
        "summary_model": session.summary_model,
        "active_turn_id": session.active_turn_id,
        "owner": session.owner,
        "agent_name": session.agent_name,
    }


def metadata_columns(session: Session) -> dict[str, Any]:
    """The columns a write of an existing session's metadata stores: not its
    summary (one written while a turn ran outlives the turn's writes of a
    Session read before it) nor its kind."""
    columns = session_columns(session)
    for name in _KEPT_BY_UPDATES:
        del columns[name]
    return columns


def summary_columns(session_id: str, summary: Summary, model: str) -> dict[str, Any]:
    """The columns set_summary stores (with the session's id)."""
    return {
        "session_id": session_id,
        "summary": _summary_column(summary),
        "summary_model": model,
    }


def session_from_row(row: dict[str, Any]) -> Session:
    tools = json.loads(row["tool_settings"])
    agents = json.loads(row["agent_settings"])
    cw = json.loads(row["context_window"])
    summary = json.loads(row["summary"]) if row["summary"] else None
    return Session(
        session_id=row["session_id"],
        model=row["model"],
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
        message_count=row["message_count"],
        tool_settings=ToolSettings(
            tools=list(tools["tools"]),
            execution_policy=ExecutionPolicy(tools["execution_policy"]),
            tool_policies={k: ExecutionPolicy(v) for k, v in tools["tool_policies"].items()},
        ),
        agent_settings=AgentSettings(enabled_agents=list(agents["enabled_agents"])),
        context_window=ContextWindowConfig(
            dynamic_enabled=cw["dynamic_enabled"],
            current_window=cw["current_window"],
            last_adjustment=WindowReason(cw["last_adjustment"]),
            adjustment_history=[
                WindowAdjustment(WindowReason(a["reason"]), a["window"], a["usage_tokens"])
                for a in cw["adjustment_history"]
            ],
            manual_override=cw["manual_override"],
            model_max_context=cw.get("model_max_context"),
        ),
        summary=None if summary is None else Summary(summary["summary"], summary["topics"]),
        summary_model=row["summary_model"],
        preview=preview_of(row.get("preview") or ""),
        active_turn_id=row.get("active_turn_id"),
        owner=row.get("owner"),
        agent_name=row.get("agent_name"),
    )


def message_columns(session_id: str, position: int, message: Message) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "position": position,
        "message_id": message.message_id,
        "role": message.role.value,
        "content": message.content,
        "timestamp": format_time(message.timestamp),
        "thinking": message.thinking,
        "model": message.model,
        "eval_count": message.eval_count,
        "prompt_eval_count": message.prompt_eval_count,
        "tool_calls": _dump(
            [{"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls]
        )
        if message.tool_calls
        else None,
        "source_file": message.source_file,
        "tool_name": message.tool_name,
        "partial_reason": message.partial_reason,
    }


def message_from_row(row: dict[str, Any]) -> Message:
    calls = json.loads(row["tool_calls"]) if row["tool_calls"] else []
    return Message(
        role=Role(row["role"]),
        content=row["content"],
        message_id=row["message_id"],
        timestamp=parse_time(row["timestamp"]),
        thinking=row["thinking"],
        model=row["model"],
        eval_count=row["eval_count"],
        prompt_eval_count=row["prompt_eval_count"],
        tool_calls=[ToolCall(c["function"]["name"], c["function"]["arguments"]) for c in calls],
        source_file=row["source_file"],
        tool_name=row["tool_name"],
        partial_reason=row["partial_reason"],
    )


def key_columns(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "token_hash": key.token_hash,
        "admin": int(key.admin),
        "created_at": format_time(key.created_at),
        "last_used_at": None if key.last_used_at is None else format_time(key.last_used_at),
    }


def key_from_row(row: dict[str, Any]) -> ApiKey:
    used = row["last_used_at"]
    return ApiKey(
        name=row["name"],
        token_hash=row["token_hash"],
        admin=bool(row["admin"]),
        created_at=parse_time(row["created_at"]),
        last_used_at=None if used is None else parse_time(used),
    )
