"""A turn started with continue_on_disconnect survives a dropped connection:
the stream resumes through WatchTurn and the caller's loop sees one turn."""

from __future__ import annotations

import socket

import pytest
from conftest import CutConnections

from mochi_client import (
    ContentDelta,
    Done,
    MessageComplete,
    MochiClient,
    MochiError,
    Status,
    StreamError,
)
from mochi_client._resume import RESUME_ATTEMPTS

# The fake Ollama sends one word every 20 ms: the turn still runs after a few events.
MESSAGE = " ".join(f"w{i}" for i in range(40))


def position(event_id: str) -> int:
    """Where an event lies in its turn (ids are opaque; the tests may look inside)."""
    return int(event_id.rpartition(":")[2])


async def test_stream_resumes_after_the_connection_drops(
    droppable_client: MochiClient,
    cut_connections: CutConnections,
    client: MochiClient,
    session_id: str,
) -> None:
    kinds: list[type] = []
    content: list[str] = []
    event_ids: list[str] = []
    async with droppable_client.chat_stream(
        session_id, MESSAGE, continue_on_disconnect=True
    ) as stream:
        async for event in stream:
            kinds.append(type(event))
            event_ids.append(stream.last_event_id)
            if isinstance(event, ContentDelta):
                content.append(event.content)
                if len(content) == 3:
                    cut_connections()

    assert stream.resumes >= 1, "the connection was not cut while the turn ran"
    stored = (await client.list_messages(session_id))[-1]
    assert stored.partial_reason is None
    assert "".join(content) == stored.content
    assert kinds.count(MessageComplete) == 1
    assert kinds.count(Done) == 1
    assert kinds[-2:] == [MessageComplete, Done]
    positions = [position(event_id) for event_id in event_ids]
    assert positions == sorted(set(positions))
    assert stream.turn_id


async def test_stream_without_continue_on_disconnect_is_not_resumed(
    droppable_client: MochiClient,
    cut_connections: CutConnections,
    client: MochiClient,
    session_id: str,
) -> None:
    with pytest.raises(MochiError) as raised:
        async with droppable_client.chat_stream(session_id, MESSAGE) as stream:
            async for event in stream:
                if isinstance(event, ContentDelta) and stream.resumes == 0:
                    cut_connections()
    assert raised.value.code is Status.UNAVAILABLE
    assert stream.resumes == 0

    # The hang-up stopped the turn: a watcher is told so, and the partial reply is kept.
    events = [event async for event in client.watch_turn(session_id, stream.turn_id)]
    assert isinstance(events[-1], StreamError) and events[-1].code == "TURN_STOPPED"
    assert MessageComplete not in {type(event) for event in events}
    stored = (await client.list_messages(session_id))[-1]
    assert stored.partial_reason == "cancelled"


async def test_watch_gives_up_when_the_server_stays_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with MochiClient(f"127.0.0.1:{port}") as client:
            stream = client.watch_turn("0123456789", "0123456789")
            with pytest.raises(MochiError) as raised:
                async for _ in stream:
                    pytest.fail("no event expected")
    assert raised.value.code is Status.UNAVAILABLE
    assert stream.resumes == RESUME_ATTEMPTS
