"""mochi.v1 messages to the SPEC's JSON shapes (snake_case, nulls kept)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from mochi_grpc._gen.mochi.v1 import agent_service_pb2 as agent_pb
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2 as model_pb
from mochi_grpc._gen.mochi.v1 import session_pb2 as pb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as session_pb
from mochi_grpc._gen.mochi.v1 import summary_service_pb2 as summary_pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as prompt_pb
from mochi_grpc._gen.mochi.v1 import tool_service_pb2 as tool_pb

Json = dict[str, Any]


def enum_name(value: str, prefix: str) -> str:
    """ROLE_ASSISTANT -> assistant; CONTEXT_WINDOW_REASON_NO_ADJUSTMENT -> no_adjustment."""
    return value.removeprefix(prefix).lower()


def role(value: pb.Role.ValueType) -> str:
    return enum_name(pb.Role.Name(value), "ROLE_")


def policy(value: pb.ExecutionPolicy.ValueType) -> str:
    if value == pb.EXECUTION_POLICY_UNSPECIFIED:
        return "always_confirm"
    return enum_name(pb.ExecutionPolicy.Name(value), "EXECUTION_POLICY_")


def policy_value(name: str) -> pb.ExecutionPolicy.ValueType:
    return pb.ExecutionPolicy.Value("EXECUTION_POLICY_" + name.upper())


def reason(value: pb.ContextWindowReason.ValueType) -> str:
    return enum_name(pb.ContextWindowReason.Name(value), "CONTEXT_WINDOW_REASON_")


def timestamp(value: timestamp_pb2.Timestamp) -> str:
    """UTC ISO 8601 with microseconds and Z."""
    return value.ToDatetime().isoformat(timespec="microseconds") + "Z"


# Integers up to this size survive the trip through a double exactly.
_EXACT_INT = 2**53


def _whole_numbers(value: Any) -> Any:
    """The JSON value with every whole number as an integer: a Struct keeps all
    numbers as doubles, so the model's {"a": 12} would come back as 12.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INT:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def struct(value: struct_pb2.Struct) -> Json:
    converted: Json = _whole_numbers(json_format.MessageToDict(value))
    return converted


def _opt(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def tool_settings(s: pb.ToolSettings) -> Json:
    return {
        "tools": list(s.tools),
        "execution_policy": policy(s.execution_policy),
        "tool_policies": {k: policy(v) for k, v in s.tool_policies.items()},
    }


def agent_settings(s: pb.AgentSettings) -> Json:
    return {"enabled_agents": list(s.enabled_agents)}


def summary(s: pb.Session | session_pb.GetSessionStatusResponse) -> Json | None:
    if not s.HasField("summary"):
        return None
    return {"summary": s.summary.summary, "topics": list(s.summary.topics)}


def session_summary(
    s: summary_pb.SummarizeSessionResponse | summary_pb.GetSessionSummaryResponse,
) -> Json:
    return {"summary": s.summary, "topics": list(s.topics), "model_used": s.model_used}


def _session_basics(s: pb.Session) -> Json:
    return {
        "session_id": s.session_id,
        "model": s.model,
        "created_at": timestamp(s.created_at),
        "updated_at": timestamp(s.updated_at),
        "message_count": s.message_count,
        "active_turn_id": _opt(s, "active_turn_id"),
    }


def context_window(w: pb.ContextWindowConfig) -> Json:
    return {
        "dynamic_enabled": w.dynamic_enabled,
        "current_window": w.current_window,
        "last_adjustment": reason(w.last_adjustment),
        "manual_override": w.manual_override,
        "model_max_context": _opt(w, "model_max_context"),
    }


def session(s: pb.Session) -> Json:
    return {
        **_session_basics(s),
        "tool_settings": tool_settings(s.tool_settings),
        "agent_settings": agent_settings(s.agent_settings),
        "context_window": context_window(s.context_window),
    }


def session_list_item(s: pb.Session) -> Json:
    return {**_session_basics(s), "summary": summary(s), "preview": s.preview}


def cancelled_turn(r: chat_pb.CancelTurnResponse) -> Json:
    return {"turn_id": r.turn_id}


def tool_calls(calls: Any) -> list[Json] | None:
    if not calls:
        return None
    return [{"function": {"name": c.name, "arguments": struct(c.arguments)}} for c in calls]


def message(m: pb.Message) -> Json:
    return {
        "role": role(m.role),
        "content": m.content,
        "thinking": _opt(m, "thinking"),
        "message_id": m.message_id,
        "timestamp": timestamp(m.timestamp),
        "model": _opt(m, "model"),
        "eval_count": _opt(m, "eval_count"),
        "prompt_eval_count": _opt(m, "prompt_eval_count"),
        "tool_calls": tool_calls(m.tool_calls),
        "source_file": _opt(m, "source_file"),
        "tool_name": _opt(m, "tool_name"),
        "partial_reason": _opt(m, "partial_reason"),
    }


def window_usage(u: pb.ContextWindowUsage) -> Json:
    return {
        "current_window": u.current_window,
        "usage_tokens": u.usage_tokens,
        "reason": reason(u.reason),
    }


def model(m: model_pb.Model) -> Json:
    return {
        "name": m.name,
        "size_mb": m.size_mb,
        "format": m.format,
        "family": m.family,
        "parameter_size": m.parameter_size,
        "quantization_level": m.quantization_level,
        "capabilities": list(m.capabilities),
        "context_length": m.context_length,
    }


def session_status(s: session_pb.GetSessionStatusResponse) -> Json:
    window = s.context_window
    return {
        "session_id": s.session_id,
        "model": s.model,
        "message_count": s.message_count,
        "context_window": {
            "dynamic_enabled": window.dynamic_enabled,
            "current_window": window.current_window,
            "model_max_context": _opt(window, "model_max_context"),
            "last_adjustment_reason": reason(window.last_adjustment_reason),
            "manual_override": window.manual_override,
        },
        "tools_enabled": s.tools_enabled,
        "active_tools": list(s.active_tools),
        "execution_policy": policy(s.execution_policy),
        "agents_enabled": s.agents_enabled,
        "enabled_agents": list(s.enabled_agents),
        "system_prompt_file": _opt(s, "system_prompt_file"),
        "summary": summary(s),
        "summary_model": _opt(s, "summary_model"),
    }


def session_system_prompt(r: session_pb.SetSessionSystemPromptResponse) -> Json:
    return {
        "content": r.content,
        "source_file": _opt(r, "source_file"),
        "message_index": r.message_index,
    }


def system_prompt(p: prompt_pb.SystemPrompt) -> Json:
    return {"filename": p.filename, "content": p.content}


def system_prompt_item(p: prompt_pb.SystemPrompt) -> Json:
    return {"filename": p.filename, "preview": p.preview, "word_count": p.word_count}


def chat_response(r: chat_pb.ChatResponse) -> Json:
    return {
        "session_id": r.session_id,
        "message": message(r.message),
        "tool_calls_executed": [
            {"name": t.name, "arguments": struct(t.arguments), "success": t.success}
            for t in r.tool_calls_executed
        ],
        "context_window": window_usage(r.context_window),
    }


def tool(t: tool_pb.Tool) -> Json:
    return {"name": t.name, "description": t.description, "parameters": struct(t.parameters)}


def tool_load_errors(errors: Iterable[tool_pb.ToolLoadError]) -> list[Json]:
    return [{"module": e.module, "error": e.error} for e in errors]


def tool_list(r: tool_pb.ListToolsResponse) -> Json:
    return {
        "tools": {t.name: tool(t) for t in r.tools},
        "load_errors": tool_load_errors(r.load_errors),
    }


def tools_reloaded(r: tool_pb.ReloadToolsResponse) -> Json:
    return {
        "success": True,
        "tools_count": r.tools_count,
        "message": f"Successfully reloaded {r.tools_count} tools",
        "load_errors": tool_load_errors(r.load_errors),
    }


def agent_item(a: agent_pb.Agent) -> Json:
    return {
        "name": a.name,
        "description": a.description,
        "model": _opt(a, "model"),
        "valid": a.valid,
        "tool_count": a.tool_count,
        "tools": list(a.tools),
        "error_message": _opt(a, "error_message"),
    }


def agent(a: agent_pb.Agent) -> Json:
    return {**agent_item(a), "system_prompt": a.system_prompt}


def agent_list(r: agent_pb.ListAgentsResponse) -> Json:
    return {"agents": {a.name: agent_item(a) for a in r.agents}}


def agents_reloaded(r: agent_pb.ReloadAgentsResponse) -> Json:
    return {
        "success": True,
        "agents_count": r.agents_count,
        "valid_count": r.valid_count,
        "message": r.message,
    }


def agent_chat_item(s: pb.Session) -> Json:
    return {**session_list_item(s), "agent_name": s.agent_name}


def agent_chat(r: agent_pb.GetAgentChatResponse) -> Json:
    return {
        **session(r.session),
        "agent_name": r.session.agent_name,
        "messages": [message(m) for m in r.messages],
    }


def tool_confirmation(r: chat_pb.ConfirmToolCallResponse) -> Json:
    return {"success": True, "tool_name": r.tool_name, "message": r.message}


def plain_fields(m: Any) -> Json:
    """Every field of a message of scalars and Structs, under its proto name."""
    result: Json = {}
    for field in m.DESCRIPTOR.fields:
        value = getattr(m, field.name)
        result[field.name] = struct(value) if isinstance(value, struct_pb2.Struct) else value
    return result
