"""Two server replicas, each a real process, on one PostgreSQL database (a
private pgserver): they behave like one service, whichever replica a call
reaches, and one killed with SIGKILL leaves no session stuck."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as mpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as spb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as ppb
from mochi_grpc.stubs import ChatStub, SessionStub, SystemPromptStub
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import GUARD, server_process, serving
from tests.support import case, collect, error_info, text_of
from tests.tools_fixture import write_tools

MODEL = "llama3.2:latest"
# Short, so a dead replica is found out quickly.
LEASE_SECONDS = "2"


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    target: str
    channel: grpc.aio.Channel

    @property
    def sessions(self) -> SessionStub:
        return SessionStub(self.channel)

    @property
    def chat(self) -> ChatStub:
        return ChatStub(self.channel)


async def _start_replicas(
    stack: AsyncExitStack, tmp_path: Path, ollama_url: str, database_url: str, **settings: str
) -> list[Replica]:
    replicas = []
    for name in ("a", "b"):
        data_dir = tmp_path / name
        write_tools(data_dir / "tools")  # tools are files deployed with each replica
        process, target = await stack.enter_async_context(
            server_process(
                data_dir,
                ollama_url,
                database_url=database_url,
                turn_lease_seconds=LEASE_SECONDS,
                checkpoint_interval_ms="50",
                **settings,
            )
        )
        await serving(target)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(target))
        replicas.append(Replica(process, target, channel))
    return replicas


@pytest.fixture
async def replicas(
    tmp_path: Path, fake_ollama: FakeOllama, postgres_url: str
) -> AsyncIterator[list[Replica]]:
    async with AsyncExitStack() as stack:
        yield await _start_replicas(stack, tmp_path, fake_ollama.url, postgres_url)


async def _new_session(replica: Replica, **fields: object) -> str:
    created = await replica.sessions.CreateSession(spb.CreateSessionRequest(model=MODEL, **fields))  # type: ignore[arg-type]
    return str(created.session.session_id)


async def _turn_id(call: grpc.aio.UnaryStreamCall[cpb.ChatStreamRequest, cpb.ChatEvent]) -> str:
    return str(dict(await call.initial_metadata() or ())["mochi-turn-id"])


async def _messages(replica: Replica, session_id: str) -> list[tuple[str, str, str]]:
    listed = await replica.sessions.ListMessages(spb.ListMessagesRequest(session_id=session_id))
    return [(mpb.Role.Name(m.role), m.content, m.partial_reason) for m in listed.messages]


async def test_turns_through_either_replica_make_one_whole_history(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    a, b = replicas
    session_id = await _new_session(a)
    for i in range(4):
        fake_ollama.script(Reply(content=[f"Answer {i}"]))
        replica = replicas[i % 2]
        await replica.chat.Chat(cpb.ChatRequest(session_id=session_id, message=f"Question {i}"))

    for replica in (a, b):
        history = await _messages(replica, session_id)
        assert [content for _, content, _ in history] == [
            text for i in range(4) for text in (f"Question {i}", f"Answer {i}")
        ]


async def test_a_session_answering_on_one_replica_is_busy_on_the_other(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    a, b = replicas
    session_id = await _new_session(a)
    fake_ollama.script(Reply(content=["Slow", " reply"], hang_after=1))
    running = a.chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="First"))
    await _turn_id(running)  # accepted: the session is claimed

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await collect(b.chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="2")))
    with pytest.raises(grpc.aio.AioRpcError) as edit_refused:
        await b.sessions.DeleteSession(spb.DeleteSessionRequest(session_id=session_id))

    for exc in (refused.value, edit_refused.value):
        assert (exc.code(), error_info(exc).reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "SESSION_BUSY",
        )
    running.cancel()
    assert (await _messages(b, session_id))[0][1] == "First"


async def test_a_confirmation_raised_on_one_replica_is_answered_through_the_other(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    a, b = replicas
    tools = mpb.ToolSettings(tools=["shout"], execution_policy=mpb.EXECUTION_POLICY_ALWAYS_CONFIRM)
    session_id = await _new_session(a, tool_settings=tools)
    fake_ollama.script(
        Reply(tool_calls=[{"name": "shout", "arguments": {"text": "hello"}}]),
        Reply(content=["It said HELLO"]),
    )
    events = []
    stream = a.chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Shout"))
    async for event in stream:
        events.append(event)
        if case(event) == "tool_call_confirmation_required":
            confirmation = event.tool_call_confirmation_required.confirmation_id
            answer = await b.chat.ConfirmToolCall(
                cpb.ConfirmToolCallRequest(
                    session_id=session_id, confirmation_id=confirmation, approved=True
                )
            )
            assert answer.tool_name == "shout"

    assert [e.tool_result.result for e in events if case(e) == "tool_result"] == ["HELLO"]
    assert text_of(events) == "It said HELLO"
    assert case(events[-1]) == "done"


async def test_a_turn_on_one_replica_is_watched_and_cancelled_through_the_other(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    a, b = replicas
    session_id = await _new_session(a)
    fake_ollama.script(Reply(content=[f"w{i} " for i in range(400)], chunk_delay=0.01))
    started = a.chat.ChatStream(
        cpb.ChatStreamRequest(session_id=session_id, message="Go", continue_on_disconnect=True)
    )
    turn_id = await _turn_id(started)

    watched: list[cpb.ChatEvent] = []
    watch = b.chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id, turn_id=turn_id))
    async for event in watch:
        watched.append(event)
        if len(text_of(watched)) > 20:
            break
    watch.cancel()
    cancelled = await b.chat.CancelTurn(cpb.CancelTurnRequest(session_id=session_id))
    on_a = await collect(started)
    replay = await collect(b.chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id)))

    assert cancelled.turn_id == turn_id
    assert (on_a[-1].error.code, on_a[-1].error.details["partial_reason"]) == (
        "TURN_STOPPED",
        "cancelled",
    )
    _, reply, reason = (await _messages(b, session_id))[1]
    assert reason == "cancelled" and reply.startswith(text_of(watched)[:20])
    assert text_of(on_a) == reply == text_of(replay)
    assert len(reply.split()) < 400


async def test_a_turn_on_another_replica_is_followed_to_its_end(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    a, b = replicas
    session_id = await _new_session(a)
    words = [f"t{i} " for i in range(60)]
    fake_ollama.script(Reply(content=words, chunk_delay=0.01))
    started = a.chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    turn_id = await _turn_id(started)

    watched = await collect(b.chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id)))
    on_a = await collect(started)

    assert text_of(watched) == text_of(on_a) == "".join(words)
    assert case(watched[-1]) == "done"
    assert watched[-1].event_id.startswith(turn_id)


async def test_a_killed_replica_leaves_no_session_stuck(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    a, b = replicas
    session_id = await _new_session(b)
    fake_ollama.script(Reply(content=["Cut", " short"], hang_after=2))
    running = a.chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Hi"))
    turn_id = await _turn_id(running)
    for _ in range(int(GUARD / 0.02)):  # the reply so far reached the store
        if len(await _messages(b, session_id)) == 2:
            break
        await asyncio.sleep(0.02)

    a.process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(a.process.wait(), GUARD)
    # Watching through the live replica ends when the lease has run out.
    replay = await asyncio.wait_for(
        collect(b.chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id, turn_id=turn_id))),
        GUARD,
    )
    fake_ollama.script(Reply(content=["Back"]))
    after = await b.chat.Chat(cpb.ChatRequest(session_id=session_id, message="Again"))

    assert (replay[-1].error.code, replay[-1].error.details["partial_reason"]) == (
        "TURN_STOPPED",
        "interrupted",
    )
    assert text_of(replay) == "Cut short"
    assert after.message.content == "Back"
    assert await _messages(b, session_id) == [
        ("ROLE_USER", "Hi", ""),
        ("ROLE_ASSISTANT", "Cut short", "interrupted"),
        ("ROLE_USER", "Again", ""),
        ("ROLE_ASSISTANT", "Back", ""),
    ]


async def test_prompt_files_written_through_one_replica_are_read_through_the_other(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    await SystemPromptStub(a.channel).CreateSystemPrompt(
        ppb.CreateSystemPromptRequest(filename="pirate.md", content="Talk like a pirate.")
    )

    listed = await SystemPromptStub(b.channel).ListSystemPrompts(ppb.ListSystemPromptsRequest())
    session_id = await _new_session(b)
    await b.sessions.SetSessionSystemPrompt(
        spb.SetSessionSystemPromptRequest(session_id=session_id, source_file="pirate.md")
    )

    assert [p.filename for p in listed.prompts] == ["pirate.md"]
    assert (await _messages(a, session_id))[0][:2] == ("ROLE_SYSTEM", "Talk like a pirate.")


async def _keys(database_url: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mochi_grpc",
        "keys",
        *args,
        "--database-url",
        database_url,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


async def test_a_key_revoked_once_is_refused_by_every_replica(
    tmp_path: Path, fake_ollama: FakeOllama, postgres_url: str
) -> None:
    async with AsyncExitStack() as stack:
        replicas = await _start_replicas(
            stack, tmp_path, fake_ollama.url, postgres_url, auth="required"
        )
        token = (await _keys(postgres_url, "create", "alice")).strip().splitlines()[-1]
        metadata = (("authorization", f"Bearer {token}"),)
        for replica in replicas:
            await replica.sessions.ListSessions(spb.ListSessionsRequest(), metadata=metadata)

        await _keys(postgres_url, "revoke", "alice")

        for replica in replicas:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await replica.sessions.ListSessions(spb.ListSessionsRequest(), metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_bridge_spreads_one_conversation_over_both_replicas(
    replicas: list[Replica], fake_ollama: FakeOllama
) -> None:
    targets = ",".join(replica.target for replica in replicas)
    bridge = await EmbeddedServer.start(
        create_app(BridgeSettings(grpc_target=targets)), lifespan="on"
    )
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=GUARD) as http:
            created = await http.post("/sessions", json={"model": MODEL})
            session_id = created.json()["session_id"]
            for i in range(4):
                fake_ollama.script(Reply(content=[f"Reply {i}"]))
                answer = await http.post(f"/chat/{session_id}", json={"message": f"Ask {i}"})
                assert answer.status_code == 200, answer.text
            history = (await http.get(f"/sessions/{session_id}/messages")).json()
    finally:
        await bridge.stop()

    assert [m["content"] for m in history["messages"]] == [
        text for i in range(4) for text in (f"Ask {i}", f"Reply {i}")
    ]
