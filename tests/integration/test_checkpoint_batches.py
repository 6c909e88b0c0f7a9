"""With more turns running than one checkpoint batch holds, every running
turn's reply still reaches the store, and a turn started meanwhile starts and
ends as usual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.chat.checkpoints import CHECKPOINT_BATCH
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply, echo_reply
from tests.support import case, collect

MODEL = "llama3.2:latest"
GUARD = 20.0  # seconds; only stops a broken test from hanging
RUNNING = CHECKPOINT_BATCH + 15


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"checkpoint_interval_ms": 100}))
    yield running
    await running.stop(0)


async def _session(sessions: SessionStub) -> str:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    return created.session.session_id


async def test_every_running_turn_is_checkpointed_beyond_one_batch(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    def by_message(body: dict[str, Any]) -> Reply:
        if body["messages"][-1]["content"] == "Go":
            return Reply(content=["So", " far"], hang_after=2)
        return echo_reply(body)

    fake_ollama.default_reply = by_message
    running = [await _session(sessions) for _ in range(RUNNING)]
    late = await _session(sessions)

    async def stored(session_id: str) -> list[tuple[str, str]]:
        listed = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
        return [(m.content, m.partial_reason) for m in listed.messages]

    calls = [chat.ChatStream(cpb.ChatStreamRequest(session_id=s, message="Go")) for s in running]
    try:
        for call in calls:
            for _ in range(2):  # both deltas: each turn has output to store
                await asyncio.wait_for(call.read(), GUARD)
        late_events = await asyncio.wait_for(
            collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=late, message="Hi"))), GUARD
        )
        checkpointed: set[str] = set()
        for _ in range(int(GUARD / 0.05)):
            for session_id in set(running) - checkpointed:
                if (await stored(session_id))[-1:] == [("So far", "in_progress")]:
                    checkpointed.add(session_id)
            if len(checkpointed) == RUNNING:
                break
            await asyncio.sleep(0.05)
        late_stored = await stored(late)
    finally:
        for call in calls:
            call.cancel()

    assert len(checkpointed) == RUNNING
    assert case(late_events[-1]) == "done"
    assert late_stored == [("Hi", ""), ("You said: Hi", "")]
