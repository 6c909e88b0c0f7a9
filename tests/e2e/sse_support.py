"""Reading an SSE stream with httpx-sse, the way a standards-following client does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

GUARD = 5.0  # seconds; only stops a broken test from hanging


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]


async def _decoded(events: AsyncIterable[ServerSentEvent]) -> AsyncGenerator[Event, None]:
    async for e in events:
        yield Event(e.event, json.loads(e.data))


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> AsyncIterator[AsyncGenerator[Event, None]]:
    """POSTs and yields the events as they arrive; leaving the block closes
    the connection, whether or not the server has ended the stream."""
    async with aconnect_sse(client, "POST", path, json=body) as source:
        source.response.raise_for_status()
        async with aclosing(_decoded(source.aiter_sse())) as events:
            yield events


async def stream_events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[Event]:
    """POSTs and reads every event until the server ends the stream."""
    async with open_stream(client, path, body) as events:
        return [e async for e in events]


async def read_until(events: AsyncIterator[Event], name: str) -> list[Event]:
    """The events up to and including the first one called `name`."""
    read: list[Event] = []
    while not read or read[-1].name != name:
        read.append(await asyncio.wait_for(anext(events), GUARD))
    return read


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events]


def text(events: list[Event]) -> str:
    return "".join(e.data["content"] for e in events if e.name == "content_delta")
