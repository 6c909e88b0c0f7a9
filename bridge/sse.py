"""ChatEvent to the SSE event of the same name, with the SPEC's JSON payload.

This runs once per token, so payloads are built as plain dicts and dumped
compactly; protobuf's JSON machinery is used only for the rare Struct fields.
"""

from __future__ import annotations

import json
from typing import Any

from bridge import payloads
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb

Json = dict[str, Any]


def _dumps(payload: Json) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _count(message: Any, field: str) -> int | None:
    return getattr(message, field) if message.HasField(field) else None


def _payload(name: str, e: pb.ChatEvent) -> Json:
    if name == "content_delta":
        return {"content": e.content_delta.content, "role": e.content_delta.role or "assistant"}
    if name == "thinking_delta":
        return {"content": e.thinking_delta.content}
    if name == "message_complete":
        m = e.message_complete
        return {
            "message_id": m.message_id,
            "model": m.model,
            "eval_count": _count(m, "eval_count"),
            "prompt_eval_count": _count(m, "prompt_eval_count"),
            "context_window": payloads.window_usage(m.context_window),
        }
    if name == "done":
        return {"session_id": e.done.session_id}
    if name == "error":
        return {
            "code": e.error.code,
            "message": e.error.message,
            "details": payloads.struct(e.error.details),
        }
    if name == "tool_call":
        t = e.tool_call
        return {
            "tool_name": t.tool_name,
            "arguments": payloads.struct(t.arguments),
            "call_index": t.call_index,
            "tool_call_id": t.tool_call_id,
        }
    if name == "tool_call_confirmation_required":
        c = e.tool_call_confirmation_required
        return {
            "confirmation_id": c.confirmation_id,
            "tool_name": c.tool_name,
            "arguments": payloads.struct(c.arguments),
            "call_index": c.call_index,
            "tool_call_id": c.tool_call_id,
        }
    if name == "tool_result":
        r = e.tool_result
        error = r.error_message if r.HasField("error_message") else None
        return {
            "tool_name": r.tool_name,
            "success": r.success,
            "result": r.result,
            "error_message": error,
            "error": error,
            "call_index": r.call_index,
            "tool_call_id": r.tool_call_id,
        }
    if name == "tool_continuation_start":
        c2 = e.tool_continuation_start
        return {"message": c2.message, "tool_count": c2.tool_count}
    # Agent events carry plain fields under their own names.
    return payloads.plain_fields(getattr(e, name))


def event(e: pb.ChatEvent) -> tuple[str, str]:
    """The SSE event name and its JSON data."""
    name = e.WhichOneof("event")
    if name is None:
        raise ValueError("empty ChatEvent")
    return name, _dumps(_payload(name, e))


def error_event(code: str, message: str, details: Json | None = None) -> tuple[str, str]:
    return "error", _dumps({"code": code, "message": message, "details": details or {}})
