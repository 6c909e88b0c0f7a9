"""Turns starting at once: a few at a time, in the order they arrived, and a
refused start never holds the others back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.support import collect, error_info

MODEL = "llama3.2:latest"
GUARD = 10.0


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"max_starting_turns": 1}))
    yield running
    await running.stop(0)


async def test_a_burst_reaches_the_model_in_the_order_it_arrived(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    turns = 12
    ids = [
        (await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))).session.session_id
        for _ in range(turns)
    ]
    fake_ollama.script(*(Reply(content=["..."], hang_after=1) for _ in range(turns)))
    calls = [
        chat.ChatStream(cpb.ChatStreamRequest(session_id=s, message=f"turn {n}"))
        for n, s in enumerate(ids)
    ]

    await asyncio.wait_for(fake_ollama.wait_for_request(turns), GUARD)

    asked = [r.messages[-1]["content"] for r in fake_ollama.requests]
    assert asked == [f"turn {n}" for n in range(turns)]
    for call in calls:
        call.cancel()
    await asyncio.wait_for(server.engine.drain(), GUARD)


async def test_a_refused_start_lets_the_next_turn_start(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = (
        await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    ).session.session_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id="0123456789", message="x")))
    assert error_info(caught.value).reason == "SESSION_NOT_FOUND"
    fake_ollama.script(Reply(content=["busy"], hang_after=1))
    running = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="1"))
    await running.read()
    with pytest.raises(grpc.aio.AioRpcError) as busy:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="2")))
    assert error_info(busy.value).reason == "SESSION_BUSY"
    running.cancel()
    other = (await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))).session.session_id

    events = await asyncio.wait_for(
        collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=other, message="hello"))), GUARD
    )

    assert events[-1].WhichOneof("event") == "done"
