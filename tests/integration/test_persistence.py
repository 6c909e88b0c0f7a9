"""What a server stored is there after a restart on the same data directory."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply


async def test_sessions_and_turns_survive_a_restart(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Reply(content=["Stored", " reply"], eval_count=2, prompt_eval_count=7))
    first = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as channel:
            sessions, chat = SessionStub(channel), ChatStub(channel)
            created = await sessions.CreateSession(
                pb.CreateSessionRequest(model="llama3.2:latest", system_prompt="sys")
            )
            session_id = created.session.session_id
            await chat.Chat(cpb.ChatRequest(session_id=session_id, message="Remember me"))
            before = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
    finally:
        await first.stop(0)

    second = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
            after = await SessionStub(channel).GetSession(
                pb.GetSessionRequest(session_id=session_id)
            )
    finally:
        await second.stop(0)

    assert after == before
    assert [(m.role, m.content) for m in after.messages] == [
        (spb.ROLE_SYSTEM, "sys"),
        (spb.ROLE_USER, "Remember me"),
        (spb.ROLE_ASSISTANT, "Stored reply"),
    ]
    assert after.messages[2].eval_count == 2
