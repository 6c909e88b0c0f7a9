"""Reading an SSE stream with httpx-sse, the way a standards-following client does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import aconnect_sse


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]


async def stream_events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[Event]:
    """POSTs and reads every event until the server ends the stream."""
    async with aconnect_sse(client, "POST", path, json=body) as source:
        source.response.raise_for_status()
        return [Event(e.event, json.loads(e.data)) async for e in source.aiter_sse()]


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events]


def text(events: list[Event]) -> str:
    return "".join(e.data["content"] for e in events if e.name == "content_delta")
