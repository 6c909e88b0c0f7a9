"""Summaries in the domain: the conversation the model reads, and automatic
summaries in the background (at most one per session, coalesced, stopped at
close), over a real SQLite store and a model backend that waits to be told
to answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest

from mochi_grpc.chat.summaries import LEFT_OUT, Summarizer, transcript
from mochi_grpc.entities import Message, Role, Session, ToolCall
from mochi_grpc.errors import ModelNotFound
from mochi_grpc.llm import ChatChunk, ChatRequest, ModelInfo
from mochi_grpc.store import SqliteStore

MODEL = "llama3.2:latest"
GUARD = 10.0
ANSWER = json.dumps({"summary": "They said hello.", "topics": ["greetings"]})


def test_the_transcript_is_the_users_and_the_assistants_text() -> None:
    messages = [
        Message(Role.SYSTEM, "Be brief."),
        Message(Role.USER, "What is 6 x 7?"),
        Message(Role.ASSISTANT, "", tool_calls=[ToolCall("multiply", {"a": 6, "b": 7})]),
        Message(Role.TOOL, "42", tool_name="multiply"),
        Message(Role.ASSISTANT, " It is 42. "),
    ]

    assert transcript(messages, 1000) == "User: What is 6 x 7?\n\nAssistant: It is 42."


def test_a_long_conversation_keeps_its_newest_messages() -> None:
    messages = [Message(Role.USER, f"message {i}") for i in range(10)]

    kept = transcript(messages, 60)

    assert kept == f"{LEFT_OUT}\n\nUser: message 7\n\nUser: message 8\n\nUser: message 9"


def test_a_newest_message_longer_than_the_limit_keeps_its_end() -> None:
    kept = transcript([Message(Role.USER, "a" * 50 + "the end")], 20)

    assert kept == f"{LEFT_OUT}\n\n...aaaaaaaaaaaaathe end"


def test_nothing_said_is_an_empty_transcript() -> None:
    assert transcript([Message(Role.SYSTEM, "Be brief."), Message(Role.USER, "  ")], 100) == ""


class GatedModel:
    """A model backend whose every answer waits until the test lets one go."""

    name = "gated"
    host = "gated"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []
        self.started = asyncio.Condition()
        self.released = asyncio.Semaphore(0)
        self.closed_early = 0

    async def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        async with self.started:
            self.requests.append(request)
            self.started.notify_all()
        finished = False
        try:
            await self.released.acquire()
            yield ChatChunk(content=ANSWER)
            yield ChatChunk(done=True, done_reason="stop")
            finished = True
        finally:
            if not finished:
                self.closed_early += 1

    async def wait_for_requests(self, n: int) -> None:
        async with self.started:
            await self.started.wait_for(lambda: len(self.requests) >= n)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(MODEL)]

    async def get_model(self, name: str) -> ModelInfo:
        if name != MODEL:
            raise ModelNotFound(name)
        return ModelInfo(MODEL)

    async def is_connected(self) -> bool:
        return True

    async def close(self) -> None:
        pass


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "mochi.db")
    await opened.open()
    yield opened
    await opened.close()


async def _conversation(store: SqliteStore) -> str:
    session = Session(model=MODEL)
    await store.create_session(
        session, [Message(Role.USER, "Hello"), Message(Role.ASSISTANT, "Hi there")]
    )
    return session.session_id


async def _until_idle(summarizer: Summarizer, session_id: str) -> None:
    task = summarizer.running(session_id)
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), GUARD)


async def test_replies_completed_while_a_summary_runs_get_one_more_summary(
    store: SqliteStore,
) -> None:
    model = GatedModel()
    summarizer = Summarizer(store, model)
    session_id = await _conversation(store)

    summarizer.schedule(session_id)
    await asyncio.wait_for(model.wait_for_requests(1), GUARD)
    summarizer.schedule(session_id)
    summarizer.schedule(session_id)
    model.released.release()
    await asyncio.wait_for(model.wait_for_requests(2), GUARD)
    model.released.release()
    await _until_idle(summarizer, session_id)

    assert len(model.requests) == 2  # three replies, one summary running at a time
    stored = await store.get_session(session_id)
    assert stored.summary is not None and stored.summary.summary == "They said hello."
    assert stored.summary_model == MODEL
    await summarizer.close()


async def test_sessions_are_summarized_side_by_side(store: SqliteStore) -> None:
    model = GatedModel()
    summarizer = Summarizer(store, model)
    first, second = await _conversation(store), await _conversation(store)

    summarizer.schedule(first)
    summarizer.schedule(second)
    await asyncio.wait_for(model.wait_for_requests(2), GUARD)

    assert summarizer.running(first) is not None and summarizer.running(second) is not None
    await summarizer.close()


async def test_close_stops_the_running_summaries_and_takes_no_more(store: SqliteStore) -> None:
    model = GatedModel()
    summarizer = Summarizer(store, model)
    session_id = await _conversation(store)
    summarizer.schedule(session_id)
    await asyncio.wait_for(model.wait_for_requests(1), GUARD)

    await summarizer.close()
    summarizer.schedule(session_id)

    assert model.closed_early == 1
    assert summarizer.running(session_id) is None
    assert len(model.requests) == 1
    assert (await store.get_session(session_id)).summary is None


async def test_a_failing_automatic_summary_is_only_logged(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    model = GatedModel()
    summarizer = Summarizer(store, model)
    session = Session(model="gone:latest")
    await store.create_session(session, [Message(Role.USER, "Hello")])

    summarizer.schedule(session.session_id)
    await _until_idle(summarizer, session.session_id)

    assert model.requests == []
    assert "MODEL_NOT_FOUND" in caplog.text
    await summarizer.close()
