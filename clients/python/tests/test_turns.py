"""Turns followed and stopped from any connection: watch_turn and cancel_turn."""

from __future__ import annotations

import pytest

from mochi_client import (
    ChatStreamEvent,
    ContentDelta,
    Done,
    MessageComplete,
    MochiClient,
    MochiError,
    Role,
    Status,
    StreamError,
)

# The fake Ollama sends one word every 20 ms.
MESSAGE = " ".join(f"w{i}" for i in range(40))
LONG_MESSAGE = " ".join(f"w{i}" for i in range(1000))


def text(events: list[ChatStreamEvent]) -> str:
    return "".join(e.content for e in events if isinstance(e, ContentDelta))


async def test_watch_from_another_client_sees_the_same_turn(
    client: MochiClient, target: str, session_id: str
) -> None:
    async with client.chat_stream(session_id, MESSAGE) as stream:
        first = await anext(stream)
        assert isinstance(first, ContentDelta)
        async with MochiClient(target) as other:
            watch = other.watch_turn(session_id, stream.turn_id, stream.last_event_id)
            watched = [event async for event in watch]
        rest = [event async for event in stream]

    assert watch.turn_id == stream.turn_id
    stored = (await client.list_messages(session_id))[-1]
    assert stored.partial_reason is None
    assert first.content + text(watched) == stored.content
    assert first.content + text(rest) == stored.content
    assert [type(e) for e in watched if not isinstance(e, ContentDelta)] == [MessageComplete, Done]
    assert [type(e) for e in rest if not isinstance(e, ContentDelta)] == [MessageComplete, Done]


async def test_watch_of_an_ended_turn_replays_it(client: MochiClient, session_id: str) -> None:
    reply = await client.chat(session_id, "Hello there")

    events = [event async for event in client.watch_turn(session_id)]

    assert reply.message is not None
    assert text(events) == reply.message.content == "You said: Hello there"
    complete, done = events[-2:]
    assert isinstance(complete, MessageComplete)
    assert complete.message_id == reply.message.message_id
    assert isinstance(done, Done)


async def test_watch_of_an_unknown_turn_is_turn_not_found(
    client: MochiClient, session_id: str
) -> None:
    with pytest.raises(MochiError) as raised:
        async for _ in client.watch_turn(session_id, "0123456789"):
            pytest.fail("no event expected")
    assert raised.value.code is Status.NOT_FOUND
    assert raised.value.reason == "TURN_NOT_FOUND"


async def test_cancel_turn_stops_it_and_keeps_the_partial_reply(
    client: MochiClient, session_id: str
) -> None:
    async with client.chat_stream(session_id, LONG_MESSAGE, continue_on_disconnect=True) as stream:
        assert isinstance(await anext(stream), ContentDelta)
        running = await client.get_session(session_id)
        assert running.session is not None
        assert running.session.active_turn_id == stream.turn_id != ""

        assert await client.cancel_turn(session_id) == stream.turn_id
        rest = [event async for event in stream]

    last = rest[-1]
    assert isinstance(last, StreamError) and last.code == "TURN_STOPPED"
    stored = (await client.list_messages(session_id))[-1]
    assert stored.role is Role.ASSISTANT
    assert stored.partial_reason == "cancelled"
    assert stored.content.startswith("You ")
    after = await client.get_session(session_id)
    assert after.session is not None and not after.session.active_turn_id


async def test_cancel_turn_without_a_running_turn_is_turn_not_found(
    client: MochiClient, session_id: str
) -> None:
    await client.chat(session_id, "Hello")

    with pytest.raises(MochiError) as raised:
        await client.cancel_turn(session_id)
    assert raised.value.code is Status.NOT_FOUND
    assert raised.value.reason == "TURN_NOT_FOUND"
