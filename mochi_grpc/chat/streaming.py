"""Delivering a turn's events to a reader that may be slower than the model.

A reader that keeps up gets every delta as it comes. One that falls behind
gets the deltas that piled up meanwhile merged into one event of each kind
(the same text, fewer messages), so per-message costs never cap throughput
and nothing is buffered without bound but the text itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from mochi_grpc.chat.events import ContentDelta, ThinkingDelta, TurnEvent


def merge_deltas(events: list[TurnEvent]) -> list[TurnEvent]:
    """Joins runs of adjacent content (same role) or thinking deltas."""
    merged: list[TurnEvent] = []
    for event in events:
        last = merged[-1] if merged else None
        if (
            isinstance(event, ContentDelta)
            and isinstance(last, ContentDelta)
            and last.role == event.role
        ):
            merged[-1] = ContentDelta(last.content + event.content, event.role)
        elif isinstance(event, ThinkingDelta) and isinstance(last, ThinkingDelta):
            merged[-1] = ThinkingDelta(last.content + event.content)
        else:
            merged.append(event)
    return merged


async def coalesced(events: AsyncIterator[TurnEvent]) -> AsyncGenerator[TurnEvent, None]:
    """Reads `events` in a task of its own and yields them, merging the
    deltas that arrived while the caller was busy with the previous one.

    Closing this generator (or cancelling its caller) cancels the reading
    task and waits for it, so the source sees the cancellation at once."""
    pending: list[TurnEvent] = []
    arrived = asyncio.Event()
    finished = False

    async def pump() -> None:
        nonlocal finished
        try:
            async for event in events:
                pending.append(event)
                arrived.set()
        finally:
            finished = True
            arrived.set()

    reader = asyncio.create_task(pump())
    try:
        while True:
            await arrived.wait()
            arrived.clear()
            batch = merge_deltas(pending) if len(pending) > 1 else list(pending)
            pending.clear()
            for event in batch:
                yield event
            if finished and not pending:
                break
        await reader  # re-raises what ended the source, if anything did
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
