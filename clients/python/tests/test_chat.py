"""Turns: whole and streamed."""

from __future__ import annotations

from conftest import MODEL

from mochi_client import (
    ChatStreamEvent,
    ContentDelta,
    Done,
    MessageComplete,
    MochiClient,
    Role,
)


async def test_chat_returns_the_whole_reply(client: MochiClient, session_id: str) -> None:
    response = await client.chat(session_id, "Hello there")

    assert response.session_id == session_id
    assert response.message is not None
    assert response.message.role is Role.ASSISTANT
    assert response.message.content == "You said: Hello there"


async def test_stream_yields_deltas_then_complete_then_done(
    client: MochiClient, session_id: str
) -> None:
    events: list[ChatStreamEvent] = []
    async with client.chat_stream(session_id, "Hello there") as stream:
        async for event in stream:
            events.append(event)

    *deltas, complete, done = events
    assert deltas and all(isinstance(e, ContentDelta) for e in deltas)
    assert "".join(e.content for e in deltas if isinstance(e, ContentDelta)) == (
        "You said: Hello there"
    )
    assert isinstance(complete, MessageComplete) and complete.model == MODEL
    assert isinstance(done, Done) and done.session_id == session_id

    stored = (await client.list_messages(session_id))[-1]
    assert stored.message_id == complete.message_id
    assert stored.content == "You said: Hello there"
    assert stored.partial_reason is None
