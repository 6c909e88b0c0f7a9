"""Server metrics: real turns over gRPC, then a real scrape of /metrics.

The series live in prometheus_client's one registry per process, which every
server of this test run adds to: each test compares values before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.server_process import free_port, server_process, serving
from tests.support import case, collect, read_rest, read_text
from tests.tools_fixture import write_tools

MODEL = "llama3.2:latest"
GUARD = 10.0  # seconds; only stops a broken test from hanging
CHAT = "mochi.v1.ChatService"
STREAM = {"grpc_type": "server_stream", "grpc_service": CHAT, "grpc_method": "ChatStream"}


class Scrape:
    """One exposition, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for a series not there (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for sample, labels in self.samples if sample == name}


async def scrape(port: int) -> Scrape:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=GUARD)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


async def scrape_until(port: int, ready: Callable[[Scrape], bool]) -> Scrape:
    """Scrapes until `ready` holds: what the server records when a caller hangs
    up happens after the caller has gone, at a time it cannot be told."""
    async with asyncio.timeout(GUARD):
        while True:
            found = await scrape(port)
            if ready(found):
                return found
            await asyncio.sleep(0.01)


def grew(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_tools(settings.resolved_tools_dir)
    running = await start(settings.model_copy(update={"metrics_port": free_port()}))
    yield running
    await running.stop(0)


async def _session(sessions: SessionStub, **fields: object) -> str:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL, **fields))  # type: ignore[arg-type]
    return created.session.session_id


async def _stream(chat: ChatStub, session_id: str) -> list[cpb.ChatEvent]:
    return await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Hi"))
    )


async def test_five_streamed_turns_show_in_the_turn_model_and_grpc_series(
    server: RunningServer, sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    ids = [await _session(sessions) for _ in range(5)]
    before = await scrape(server.metrics_port)
    fake_ollama.script(
        Reply(content=["Hello", " world"]),
        Reply(thinking=["Let me", " see"], content=["Yes"]),
        Reply(content=["Fine"]),
    )
    for session_id in ids[:3]:
        assert case((await _stream(chat, session_id))[-1]) == "done"
    # The caller hangs up after two tokens.
    fake_ollama.script(Reply(content=["The", " quick", " brown"], hang_after=2))
    hung_up = chat.ChatStream(cpb.ChatStreamRequest(session_id=ids[3], message="Go"))
    await read_text(hung_up, "The quick")
    hung_up.cancel()
    await asyncio.wait_for(fake_ollama.requests[3].disconnected.wait(), GUARD)
    await asyncio.wait_for(server.engine.drain(), GUARD)
    # Ollama fails after one token: the error travels in the stream, which ends OK.
    fake_ollama.script(Reply(content=["Partial", " never"], error_after=1))
    failed = await _stream(chat, ids[4])
    assert case(failed[-1]) == "error"

    # The cancelled call is recorded when its handler sees the hang-up.
    after = await scrape_until(
        server.metrics_port,
        lambda s: grew(before, s, "grpc_server_handled_total", **STREAM, grpc_code="CANCELLED") > 0,
    )

    assert grew(before, after, "mochi_turns_started_total") == 5
    finished = {
        outcome: grew(before, after, "mochi_turns_finished_total", outcome=outcome)
        for outcome in ("completed", "cancelled", "ollama_error", "deadline_exceeded", "refused")
    }
    assert finished == {
        "completed": 3,
        "cancelled": 1,
        "ollama_error": 1,
        "deadline_exceeded": 0,
        "refused": 0,
    }
    assert after.value("mochi_turns_active") == before.value("mochi_turns_active") == 0
    # Every turn produced a first token, the failing one too (one chunk before its error).
    assert grew(before, after, "mochi_time_to_first_token_seconds_count") == 5
    assert grew(before, after, "mochi_time_to_first_token_seconds_bucket", le="60.0") == 5
    # Content chunks: 2 + 1 + 1 completed, 2 before the hang-up, 1 before the error.
    assert grew(before, after, "mochi_tokens_streamed_total", kind="content") == 7
    assert grew(before, after, "mochi_tokens_streamed_total", kind="thinking") == 2
    assert grew(before, after, "mochi_turn_duration_seconds_count", outcome="completed") == 3
    assert grew(before, after, "mochi_turn_duration_seconds_count", outcome="cancelled") == 1
    requests = {
        outcome: grew(before, after, "mochi_model_requests_total", model=MODEL, outcome=outcome)
        for outcome in ("success", "cancelled", "error")
    }
    assert requests == {"success": 3, "cancelled": 1, "error": 1}
    assert grew(before, after, "mochi_model_request_duration_seconds_count", model=MODEL) == 5
    # Reply tokens as the backend reported them, for completed requests only.
    assert grew(before, after, "mochi_model_tokens_total", model=MODEL, kind="reply") == 6
    assert grew(before, after, "mochi_model_tokens_total", model=MODEL, kind="prompt") > 0
    # gRPC: the turns that ended (even with an error event) are OK calls; the
    # one hung up on, CANCELLED, as its handler was cancelled.
    assert grew(before, after, "grpc_server_started_total", **STREAM) == 5
    assert grew(before, after, "grpc_server_handled_total", **STREAM, grpc_code="OK") == 4
    assert grew(before, after, "grpc_server_handled_total", **STREAM, grpc_code="CANCELLED") == 1
    assert grew(before, after, "grpc_server_handling_seconds_count", **STREAM) == 5
    create = {"grpc_type": "unary", "grpc_service": "mochi.v1.SessionService"}
    assert after.value(
        "grpc_server_handled_total", **create, grpc_method="CreateSession", grpc_code="OK"
    ) >= len(ids)
    # The store's operations, timed by name (the sessions were made before the first scrape).
    for operation in ("write_turns", "get_conversation"):
        assert grew(before, after, "mochi_store_operation_seconds_count", operation=operation) > 0
    assert after.value("mochi_store_operation_seconds_count", operation="create_session") >= 5


async def test_a_tool_call_is_counted_by_tool_and_outcome_and_its_confirmation_while_pending(
    server: RunningServer, sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    tools = spb.ToolSettings(tools=["shout"], execution_policy=spb.EXECUTION_POLICY_ALWAYS_CONFIRM)
    session_id = await _session(sessions, tool_settings=tools)
    fake_ollama.script(
        Reply(
            tool_calls=[
                {"name": "shout", "arguments": {"text": "ok"}},
                # A name the model made up: counted, but not as a label value of its own.
                {"name": "made_up_tool", "arguments": {}},
            ]
        ),
        Reply(content=["fine"]),
    )
    before = await scrape(server.metrics_port)
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    asked = await asyncio.wait_for(call.read(), GUARD)
    assert isinstance(asked, cpb.ChatEvent)
    waiting = await scrape(server.metrics_port)

    await chat.ConfirmToolCall(
        cpb.ConfirmToolCallRequest(
            session_id=session_id,
            confirmation_id=asked.tool_call_confirmation_required.confirmation_id,
            approved=True,
        )
    )
    assert case((await read_rest(call))[-1]) == "done"
    after = await scrape(server.metrics_port)

    assert grew(before, waiting, "mochi_tool_confirmations_pending") == 1
    assert grew(before, after, "mochi_tool_confirmations_pending") == 0
    assert grew(before, after, "mochi_tool_calls_total", tool="shout", outcome="success") == 1
    assert grew(before, after, "mochi_tool_calls_total", tool="unknown", outcome="error") == 1
    assert grew(before, after, "mochi_tool_call_duration_seconds_count", tool="shout") == 1
    assert "made_up_tool" not in after.label_values("mochi_tool_calls_total", "tool")


async def test_a_call_without_a_key_is_counted_unauthenticated(settings: Settings) -> None:
    running = await start(
        settings.model_copy(update={"auth": "required", "metrics_port": free_port()})
    )
    labels = {
        "grpc_type": "unary",
        "grpc_service": "mochi.v1.SessionService",
        "grpc_method": "ListSessions",
    }
    try:
        before = await scrape(running.metrics_port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await SessionStub(channel).ListSessions(pb.ListSessionsRequest())
        after = await scrape(running.metrics_port)
    finally:
        await running.stop(0)

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert grew(before, after, "grpc_server_started_total", **labels) == 1
    assert (
        grew(before, after, "grpc_server_handled_total", **labels, grpc_code="UNAUTHENTICATED") == 1
    )


async def test_a_call_a_servicer_refuses_is_counted_with_its_code(
    server: RunningServer, sessions: SessionStub
) -> None:
    labels = {
        "grpc_type": "unary",
        "grpc_service": "mochi.v1.SessionService",
        "grpc_method": "GetSession",
    }
    before = await scrape(server.metrics_port)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetSession(pb.GetSessionRequest(session_id="no-such-session"))
    after = await scrape(server.metrics_port)

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert grew(before, after, "grpc_server_handled_total", **labels, grpc_code="NOT_FOUND") == 1
    assert grew(before, after, "grpc_server_handling_seconds_count", **labels) == 1


async def test_an_unknown_method_is_not_a_label_value(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/mochi.v1.SessionService/NoSuchMethod"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"")
    after = await scrape(server.metrics_port)

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchMethod" not in after.label_values("grpc_server_started_total", "grpc_method")


async def test_metrics_port_0_installs_no_metrics(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    running = await start(settings)  # the fixture's settings: metrics_port=0
    labels = {
        "grpc_type": "server_stream",
        "grpc_service": CHAT,
        "grpc_method": "ChatStream",
        "grpc_code": "OK",
    }

    def counted() -> tuple[float | None, ...]:
        return (
            REGISTRY.get_sample_value("grpc_server_handled_total", labels),
            REGISTRY.get_sample_value("mochi_turns_started_total"),
            REGISTRY.get_sample_value(
                "mochi_store_operation_seconds_count", {"operation": "write_turns"}
            ),
        )

    try:
        before = counted()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            session_id = await _session(SessionStub(channel))
            fake_ollama.script(Reply(content=["Hello"]))
            events = await _stream(ChatStub(channel), session_id)
        after = counted()
    finally:
        await running.stop(0)

    assert case(events[-1]) == "done"
    assert running.metrics_port == 0
    assert after == before


async def test_the_endpoint_stops_with_the_server(settings: Settings) -> None:
    port = free_port()
    running = await start(settings.model_copy(update={"metrics_port": port}))
    await scrape(port)

    await running.stop(0)

    with pytest.raises(httpx.ConnectError):
        await scrape(port)


async def test_the_server_process_serves_metrics_on_its_metrics_port(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    port = free_port()
    async with server_process(tmp_path, fake_ollama.url, metrics_port=str(port)) as (_, target):
        await serving(target)  # a health check, itself a counted call
        found = await scrape(port)

    health = {"grpc_type": "unary", "grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
    assert found.value("grpc_server_handled_total", **health, grpc_code="OK") >= 1
    assert found.value("mochi_turns_active") == 0
