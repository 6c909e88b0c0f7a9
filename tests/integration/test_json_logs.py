"""The server process's log lines: JSON with the request, session and turn
ids under MOCHI_LOG_FORMAT=json, the old text lines by default."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.e2e.sse_support import stream_events
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import GUARD, free_port, serving

MODEL = "llama3.2:latest"
TURN_FAILED = "turn on session"


class LogLines:
    """The stderr of a server process, read line by line as it comes."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream
        self.lines: list[str] = []

    async def until(self, wanted: Callable[[str], bool]) -> str:
        """Reads on until a line satisfies `wanted` and returns it."""
        while True:
            raw = await asyncio.wait_for(self._stream.readline(), GUARD)
            assert raw, f"the process closed stderr first; it wrote {self.lines}"
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if wanted(line):
                return line

    async def rest(self) -> list[str]:
        """Every line, once the process has ended."""
        for raw in (await asyncio.wait_for(self._stream.read(), GUARD)).decode().splitlines():
            self.lines.append(raw)
        return self.lines


@asynccontextmanager
async def logging_server(
    data_dir: Path, ollama_url: str, *, traced: bool = False, **settings: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, LogLines]]:
    """`python -m mochi_grpc` with its stderr captured; `traced` has it write
    its spans to stdout (captured too), else it traces nothing."""
    port = free_port()
    inherited = {
        k: v for k, v in os.environ.items() if k != "MOCHI_LOG_FORMAT" and not k.startswith("OTEL_")
    }
    env = {
        **inherited,
        "MOCHI_HOST": "127.0.0.1",
        "MOCHI_GRPC_PORT": str(port),
        "MOCHI_METRICS_PORT": str(free_port()),
        "MOCHI_OLLAMA_HOST": ollama_url,
        "MOCHI_DATA_DIR": str(data_dir),
        "MOCHI_SHUTDOWN_GRACE_SECONDS": "0",
        **({"OTEL_TRACES_EXPORTER": "console"} if traced else {}),
        **{f"MOCHI_{name.upper()}": value for name, value in settings.items()},
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mochi_grpc",
        env=env,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE if traced else None,
    )
    assert proc.stderr is not None
    try:
        yield proc, f"127.0.0.1:{port}", LogLines(proc.stderr)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _stopped(proc: asyncio.subprocess.Process, logs: LogLines) -> list[str]:
    proc.send_signal(signal.SIGTERM)
    lines = await logs.rest()
    assert await asyncio.wait_for(proc.wait(), GUARD) == 0
    return lines


async def _failing_stream(
    channel: grpc.aio.Channel, fake_ollama: FakeOllama, metadata: list[tuple[str, str]]
) -> tuple[str, str]:
    """A streamed turn whose model request fails mid-reply; its session and turn ids."""
    created = await SessionStub(channel).CreateSession(pb.CreateSessionRequest(model=MODEL))
    session_id = created.session.session_id
    fake_ollama.script(Reply(content=["Half", " a reply"], error_after=1))
    call = ChatStub(channel).ChatStream(
        cpb.ChatStreamRequest(session_id=session_id, message="Q"), metadata=metadata
    )
    events = [event async for event in call]
    assert events[-1].WhichOneof("event") == "error"
    turn_id = dict(await call.initial_metadata())["mochi-turn-id"]
    assert isinstance(turn_id, str)
    return session_id, turn_id


def _about(session_id: str) -> Callable[[str], bool]:
    return lambda line: TURN_FAILED in line and session_id in line


async def test_json_lines_carry_the_request_session_and_turn_ids(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    async with logging_server(tmp_path, fake_ollama.url, log_format="json") as (
        proc,
        target,
        logs,
    ):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            session_id, turn_id = await _failing_stream(
                channel, fake_ollama, [("x-request-id", "req-7f3a")]
            )
            line = json.loads(await logs.until(_about(session_id)))
            lines = await _stopped(proc, logs)

    assert line["level"] == "WARNING"
    assert line["logger"] == "mochi_grpc.chat.turns"
    assert line["message"].startswith(f"turn on session {session_id} failed")
    assert (line["request_id"], line["session_id"], line["turn_id"]) == (
        "req-7f3a",
        session_id,
        turn_id,
    )
    assert "trace_id" not in line  # no tracing configured: the field is left off, not null
    parsed = [json.loads(text) for text in lines]  # start-up and shut-down lines too
    assert any(p["message"].startswith("mochi-grpc ") for p in parsed)
    assert all({"time", "level", "logger", "message"} <= p.keys() for p in parsed)


async def test_a_request_id_that_is_not_plain_short_ascii_is_left_off(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    async with logging_server(tmp_path, fake_ollama.url, log_format="json") as (
        proc,
        target,
        logs,
    ):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            long_id, spaced_id = "r" * 129, "two words"
            long_session, _ = await _failing_stream(
                channel, fake_ollama, [("x-request-id", long_id)]
            )
            spaced_session, _ = await _failing_stream(
                channel, fake_ollama, [("x-request-id", spaced_id)]
            )
            long_line = json.loads(await logs.until(_about(long_session)))
            spaced_line = json.loads(await logs.until(_about(spaced_session)))
        await _stopped(proc, logs)

    assert "request_id" not in long_line
    assert "request_id" not in spaced_line
    assert spaced_line["session_id"] == spaced_session  # the other ids are still there


async def test_the_request_id_sent_to_the_bridge_is_on_the_servers_lines(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    async with logging_server(tmp_path, fake_ollama.url, log_format="json") as (
        proc,
        target,
        logs,
    ):
        await serving(target)
        bridge = await EmbeddedServer.start(
            create_app(BridgeSettings(grpc_target=target)), lifespan="on"
        )
        try:
            async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=GUARD) as http:
                created = await http.post("/sessions", json={"model": MODEL})
                session_id = created.json()["session_id"]
                fake_ollama.script(Reply(content=["Half", " a reply"], error_after=1))
                http.headers["X-Request-Id"] = "http-req-9"
                events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "Q"})
        finally:
            await bridge.stop()
        line = json.loads(await logs.until(_about(session_id)))
        await _stopped(proc, logs)

    assert events[-1].name == "error"
    assert (line["request_id"], line["session_id"]) == ("http-req-9", session_id)


async def test_the_lines_of_a_traced_server_carry_the_trace_id_of_their_spans(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    async with logging_server(tmp_path, fake_ollama.url, traced=True, log_format="json") as (
        proc,
        target,
        logs,
    ):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            session_id, _ = await _failing_stream(channel, fake_ollama, [])
            line = json.loads(await logs.until(_about(session_id)))
        assert proc.stdout is not None
        await _stopped(proc, logs)  # the spans still batched are written on the way out
        spans = (await asyncio.wait_for(proc.stdout.read(), GUARD)).decode()

    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
    assert f'"trace_id": "0x{line["trace_id"]}"' in spans


@pytest.mark.parametrize("settings", [{}, {"log_format": "text"}], ids=["default", "text"])
async def test_text_lines_stay_as_they_were(
    tmp_path: Path, fake_ollama: FakeOllama, settings: dict[str, Any]
) -> None:
    async with logging_server(tmp_path, fake_ollama.url, **settings) as (proc, target, logs):
        await serving(target)
        async with grpc.aio.insecure_channel(target) as channel:
            session_id, _ = await _failing_stream(
                channel, fake_ollama, [("x-request-id", "req-7f3a")]
            )
            line = await logs.until(_about(session_id))
        lines = await _stopped(proc, logs)

    text_line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
    assert re.match(
        rf"^\d{{4}}-.* WARNING mochi_grpc\.chat\.turns: turn on session {session_id} failed",
        line,
    )
    assert "req-7f3a" not in line
    assert any(" INFO mochi_grpc: mochi-grpc " in text for text in lines)
    assert all(text_line.match(text) for text in lines)
