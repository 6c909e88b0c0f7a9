"""A running turn's reply reaches the store on the checkpoint interval even
while other turns keep starting and ending, each of which wakes the store's
writer at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply, echo_reply
from tests.support import case, collect

MODEL = "llama3.2:latest"
GUARD = 10.0  # seconds; only stops a broken test from hanging
# Long enough that the starts and ends of other turns come far more often
# than the writer's look for due checkpoints (a fifth of it).
INTERVAL_MS = 500


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"checkpoint_interval_ms": INTERVAL_MS}))
    yield running
    await running.stop(0)


async def _session(sessions: SessionStub) -> str:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    return created.session.session_id


async def test_the_reply_so_far_is_stored_while_other_turns_keep_starting_and_ending(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    def by_message(body: dict[str, Any]) -> Reply:
        if body["messages"][-1]["content"] == "Go":
            return Reply(content=["So", " far"], hang_after=2)
        return echo_reply(body)

    fake_ollama.default_reply = by_message
    others = [await _session(sessions) for _ in range(4)]
    session_id = await _session(sessions)
    churning, stop = asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    async def churn(other: str) -> None:
        while not stop.is_set():
            events = await collect(
                chat.ChatStream(cpb.ChatStreamRequest(session_id=other, message="again"))
            )
            ended.append(case(events[-1]))
            if len(ended) >= 8:
                churning.set()

    async def stored_so_far() -> list[tuple[str, str]]:
        listed = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
        return [(m.content, m.partial_reason) for m in listed.messages]

    churners = [asyncio.create_task(churn(other)) for other in others]
    call = None
    try:
        await asyncio.wait_for(churning.wait(), GUARD)
        call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
        for _ in range(2):
            await asyncio.wait_for(call.read(), GUARD)
        before = len(ended)
        for _ in range(int(GUARD / 0.02)):
            if len(await stored_so_far()) == 2:
                break
            await asyncio.sleep(0.02)
        during = len(ended) - before
        stored = await stored_so_far()
    finally:
        stop.set()
        await asyncio.gather(*churners)
        if call is not None:
            call.cancel()

    assert stored == [("Go", ""), ("So far", "in_progress")]
    assert during > 0  # other turns kept ending while it was awaited
    assert set(ended) == {"done"}
