"""The bridge process's log lines: with MOCHI_LOG_FORMAT=json every line is
one JSON object, uvicorn's own (its access log too) included, and the lines
written while a request is handled carry its request id and the session its
route names; without it, the lines are text as before."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from mochi_grpc.server import RunningServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import free_port

GUARD = 20.0
MODEL = "llama3.2:latest"

Line = dict[str, Any]


@dataclass
class BridgeProcess:
    url: str
    stderr: asyncio.StreamReader
    lines: list[str] = field(default_factory=list)

    async def line_where(self, wanted: Callable[[str], bool]) -> str:
        """Reads stderr up to the first line `wanted` takes."""
        async with asyncio.timeout(GUARD):
            while line := (await self.stderr.readline()).decode():
                self.lines.append(line)
                if wanted(line):
                    return line
        raise AssertionError("the bridge ended its log:\n" + "".join(self.lines))

    async def json_line_where(self, wanted: Callable[[Line], bool]) -> Line:
        """Reads stderr up to the first object `wanted` takes; every line
        read on the way must be one JSON object."""

        def parsed_and_wanted(line: str) -> bool:
            try:
                value = json.loads(line)
            except ValueError:
                raise AssertionError(repr(line)) from None
            assert isinstance(value, dict), line
            return wanted(value)

        found: Line = json.loads(await self.line_where(parsed_and_wanted))
        return found


@asynccontextmanager
async def bridge_process(server: RunningServer, **variables: str) -> AsyncIterator[BridgeProcess]:
    """`python -m bridge` over the server, with these environment variables too."""
    port = free_port()
    env = {
        # Tracing only where a test turns it on.
        **{k: v for k, v in os.environ.items() if not k.startswith(("MOCHI_", "OTEL_"))},
        "MOCHI_HOST": "127.0.0.1",
        "MOCHI_PORT": str(port),
        "MOCHI_GRPC_TARGET": f"127.0.0.1:{server.port}",
        **variables,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        yield BridgeProcess(f"http://127.0.0.1:{port}", proc.stderr)
    finally:
        proc.kill()
        await proc.wait()


def _about(request_id: str, logger: str) -> Callable[[Line], bool]:
    return lambda line: line.get("request_id") == request_id and line["logger"] == logger


async def test_json_lines_name_the_request_and_session_they_are_about(
    server: RunningServer, fake_ollama: FakeOllama
) -> None:
    async with (
        bridge_process(server, MOCHI_LOG_FORMAT="json") as bridge,
        httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=GUARD) as http,
    ):
        started = await bridge.json_line_where(lambda line: "Uvicorn running" in line["message"])
        created = await http.post("/sessions", json={"model": MODEL})
        sid = created.json()["session_id"]
        await http.get(f"/sessions/{sid}", headers={"X-Request-Id": "logs-1"})
        access = await bridge.json_line_where(_about("logs-1", "uvicorn.access"))

        # The server goes away mid-stream: the bridge logs why the stream ended.
        fake_ollama.script(Reply(content=["one", " two"], hang_after=1))
        async with aconnect_sse(
            http,
            "POST",
            f"/chat/{sid}/stream",
            json={"message": "Hi"},
            headers={"X-Request-Id": "logs-2"},
        ) as source:
            events = source.aiter_sse()
            await asyncio.wait_for(anext(events), GUARD)
            await server.stop(0)
            warned = await bridge.json_line_where(_about("logs-2", "bridge.routes.chat"))

    assert list(started)[:4] == ["time", "level", "logger", "message"]
    assert started["logger"] == "uvicorn.error" and "request_id" not in started
    assert "color_message" not in started
    assert access["level"] == "INFO"
    assert f"GET /api/v1/sessions/{sid} HTTP/1.1" in access["message"]
    assert access["session_id"] == sid
    assert warned["level"] == "WARNING" and warned["session_id"] == sid
    assert warned["message"].startswith("stream ended by the server")
    # Tracing is off: no line has a trace id to name.
    assert not any("trace_id" in json.loads(line) for line in bridge.lines)


async def test_with_tracing_on_the_lines_of_a_request_name_its_trace(
    server: RunningServer,
) -> None:
    # Spans go to the console exporter, on stdout; log lines are on stderr.
    async with (
        bridge_process(server, MOCHI_LOG_FORMAT="json", OTEL_TRACES_EXPORTER="console") as bridge,
        httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=GUARD) as http,
    ):
        await bridge.json_line_where(lambda line: "Uvicorn running" in line["message"])
        await http.get("/health", headers={"X-Request-Id": "traced-1"})
        await http.get("/health", headers={"X-Request-Id": "traced-2"})
        first = await bridge.json_line_where(_about("traced-1", "uvicorn.access"))
        second = await bridge.json_line_where(_about("traced-2", "uvicorn.access"))

    assert re.fullmatch(r"[0-9a-f]{32}", first["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", second["trace_id"])
    assert first["trace_id"] != second["trace_id"]


async def test_text_lines_are_as_before(server: RunningServer) -> None:
    async with bridge_process(server) as bridge:
        first = await bridge.line_where(lambda line: "mochi-bridge on" in line)
        await bridge.line_where(lambda line: "Uvicorn running on" in line)

    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO bridge: mochi-bridge on ", first)
