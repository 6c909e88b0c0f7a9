"""Stopping a stream stops the turn on the server, which stores the partial reply."""

from __future__ import annotations

import asyncio

import pytest
from conftest import StoredReply

from mochi_client import ContentDelta, MochiClient, MochiError, Status

# The fake Ollama sends one word every 20 ms: this reply takes ~20 s in full.
LONG_MESSAGE = " ".join(f"w{i}" for i in range(1000))


async def test_leaving_async_with_cancels_the_turn(
    client: MochiClient, session_id: str, stored_reply: StoredReply
) -> None:
    async with client.chat_stream(session_id, LONG_MESSAGE) as stream:
        async for event in stream:
            if isinstance(event, ContentDelta):
                break

    reply = await stored_reply(session_id)
    assert reply.partial_reason == "cancelled"
    assert reply.content.startswith("You ")


async def test_breaking_out_of_a_bare_loop_cancels_the_turn(
    client: MochiClient, session_id: str, stored_reply: StoredReply
) -> None:
    async for event in client.chat_stream(session_id, LONG_MESSAGE):
        if isinstance(event, ContentDelta):
            break

    reply = await stored_reply(session_id)
    assert reply.partial_reason == "cancelled"


async def test_cancelling_the_task_cancels_the_turn(
    client: MochiClient, session_id: str, stored_reply: StoredReply
) -> None:
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in client.chat_stream(session_id, LONG_MESSAGE):
            if isinstance(event, ContentDelta):
                first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    reply = await stored_reply(session_id)
    assert reply.partial_reason == "cancelled"


async def test_deadline_ends_the_stream_with_deadline_exceeded(
    client: MochiClient, session_id: str, stored_reply: StoredReply
) -> None:
    with pytest.raises(MochiError) as raised:
        async for _ in client.chat_stream(session_id, LONG_MESSAGE, timeout=0.5):
            pass
    assert raised.value.code is Status.DEADLINE_EXCEEDED

    reply = await stored_reply(session_id)
    # Whichever side notices first: the server's deadline or the client's reset.
    assert reply.partial_reason in {"deadline_exceeded", "cancelled"}


async def test_unary_chat_deadline(
    client: MochiClient, session_id: str, stored_reply: StoredReply
) -> None:
    with pytest.raises(MochiError) as raised:
        await client.chat(session_id, LONG_MESSAGE, timeout=0.5)
    assert raised.value.code is Status.DEADLINE_EXCEEDED

    reply = await stored_reply(session_id)
    assert reply.partial_reason in {"deadline_exceeded", "cancelled"}
