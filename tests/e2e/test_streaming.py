"""The SSE wire: headers, framing, one event per chunk as it comes, disconnects."""

from __future__ import annotations

import asyncio
import re

import httpx
from httpx_sse import aconnect_sse

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.server import RunningServer
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply

MODEL = "llama3.2:latest"
GUARD = 5.0  # seconds; only stops a broken test from hanging


async def _session(http: httpx.AsyncClient) -> str:
    session_id: str = (await http.post("/sessions", json={"model": MODEL})).json()["session_id"]
    return session_id


async def test_stream_headers_tell_proxies_not_to_buffer(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    # Spaced out, so the first token is an event of its own (a reader that
    # lags gets tokens merged, which is not what this test looks at).
    fake_ollama.script(Reply(content=["You ", "said: ", "hi"], chunk_delay=0.05))

    async with http.stream("POST", f"/chat/{session_id}/stream", json={"message": "hi"}) as r:
        raw = (await r.aread()).decode()

    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-accel-buffering"] == "no"
    assert r.headers["cache-control"] == "no-store"
    assert "content-encoding" not in r.headers
    first, second = raw.split("\r\n\r\n")[:2]
    fields = dict(line.split(": ", 1) for line in first.split("\r\n"))
    # The id names the turn and where the event ends: "You " is 4 characters.
    assert re.fullmatch(r"[0-9a-f]{10}:4", fields.pop("id"))
    assert fields == {
        "event": "content_delta",
        "data": '{"content":"You ","role":"assistant"}',
        # The browser's EventSource reconnects after this long (said once).
        "retry": "1000",
    }
    assert second.startswith("id: ") and "retry" not in second


async def test_each_token_arrives_before_the_next_is_generated(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    """The fake sends one chunk and then holds its stream open: the event
    arrives only if nothing on the path waits for more before sending."""
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["one", " two", " three"], hang_after=1))

    async with aconnect_sse(
        http, "POST", f"/chat/{session_id}/stream", json={"message": "go"}
    ) as source:
        events = source.aiter_sse()
        first = await asyncio.wait_for(anext(events), GUARD)

    assert (first.event, first.json()) == ("content_delta", {"content": "one", "role": "assistant"})


async def test_closing_the_connection_stops_ollama_and_keeps_the_partial_reply(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["Half", " of", " it", " never"], hang_after=3))

    async with aconnect_sse(
        http, "POST", f"/chat/{session_id}/stream", json={"message": "go"}
    ) as source:
        received = ""
        async for event in source.aiter_sse():
            assert event.event == "content_delta"
            received += event.json()["content"]
            if received == "Half of it":
                break
    # Leaving the block closed the HTTP connection.

    rec = fake_ollama.requests[0]
    await asyncio.wait_for(rec.disconnected.wait(), GUARD)
    assert not rec.completed
    await asyncio.wait_for(server.engine.drain(), GUARD)
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    assert [(m["role"], m["content"], m["partial_reason"]) for m in messages] == [
        ("user", "go", None),
        ("assistant", "Half of it", "cancelled"),
    ]


async def test_closing_before_the_first_token_stops_ollama(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["late"], first_chunk_delay=60))

    async with http.stream("POST", f"/chat/{session_id}/stream", json={"message": "go"}) as r:
        assert r.status_code == 200  # headers arrive before any token
        rec = await asyncio.wait_for(fake_ollama.wait_for_request(), GUARD)

    await asyncio.wait_for(rec.disconnected.wait(), GUARD)
    await asyncio.wait_for(server.engine.drain(), GUARD)
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    assert [m["role"] for m in messages] == ["user"]


async def test_abandoned_non_streaming_chat_stops_ollama(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["never", " done"], hang_after=1))

    request = asyncio.create_task(http.post(f"/chat/{session_id}", json={"message": "go"}))
    rec = await asyncio.wait_for(fake_ollama.wait_for_request(), GUARD)
    await asyncio.wait_for(fake_ollama.wait_for_chunks(rec, 1), GUARD)
    request.cancel()

    await asyncio.wait_for(rec.disconnected.wait(), GUARD)
    await asyncio.wait_for(server.engine.drain(), GUARD)
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    assert (messages[-1]["content"], messages[-1]["partial_reason"]) == ("never", "cancelled")


async def test_pings_keep_a_silent_stream_alive(
    server: RunningServer, fake_ollama: FakeOllama
) -> None:
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}", sse_ping_seconds=0.05)
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as http:
            session_id = await _session(http)
            fake_ollama.script(Reply(content=["late"], first_chunk_delay=60))
            async with http.stream(
                "POST", f"/chat/{session_id}/stream", json={"message": "slow prompt"}
            ) as response:
                lines = response.aiter_lines()
                first = await asyncio.wait_for(anext(lines), GUARD)
    finally:
        await bridge.stop()

    assert first.startswith(": ping")
