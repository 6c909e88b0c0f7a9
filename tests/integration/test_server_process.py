"""The real server process: env settings, health, reflection, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.server_process import GUARD, server_process, serving


@pytest.fixture
async def process(
    tmp_path: Path, fake_ollama: FakeOllama
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    async with server_process(tmp_path, fake_ollama.url, shutdown_grace_seconds="0.2") as running:
        yield running


async def test_process_serves_health_and_reflection(
    process: tuple[asyncio.subprocess.Process, str],
) -> None:
    _, target = process

    health = await serving(target)

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(target) as channel:
        # The stub is typed for sync channels only.
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {
        "mochi.v1.SessionService",
        "mochi.v1.ChatService",
        "mochi.v1.ModelService",
        "grpc.health.v1.Health",
    } <= names


async def test_sigterm_stores_the_partial_reply_of_a_running_stream(
    process: tuple[asyncio.subprocess.Process, str], fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    proc, target = process
    await serving(target)
    fake_ollama.script(Reply(content=["Cut", " short"], hang_after=2))
    async with grpc.aio.insecure_channel(target) as channel:
        created = await SessionStub(channel).CreateSession(
            pb.CreateSessionRequest(model="llama3.2:latest")
        )
        session_id = created.session.session_id
        call = ChatStub(channel).ChatStream(
            cpb.ChatStreamRequest(session_id=session_id, message="Q")
        )
        await call.read()
        await fake_ollama.wait_for_chunks(fake_ollama.requests[0], 2)

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), GUARD)

    assert code == 0
    assert fake_ollama.requests[0].disconnected.is_set()
    settings = Settings(grpc_port=0, data_dir=tmp_path, ollama_host=fake_ollama.url, metrics_port=0)
    reopened = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{reopened.port}") as channel:
            stored = await SessionStub(channel).ListMessages(
                pb.ListMessagesRequest(session_id=session_id)
            )
    finally:
        await reopened.stop(0)
    assert [(m.content, m.partial_reason) for m in stored.messages][-1] == ("Cut short", "shutdown")
