"""The fake Ollama, checked through the official client so the product's view of it is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

import httpx
import ollama
import pytest
import pytest_asyncio

from tests.fakes import FakeModel, FakeOllama, Reply

pytestmark = pytest.mark.asyncio

MODEL = "llama3.2:latest"
GUARD_S = 5.0  # only keeps a broken test from hanging; never a timing assertion
T = TypeVar("T")


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama() as server:
        yield server


@pytest_asyncio.fixture
async def client(fake: FakeOllama) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=fake.url, trust_env=False) as api:
        yield api


async def guard(awaitable: Awaitable[T]) -> T:
    """Fail instead of hanging when the fake misbehaves."""
    return await asyncio.wait_for(awaitable, GUARD_S)


async def hang_up(stream: AsyncIterator[Any]) -> None:
    """Close a chat stream early, which makes the client drop the connection.

    The client types its streams as plain iterators, but they are async generators.
    """
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def collect(client: ollama.AsyncClient, **kwargs: Any) -> list[ollama.ChatResponse]:
    async def run() -> list[ollama.ChatResponse]:
        stream = await client.chat(model=MODEL, messages=user("hi"), stream=True, **kwargs)
        return [part async for part in stream]

    return await guard(run())


# -- streaming chat ----------------------------------------------------------


async def test_stream_yields_scripted_content_in_order_then_done(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["Hel", "lo", " world"], eval_count=7, prompt_eval_count=11))

    parts = await collect(client)

    assert [p.message.content for p in parts[:-1]] == ["Hel", "lo", " world"]
    assert all(p.done is False for p in parts[:-1])
    final = parts[-1]
    assert final.done is True
    assert final.done_reason == "stop"
    assert final.message.content == ""
    assert (final.eval_count, final.prompt_eval_count) == (7, 11)
    assert final.total_duration and final.eval_duration and final.prompt_eval_duration
    assert final.model == MODEL


async def test_default_counts_follow_chunks_and_prompt_length(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["a", "b"], thinking=["t"]))

    async def run() -> list[ollama.ChatResponse]:
        messages = [{"role": "system", "content": "abcd"}, {"role": "user", "content": "efghijkl"}]
        return [p async for p in await client.chat(model=MODEL, messages=messages, stream=True)]

    final = (await guard(run()))[-1]

    assert final.eval_count == 3
    assert final.prompt_eval_count == 12 // 4 + 1


async def test_thinking_chunks_come_before_content(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(thinking=["Let me ", "think."], content=["Answer"]))

    parts = await collect(client, think=True)

    seen = [(p.message.thinking, p.message.content) for p in parts[:-1]]
    assert seen == [("Let me ", ""), ("think.", ""), (None, "Answer")]


async def test_tool_calls_arrive_parsed_each_in_its_own_chunk(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    calls = [
        {"name": "get_time", "arguments": {"tz": "UTC"}},
        {"name": "add", "arguments": {"a": 1, "b": 2}},
    ]
    fake.script(Reply(content=["Checking"], tool_calls=calls))

    parts = await collect(client)

    assert parts[0].message.content == "Checking"
    assert parts[0].message.tool_calls is None
    tool_parts = parts[1:-1]
    assert len(tool_parts) == 2
    got = [
        (c.function.name, dict(c.function.arguments))
        for p in tool_parts
        for c in p.message.tool_calls or []
    ]
    assert got == [("get_time", {"tz": "UTC"}), ("add", {"a": 1, "b": 2})]


async def test_send_done_false_ends_the_stream_without_done_line(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["x", "y"], send_done=False))

    parts = await collect(client)

    assert [p.message.content for p in parts] == ["x", "y"]
    assert not any(p.done for p in parts)
    assert fake.requests[0].completed


async def test_unscripted_requests_get_the_echo_reply(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    async def run() -> list[ollama.ChatResponse]:
        stream = await client.chat(model=MODEL, messages=user("hi there"), stream=True)
        return [p async for p in stream]

    parts = await guard(run())

    assert [p.message.content for p in parts[:-1]] == ["You ", "said: ", "hi", " there"]


async def test_scripted_replies_are_consumed_in_order(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["first"]), Reply(content=["second"]))

    answers = [
        (await guard(client.chat(model=MODEL, messages=user("q")))).message.content
        for _ in range(3)
    ]

    assert answers == ["first", "second", "You said: q"]


async def test_untagged_model_name_resolves_to_latest(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["ok"]))

    response = await guard(client.chat(model="llama3.2", messages=user("q")))

    assert response.message.content == "ok"
    assert response.model == "llama3.2"


# -- non-streamed chat -------------------------------------------------------


async def test_unstreamed_chat_returns_whole_message_and_counts(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(
        Reply(
            content=["Hel", "lo"],
            thinking=["hm"],
            tool_calls=[{"name": "f", "arguments": {"x": 1}}],
            eval_count=5,
            prompt_eval_count=9,
            done_reason="length",
        )
    )

    response = await guard(client.chat(model=MODEL, messages=user("q"), stream=False))

    assert response.message.content == "Hello"
    assert response.message.thinking == "hm"
    assert [c.function.name for c in response.message.tool_calls or []] == ["f"]
    assert response.done is True
    assert response.done_reason == "length"
    assert (response.eval_count, response.prompt_eval_count) == (5, 9)


# -- models ------------------------------------------------------------------


async def test_list_parses_and_follows_add_and_remove(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.add_model(FakeModel("qwen3:8b", family="qwen3", parameter_size="8.2B"))
    fake.remove_model(MODEL)

    listed = (await guard(client.list())).models

    assert [m.model for m in listed] == ["qwen3:8b"]
    details = listed[0].details
    assert details is not None
    assert (details.family, details.families, details.parameter_size) == (
        "qwen3",
        ["qwen3"],
        "8.2B",
    )
    assert (details.format, details.quantization_level) == ("gguf", "Q4_K_M")
    assert listed[0].size == 4_661_211_136
    assert listed[0].modified_at is not None


async def test_show_exposes_context_length_and_capabilities(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.add_model(FakeModel("qwen3:8b", family="qwen3", capabilities=["completion", "tools"]))

    default = await guard(client.show(MODEL))
    qwen = await guard(client.show("qwen3:8b"))

    assert default.modelinfo is not None
    assert default.modelinfo["llama.context_length"] == 131072
    assert default.modelinfo["general.architecture"] == "llama"
    assert qwen.modelinfo is not None
    assert qwen.modelinfo["qwen3.context_length"] == 4096
    assert qwen.capabilities == ["completion", "tools"]
    assert qwen.details is not None and qwen.details.family == "qwen3"


async def test_show_without_context_length_has_no_such_key(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.add_model(FakeModel("mystery:1b", family="mystery", context_length=None))

    shown = await guard(client.show("mystery:1b"))

    assert shown.modelinfo is not None
    assert not any(key.endswith("context_length") for key in shown.modelinfo)


async def test_show_unknown_model_is_404(client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await guard(client.show("nope:1b"))

    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nope:1b' not found"


async def test_root_and_version(fake: FakeOllama) -> None:
    async with httpx.AsyncClient(base_url=fake.url, trust_env=False) as http:
        root = await guard(http.get("/"))
        version = await guard(http.get("/api/version"))

    assert root.text == "Ollama is running"
    assert version.json() == {"version": "0.12.0"}


# -- errors ------------------------------------------------------------------


async def test_chat_with_unknown_model_is_404_and_consumes_no_reply(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["kept"]))

    with pytest.raises(ollama.ResponseError) as caught:
        await guard(_stream_ghost(client))

    assert caught.value.status_code == 404
    assert caught.value.error == "model 'ghost:7b' not found"
    assert fake.requests[0].model == "ghost:7b"
    assert (await guard(client.chat(model=MODEL, messages=user("q")))).message.content == "kept"


async def _stream_ghost(client: ollama.AsyncClient) -> None:
    async for _ in await client.chat(model="ghost:7b", messages=user("q"), stream=True):
        pass


async def test_http_status_is_raised_as_response_error(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(http_status=500, error_message="out of memory"))

    with pytest.raises(ollama.ResponseError) as caught:
        await collect(client)

    assert caught.value.status_code == 500
    assert caught.value.error == "out of memory"


async def test_error_after_raises_mid_stream_after_n_chunks(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["a", "b", "c", "d"], error_after=2, error_message="boom"))
    received: list[str] = []

    async def run() -> None:
        async for part in await client.chat(model=MODEL, messages=user("q"), stream=True):
            received.append(part.message.content or "")

    with pytest.raises(ollama.ResponseError) as caught:
        await guard(run())

    assert received == ["a", "b"]
    assert caught.value.error == "boom"
    assert fake.requests[0].completed


async def test_error_after_without_streaming_is_http_500(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["a", "b"], error_after=1, error_message="boom"))

    with pytest.raises(ollama.ResponseError) as caught:
        await guard(client.chat(model=MODEL, messages=user("q"), stream=False))

    assert (caught.value.status_code, caught.value.error) == (500, "boom")


# -- recording ---------------------------------------------------------------


async def test_requests_are_recorded_with_messages_options_and_think(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]

    await guard(
        client.chat(
            model=MODEL,
            messages=messages,
            options={"num_ctx": 8192, "temperature": 0.2},
            think=True,
            keep_alive="5m",
        )
    )

    rec = await guard(fake.wait_for_request())
    assert rec.model == MODEL
    assert rec.messages == messages
    assert rec.options == {"num_ctx": 8192, "temperature": 0.2}
    assert rec.think is True
    assert rec.body["keep_alive"] == "5m"
    assert rec.body["stream"] is False
    assert rec.completed and rec.finished and not rec.disconnected.is_set()
    assert rec.chunks_sent == 1


async def test_wait_for_request_returns_the_nth(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    async def two_chats() -> None:
        for text in ("one", "two"):
            await client.chat(model=MODEL, messages=user(text))

    task = asyncio.create_task(two_chats())
    second = await guard(fake.wait_for_request(2))
    await guard(task)

    assert second.messages == user("two")
    assert [r.messages[0]["content"] for r in fake.requests] == ["one", "two"]


async def test_wait_for_chunks_follows_progress_and_fails_on_short_stream(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["a", "b"], hang_after=1), Reply(content=["only"]))
    stream = await client.chat(model=MODEL, messages=user("q"), stream=True)
    first = await guard(anext(stream))
    rec = await guard(fake.wait_for_request())

    await guard(fake.wait_for_chunks(rec, 1))
    await hang_up(stream)

    assert first.message.content == "a"
    await collect(client)
    with pytest.raises(AssertionError, match="ended after 2 lines"):
        await guard(fake.wait_for_chunks(fake.requests[1], 5))


# -- hanging up ----------------------------------------------------------------


async def test_closing_the_stream_early_sets_disconnected(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["a", "b", "c"], hang_after=1))
    stream = await client.chat(model=MODEL, messages=user("q"), stream=True)
    async for _ in stream:
        break
    await hang_up(stream)

    rec = fake.requests[0]
    await guard(rec.disconnected.wait())

    assert not rec.completed
    assert rec.chunks_sent == 1


async def test_disconnect_stops_a_slow_stream_from_producing(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["w"] * 200, chunk_delay=0.05))
    stream = await client.chat(model=MODEL, messages=user("q"), stream=True)
    await guard(anext(stream))
    await hang_up(stream)

    rec = fake.requests[0]
    await guard(rec.disconnected.wait())
    with pytest.raises(AssertionError, match="expected at least 200"):
        await guard(fake.wait_for_chunks(rec, 200))

    assert not rec.completed
    assert rec.chunks_sent < 200


async def test_cancelling_during_first_chunk_delay_sets_disconnected(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["late"], first_chunk_delay=60))

    async def consume() -> None:
        async for _ in await client.chat(model=MODEL, messages=user("q"), stream=True):
            pass

    task = asyncio.create_task(consume())
    rec = await guard(fake.wait_for_request())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await guard(rec.disconnected.wait())
    assert rec.chunks_sent == 0
    assert not rec.completed


async def test_stop_returns_while_a_stream_hangs(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["a", "b"], hang_after=1))
    stream = await client.chat(model=MODEL, messages=user("q"), stream=True)
    await guard(anext(stream))

    await guard(fake.stop())

    rest = await guard(_drain(stream))
    assert rest == []
    assert fake.requests[0].finished
    assert not fake.requests[0].completed


async def _drain(stream: AsyncIterator[ollama.ChatResponse]) -> list[ollama.ChatResponse]:
    return [part async for part in stream]


async def test_hanging_up_on_an_unstreamed_chat_sets_disconnected(
    fake: FakeOllama, client: ollama.AsyncClient
) -> None:
    fake.script(Reply(content=["late"], first_chunk_delay=60))

    task = asyncio.create_task(client.chat(model=MODEL, messages=user("q"), stream=False))
    rec = await guard(fake.wait_for_request())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await guard(rec.disconnected.wait())
    assert not rec.completed
