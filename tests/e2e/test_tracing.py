"""One trace from the HTTP request through the bridge's gRPC call into the
server, its turn, the model requests and the tool call.

The server and the bridge each get a tracer provider of their own, as two
processes would, so the trace can only join up through the W3C trace context
the bridge's call carries. Both export synchronously to memory, on the event
loop's thread. The last tests run the server as a real process, turned on
and off by the standard variables, its spans printed by the console exporter.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.e2e.sse_support import GUARD, names, open_stream, read_until, stream_events
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import free_port, serving
from tests.tools_fixture import release_event, write_tools

MODEL = "llama3.2:latest"
HTTP_SPAN = "POST /api/v1/chat/{session_id}/stream"
CHAT_STREAM = "/mochi.v1.ChatService/ChatStream"
WATCH_TURN = "/mochi.v1.ChatService/WatchTurn"


class Spans(InMemorySpanExporter):
    """Finished spans, and a way to wait for one to end."""

    def __init__(self) -> None:
        super().__init__()
        self._exported = asyncio.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self._exported.set()
        return result

    def named(self, name: str) -> list[ReadableSpan]:
        return sorted(
            (s for s in self.get_finished_spans() if s.name == name),
            key=lambda s: s.start_time or 0,
        )

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}"
        return found[0]

    async def ended(self, name: str) -> ReadableSpan:
        async with asyncio.timeout(GUARD):
            while not self.named(name):
                self._exported.clear()
                await self._exported.wait()
        return self.one(name)


def _provider(spans: Spans) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


@pytest.fixture
def server_spans() -> Spans:
    return Spans()


@pytest.fixture
def bridge_spans() -> Spans:
    return Spans()


@pytest.fixture
async def server(settings: Settings, server_spans: Spans) -> AsyncIterator[RunningServer]:
    """The gRPC server, tracing, with the test tools in place."""
    write_tools(settings.resolved_tools_dir)
    running = await start(settings, tracer_provider=_provider(server_spans))
    yield running
    release_event().set()
    await running.stop(0)


@pytest.fixture
async def http(server: RunningServer, bridge_spans: Spans) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the bridge, tracing, over the server."""
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}")
    app = create_app(settings, tracer_provider=_provider(bridge_spans))
    bridge = await EmbeddedServer.start(app, lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as client:
            yield client
    finally:
        await bridge.stop()


async def _session(http: httpx.AsyncClient, tools: list[str], policy: str = "never_confirm") -> str:
    settings = {"tools": tools, "execution_policy": policy}
    response = await http.post("/sessions", json={"model": MODEL, "tool_settings": settings})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def _trace(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


async def test_a_streamed_turn_is_one_trace_from_the_bridge_to_each_model_request(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server_spans: Spans, bridge_spans: Spans
) -> None:
    session_id = await _session(http, ["multiply_numbers"])
    fake_ollama.script(
        Reply(
            tool_calls=[{"name": "multiply_numbers", "arguments": {"a": 12, "b": 5}}],
            prompt_eval_count=31,
            eval_count=7,
        ),
        Reply(content=["It is ", "60"], prompt_eval_count=45, eval_count=2),
    )

    events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "12 x 5?"})
    request = await bridge_spans.ended(HTTP_SPAN)

    assert names(events)[-1] == "done"
    call = bridge_spans.one(CHAT_STREAM)
    served = server_spans.one(CHAT_STREAM)
    turn = server_spans.one("chat turn")
    asked, answered = server_spans.named(f"chat {MODEL}")
    tool = server_spans.one("execute_tool multiply_numbers")
    # bridge (HTTP in, gRPC out) -> server (gRPC in) -> turn -> model requests, tool call
    assert (request.kind, call.kind, served.kind) == (
        SpanKind.SERVER,
        SpanKind.CLIENT,
        SpanKind.SERVER,
    )
    assert request.parent is None
    assert _parent(call) == _id(request)
    assert served.parent is not None and served.parent.is_remote
    assert _parent(served) == _id(call)
    assert _parent(turn) == _id(served)
    assert [_parent(s) for s in (asked, tool, answered)] == [_id(turn)] * 3
    assert {_trace(s) for s in (request, call, served, turn, asked, tool, answered)} == {
        _trace(request)
    }
    # The HTTP span covers the whole stream, the gRPC call inside it.
    assert request.end_time is not None and call.end_time is not None
    assert call.end_time <= request.end_time
    # The tool ran between the two model requests.
    assert asked.end_time is not None and tool.start_time is not None
    assert tool.end_time is not None and answered.start_time is not None
    assert asked.end_time <= tool.start_time <= tool.end_time <= answered.start_time


async def test_the_spans_say_what_the_turn_asked_and_what_it_cost(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server_spans: Spans, bridge_spans: Spans
) -> None:
    session_id = await _session(http, ["multiply_numbers"])
    fake_ollama.script(
        Reply(
            tool_calls=[{"name": "multiply_numbers", "arguments": {"a": 12, "b": 5}}],
            prompt_eval_count=31,
            eval_count=7,
        ),
        Reply(content=["It is ", "60"], prompt_eval_count=45, eval_count=2),
    )

    await stream_events(http, f"/chat/{session_id}/stream", {"message": "12 x 5?"})
    request = await bridge_spans.ended(HTTP_SPAN)

    assert request.attributes is not None
    assert request.attributes["http.route"] == "/api/v1/chat/{session_id}/stream"
    turn = server_spans.one("chat turn")
    assert turn.attributes is not None
    assert turn.attributes["gen_ai.conversation.id"] == session_id
    assert turn.attributes["gen_ai.request.model"] == MODEL
    assert turn.attributes["mochi.outcome"] == "completed"
    assert turn.attributes["mochi.turn.id"]
    assert turn.status.status_code is StatusCode.UNSET
    assert [e.name for e in turn.events] == ["first token"]
    requests = [dict(s.attributes or {}) for s in server_spans.named(f"chat {MODEL}")]
    assert [
        (r["gen_ai.usage.input_tokens"], r["gen_ai.usage.output_tokens"], r["mochi.outcome"])
        for r in requests
    ] == [(31, 7, "completed"), (45, 2, "completed")]
    for r in requests:
        assert r["gen_ai.operation.name"] == "chat"
        assert r["gen_ai.request.model"] == MODEL
        assert r["gen_ai.system"] == r["gen_ai.provider.name"] == "ollama"
    tool = server_spans.one("execute_tool multiply_numbers")
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.name"] == "multiply_numbers"
    assert tool.attributes["mochi.outcome"] == "success"


async def test_the_wait_for_a_persons_answer_and_a_denied_call_are_spans_of_the_turn(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server_spans: Spans, bridge_spans: Spans
) -> None:
    session_id = await _session(http, ["shout"], "always_confirm")
    fake_ollama.script(
        Reply(tool_calls=[{"name": "shout", "arguments": {"text": "no"}}]), Reply(content=["Ok"])
    )

    async with open_stream(http, f"/chat/{session_id}/stream", {"message": "go"}) as events:
        asked = (await read_until(events, "tool_call_confirmation_required"))[-1].data
        answered = await http.post(
            f"/chat/{session_id}/confirm-tool",
            json={"confirmation_id": asked["confirmation_id"], "approved": False},
        )
        assert (await read_until(events, "done"))[-1].name == "done"
    await bridge_spans.ended(HTTP_SPAN)

    assert answered.status_code == 200, answered.text
    turn = server_spans.one("chat turn")
    waited = server_spans.one("await confirmation")
    denied = server_spans.one("execute_tool shout")
    assert (_parent(waited), _parent(denied)) == (_id(turn), _id(turn))
    assert waited.end_time is not None and denied.start_time is not None
    assert waited.end_time <= denied.start_time
    assert denied.attributes is not None
    assert denied.attributes["mochi.outcome"] == "denied"
    # The answer came in a call of its own: a trace of its own.
    confirmed = bridge_spans.one("POST /api/v1/chat/{session_id}/confirm-tool")
    assert _trace(confirmed) != _trace(turn)


async def test_a_backend_failure_marks_the_model_request_and_the_turn_failed(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server_spans: Spans, bridge_spans: Spans
) -> None:
    session_id = await _session(http, [])
    fake_ollama.script(Reply(content=["Par", "tial"], error_after=1, error_message="GPU fell over"))

    events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "Hi"})
    await bridge_spans.ended(HTTP_SPAN)

    assert names(events)[-1] == "error"
    turn = server_spans.one("chat turn")
    failed = server_spans.one(f"chat {MODEL}")
    assert _parent(failed) == _id(turn)
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["mochi.outcome"] == "failed"
    assert [e.name for e in failed.events] == ["exception"]
    assert "GPU fell over" in str((failed.events[0].attributes or {})["exception.message"])
    assert turn.status.status_code is StatusCode.ERROR
    assert turn.attributes is not None
    assert turn.attributes["mochi.outcome"] == "ollama_error"


async def test_closing_the_stream_stops_the_model_request_and_the_turn_says_so(
    http: httpx.AsyncClient,
    fake_ollama: FakeOllama,
    server: RunningServer,
    server_spans: Spans,
    bridge_spans: Spans,
) -> None:
    session_id = await _session(http, [])
    fake_ollama.script(Reply(content=["Half", " of", " it"], hang_after=1))

    async with open_stream(http, f"/chat/{session_id}/stream", {"message": "go"}) as events:
        assert (await read_until(events, "content_delta"))[-1].data["content"] == "Half"
    # Leaving the block closed the HTTP connection.

    await asyncio.wait_for(fake_ollama.requests[0].disconnected.wait(), GUARD)
    await asyncio.wait_for(server.engine.drain(), GUARD)
    turn = server_spans.one("chat turn")
    stopped = server_spans.one(f"chat {MODEL}")
    assert turn.attributes is not None and stopped.attributes is not None
    assert turn.attributes["mochi.outcome"] == "cancelled"
    assert stopped.attributes["mochi.outcome"] == "cancelled"
    assert (turn.status.status_code, stopped.status.status_code) == (StatusCode.UNSET,) * 2
    assert _parent(server_spans.one(CHAT_STREAM)) == _id(await bridge_spans.ended(CHAT_STREAM))


async def test_a_whole_turn_asked_for_in_one_call_is_traced_the_same(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server_spans: Spans, bridge_spans: Spans
) -> None:
    session_id = await _session(http, [])
    fake_ollama.script(Reply(content=["Hello"], prompt_eval_count=9, eval_count=1))

    response = await http.post(f"/chat/{session_id}", json={"message": "Hi"})
    request = await bridge_spans.ended("POST /api/v1/chat/{session_id}")

    assert response.status_code == 200, response.text
    call = bridge_spans.one("/mochi.v1.ChatService/Chat")
    served = server_spans.one("/mochi.v1.ChatService/Chat")
    turn = server_spans.one("chat turn")
    asked = server_spans.one(f"chat {MODEL}")
    assert [_parent(call), _parent(served), _parent(turn), _parent(asked)] == [
        _id(request),
        _id(call),
        _id(served),
        _id(turn),
    ]
    assert asked.attributes is not None
    assert asked.attributes["gen_ai.usage.input_tokens"] == 9


async def test_a_refused_turn_is_an_http_error_and_its_call_span_ends(
    http: httpx.AsyncClient, server_spans: Spans, bridge_spans: Spans
) -> None:
    response = await http.post("/chat/no-such-session/stream", json={"message": "Hi"})
    request = await bridge_spans.ended(HTTP_SPAN)

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "SESSION_NOT_FOUND"
    call = bridge_spans.one(CHAT_STREAM)
    assert _parent(call) == _id(request)
    assert call.status.status_code is StatusCode.ERROR
    assert _parent(server_spans.one(CHAT_STREAM)) == _id(call)
    assert server_spans.named("chat turn") == []


async def test_watching_a_finished_turn_ends_its_call_span(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server_spans: Spans, bridge_spans: Spans
) -> None:
    session_id = await _session(http, [])
    fake_ollama.script(Reply(content=["Hello"]))
    async with aconnect_sse(
        http, "POST", f"/chat/{session_id}/stream", json={"message": "Hi"}
    ) as source:
        last_id = [sse.id async for sse in source.aiter_sse()][-1]
    await bridge_spans.ended(HTTP_SPAN)

    # Nothing is left after the last event: the answer is a 204.
    watched = await http.get(f"/chat/{session_id}/stream", headers={"Last-Event-ID": last_id})
    request = await bridge_spans.ended("GET /api/v1/chat/{session_id}/stream")
    call = await bridge_spans.ended(WATCH_TURN)

    assert watched.status_code == 204, watched.text
    assert _parent(call) == _id(request)
    assert call.status.status_code is StatusCode.UNSET
    assert _parent(server_spans.one(WATCH_TURN)) == _id(call)


async def test_captured_headers_never_show_the_callers_key(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization,user-agent"
    )
    spans = Spans()
    app = create_app(
        BridgeSettings(grpc_target=f"127.0.0.1:{server.port}"), tracer_provider=_provider(spans)
    )
    bridge = await EmbeddedServer.start(app, lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
            response = await client.get(
                "/api/v1/health",
                headers={"authorization": "Bearer mochi_secret", "user-agent": "probe/1"},
            )
    finally:
        await bridge.stop()

    assert response.status_code == 200, response.text
    request = await spans.ended("GET /api/v1/health")
    assert request.attributes is not None
    assert request.attributes["http.request.header.user_agent"] == ("probe/1",)
    assert request.attributes["http.request.header.authorization"] == ("[REDACTED]",)


async def test_without_a_provider_the_bridge_installs_no_tracing_middleware() -> None:
    untraced = create_app(BridgeSettings())
    traced = create_app(BridgeSettings(), tracer_provider=_provider(Spans()))

    assert OpenTelemetryMiddleware.__name__ not in _middleware(untraced)
    assert OpenTelemetryMiddleware.__name__ in _middleware(traced)


def _middleware(app: Starlette) -> list[str]:
    return [getattr(m.cls, "__name__", "") for m in app.user_middleware]


# -- the server as a real process ------------------------------------------------


async def _traced_turn_through(target: str, fake_ollama: FakeOllama, bridge_spans: Spans) -> str:
    """One streamed turn through a traced bridge over the server at `target`."""
    settings = BridgeSettings(grpc_target=target)
    bridge = await EmbeddedServer.start(
        create_app(settings, tracer_provider=_provider(bridge_spans)), lifespan="on"
    )
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as http:
            session_id = await _session(http, [])
            fake_ollama.script(Reply(content=["Hello"], prompt_eval_count=12, eval_count=3))
            events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "Hi"})
            assert names(events)[-1] == "done"
            await bridge_spans.ended(HTTP_SPAN)
    finally:
        await bridge.stop()
    return session_id


async def _server_output(
    data_dir: Path, fake_ollama: FakeOllama, bridge_spans: Spans, **otel: str
) -> tuple[str, bytes]:
    """Runs `python -m mochi_grpc` with the OTEL_* variables given (none
    inherited), makes one turn through it from a bridge tracing to
    `bridge_spans`, stops it with SIGTERM and returns the session's id and
    what the server wrote to stdout."""
    target = f"127.0.0.1:{free_port()}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(
        MOCHI_HOST="127.0.0.1",
        MOCHI_GRPC_PORT=target.rsplit(":", 1)[1],
        MOCHI_OLLAMA_HOST=fake_ollama.url,
        MOCHI_DATA_DIR=str(data_dir),
        MOCHI_METRICS_PORT="0",
        **otel,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mochi_grpc", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        await serving(target)
        session_id = await _traced_turn_through(target, fake_ollama, bridge_spans)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), GUARD)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    return session_id, out


def _printed_spans(out: bytes) -> list[dict[str, Any]]:
    """The spans the console exporter printed: JSON objects one after another."""
    text, decoder, spans, at = out.decode(), json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        span, at = decoder.raw_decode(text, at)
        spans.append(span)
    return spans


def _hex(number: int, digits: int) -> str:
    return f"0x{number:0{digits}x}"


async def test_the_server_process_traced_by_the_console_exporter_joins_the_bridges_trace(
    tmp_path: Path, fake_ollama: FakeOllama, bridge_spans: Spans
) -> None:
    # Stopped at once: only the flush on the way out can print the spans.
    session_id, out = await _server_output(
        tmp_path, fake_ollama, bridge_spans, OTEL_TRACES_EXPORTER="console"
    )

    printed = {span["name"]: span for span in _printed_spans(out)}
    call = bridge_spans.one(CHAT_STREAM)
    served, turn = printed[CHAT_STREAM], printed["chat turn"]
    asked = printed[f"chat {MODEL}"]
    assert {s["context"]["trace_id"] for s in (served, turn, asked)} == {_hex(_trace(call), 32)}
    assert served["parent_id"] == _hex(_id(call), 16)
    assert turn["parent_id"] == served["context"]["span_id"]
    assert asked["parent_id"] == turn["context"]["span_id"]
    assert turn["attributes"]["gen_ai.conversation.id"] == session_id
    assert asked["attributes"]["gen_ai.usage.input_tokens"] == 12
    assert asked["attributes"]["gen_ai.usage.output_tokens"] == 3
    assert served["resource"]["attributes"]["service.name"] == "mochi-grpc"


async def test_the_server_process_traces_nothing_unless_the_variables_ask(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    _, quiet = await _server_output(tmp_path / "quiet", fake_ollama, Spans())
    _, disabled = await _server_output(
        tmp_path / "disabled",
        fake_ollama,
        Spans(),
        OTEL_TRACES_EXPORTER="console",
        OTEL_SDK_DISABLED="true",
    )

    assert (quiet, disabled) == (b"", b"")
