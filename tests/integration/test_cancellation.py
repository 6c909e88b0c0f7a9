"""Cancel, deadline and shutdown: the model request closes, the partial reply stays."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, RecordedChat, Reply
from tests.support import read_text

MODEL = "llama3.2:latest"
GUARD = 5.0  # seconds; only stops a broken test from hanging


async def _session(sessions: SessionStub) -> str:
    return (await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))).session.session_id


async def _messages(sessions: SessionStub, session_id: str) -> list[spb.Message]:
    response = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
    return list(response.messages)


async def _stored_after_hang_up(
    rec: RecordedChat, server: RunningServer, sessions: SessionStub, session_id: str
) -> list[spb.Message]:
    """Waits for Ollama to see the hang-up and the turn to be stored; the messages."""
    await _hung_up(rec)
    await asyncio.wait_for(server.engine.drain(), GUARD)
    return await _messages(sessions, session_id)


async def _hung_up(rec: RecordedChat) -> None:
    await asyncio.wait_for(rec.disconnected.wait(), GUARD)
    assert not rec.completed


async def test_cancel_stops_ollama_and_keeps_partial_reply(
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
    server: RunningServer,
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["The", " quick", " brown", " fox"], hang_after=3))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    await read_text(call, "The quick brown")

    call.cancel()

    stored = await _stored_after_hang_up(fake_ollama.requests[0], server, sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_USER, "Go"),
        (spb.ROLE_ASSISTANT, "The quick brown"),
    ]
    assert stored[1].partial_reason == "cancelled"


async def test_cancel_before_the_first_token_stops_ollama_and_keeps_the_question(
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
    server: RunningServer,
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["late"], first_chunk_delay=60))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Long prompt"))
    rec = await asyncio.wait_for(fake_ollama.wait_for_request(), GUARD)

    call.cancel()

    stored = await _stored_after_hang_up(rec, server, sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [(spb.ROLE_USER, "Long prompt")]


async def test_deadline_stops_ollama_keeps_partial_and_returns_deadline_exceeded(
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
    server: RunningServer,
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["Part", "ial", " never"], hang_after=2))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"), timeout=1.0)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass

    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    stored = await _stored_after_hang_up(fake_ollama.requests[0], server, sessions, session_id)
    assert stored[-1].content == "Partial"
    assert stored[-1].partial_reason == "deadline_exceeded"


async def test_cancelled_unary_chat_stops_ollama_and_keeps_partial_reply(
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
    server: RunningServer,
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["One", " two"], hang_after=2))
    call = chat.Chat(cpb.ChatRequest(session_id=session_id, message="Count"))
    rec = await asyncio.wait_for(fake_ollama.wait_for_request(), GUARD)
    await asyncio.wait_for(fake_ollama.wait_for_chunks(rec, 2), GUARD)

    call.cancel()

    stored = await _stored_after_hang_up(rec, server, sessions, session_id)
    assert (stored[-1].content, stored[-1].partial_reason) == ("One two", "cancelled")


async def test_session_is_free_again_after_a_cancelled_turn(
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
    server: RunningServer,
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["a"], hang_after=1), Reply(content=["fine"]))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="1"))
    await call.read()
    call.cancel()
    await asyncio.wait_for(server.engine.drain(), GUARD)

    response = await chat.Chat(cpb.ChatRequest(session_id=session_id, message="2"))

    assert response.message.content == "fine"


async def test_shutdown_cuts_running_streams_and_stores_their_partial_replies(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    running = await start(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        sessions, chat = SessionStub(channel), ChatStub(channel)
        session_id = await _session(sessions)
        fake_ollama.script(Reply(content=["Before", " stop"], hang_after=2))
        call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"))
        await call.read()
        await fake_ollama.wait_for_chunks(fake_ollama.requests[0], 2)

        await asyncio.wait_for(running.stop(grace=0.2), GUARD)

        with pytest.raises(grpc.aio.AioRpcError):
            while await call.read() != grpc.aio.EOF:
                pass
    await _hung_up(fake_ollama.requests[0])

    again = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.port}") as channel:
            stored = await _messages(SessionStub(channel), session_id)
    finally:
        await again.stop(0)
    assert (stored[-1].content, stored[-1].partial_reason) == ("Before stop", "shutdown")
