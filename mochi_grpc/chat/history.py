"""Turning stored messages into the model's chat history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mochi_grpc.entities import Message, Role


def to_model_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Ollama's message list: the system prompt first (it is message 0), tool
    calls and the thinking of replies, and the tool name of tool results."""
    result: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role.value, "content": message.content}
        if message.role is Role.ASSISTANT:
            if message.thinking:
                entry["thinking"] = message.thinking
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"function": {"name": c.name, "arguments": c.arguments}}
                    for c in message.tool_calls
                ]
        if message.role is Role.TOOL and message.tool_name:
            entry["tool_name"] = message.tool_name
        result.append(entry)
    return result
