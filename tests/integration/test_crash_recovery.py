"""A server killed with SIGKILL mid-reply: nothing it acknowledged is lost."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.server_process import GUARD, server_process, serving
from tests.support import case, collect, text_of


async def _checkpointed(sessions: SessionStub, session_id: str, text: str) -> None:
    """Waits until the store holds the reply so far (read through the API)."""
    for _ in range(int(GUARD / 0.02)):
        listed = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
        if len(listed.messages) == 2 and listed.messages[1].content == text:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the reply so far never reached the store: {text!r}")


async def test_sigkill_mid_reply_keeps_the_checkpoint_marked_interrupted(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Reply(content=["Before", " the", " crash"], hang_after=3))
    async with server_process(tmp_path, fake_ollama.url, checkpoint_interval_ms="50") as (
        proc,
        target,
    ):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            sessions = SessionStub(channel)
            created = await sessions.CreateSession(pb.CreateSessionRequest(model="llama3.2:latest"))
            session_id = created.session.session_id
            call = ChatStub(channel).ChatStream(
                cpb.ChatStreamRequest(session_id=session_id, message="Tell me")
            )
            turn_id = str(dict(await call.initial_metadata() or ())["mochi-turn-id"])
            await _checkpointed(sessions, session_id, "Before the crash")

            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), GUARD)

    fake_ollama.script(Reply(content=["Still", " here"]))
    async with server_process(tmp_path, fake_ollama.url) as (_, target):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            sessions, chat = SessionStub(channel), ChatStub(channel)
            stored = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
            session = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
            replayed = await collect(
                chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id, turn_id=turn_id))
            )
            after = await collect(
                chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Again"))
            )

    assert [(m.content, m.partial_reason) for m in stored.messages] == [
        ("Tell me", ""),
        ("Before the crash", "interrupted"),
    ]
    assert not session.session.HasField("active_turn_id")
    assert text_of(replayed) == "Before the crash"
    assert (replayed[-1].error.code, replayed[-1].error.details["partial_reason"]) == (
        "TURN_STOPPED",
        "interrupted",
    )
    assert text_of(after) == "Still here"
    assert case(after[-1]) == "done"


async def test_sigkill_before_the_first_token_keeps_the_user_message(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Reply(content=["never"], first_chunk_delay=60))
    async with server_process(tmp_path, fake_ollama.url) as (proc, target):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            created = await SessionStub(channel).CreateSession(
                pb.CreateSessionRequest(model="llama3.2:latest")
            )
            session_id = created.session.session_id
            call = ChatStub(channel).ChatStream(
                cpb.ChatStreamRequest(session_id=session_id, message="Are you there?")
            )
            await call.initial_metadata()  # accepted: stored before Ollama is asked
            await fake_ollama.wait_for_request()

            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), GUARD)

    async with server_process(tmp_path, fake_ollama.url) as (_, target):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            stored = await SessionStub(channel).ListMessages(
                pb.ListMessagesRequest(session_id=session_id)
            )

    assert [m.content for m in stored.messages] == ["Are you there?"]
