"""The bridge on a real uvicorn, over the real gRPC server and the fake Ollama."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.server import RunningServer
from tests.embedded import EmbeddedServer


@pytest.fixture
async def bridge_url(server: RunningServer) -> AsyncIterator[str]:
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}", sse_ping_seconds=15)
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    yield bridge.url
    await bridge.stop()


@pytest.fixture
async def http(bridge_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge_url + "/api/v1", timeout=10) as client:
        yield client
