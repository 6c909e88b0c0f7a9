"""The fake Ollama as a command (`python -m tests.fakes`), as a person runs it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.server_process import free_port

GUARD = 10.0


@asynccontextmanager
async def _fake_cli(*flags: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes",
        "--port",
        str(port),
        "--chunk-delay",
        "0.05",
        *flags,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert b"listening" in await asyncio.wait_for(proc.stdout.readline(), GUARD)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        await proc.wait()


@pytest.fixture
async def fake_cli() -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    async with _fake_cli("--show-requests") as running:
        yield running


async def test_model_flags_set_what_it_lists() -> None:
    async with (
        _fake_cli("--model", "acc:latest", "--model", "other:7b") as (url, _),
        httpx.AsyncClient(base_url=url, timeout=GUARD) as http,
    ):
        tags = (await http.get("/api/tags")).json()

    assert [m["name"] for m in tags["models"]] == ["acc:latest", "other:7b"]


async def _next_line(proc: asyncio.subprocess.Process, starting: str) -> str:
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), GUARD)).decode()
        if line.startswith(starting):
            return line


async def test_show_requests_says_how_each_request_ended(
    fake_cli: tuple[str, asyncio.subprocess.Process],
) -> None:
    url, proc = fake_cli
    body = {
        "model": "llama3.2:latest",
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    async with httpx.AsyncClient(base_url=url, timeout=GUARD) as http:
        whole = await http.post("/api/chat", json=body)
        first = await _next_line(proc, "request 1:")
        async with http.stream("POST", "/api/chat", json=body) as response:
            async for _ in response.aiter_lines():
                break  # hang up after the first line
        second = await _next_line(proc, "request 2:")

    assert whole.status_code == 200
    assert first.startswith("request 1: ran to its end after 7 lines")
    assert second.startswith("request 2: stopped: the caller hung up after")
