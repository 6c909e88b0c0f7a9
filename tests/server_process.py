"""The server as a real process, for the tests that signal or kill it."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

GUARD = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def server_process(
    data_dir: Path, ollama_url: str, **settings: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python -m mochi_grpc` on a free port; yields it and its address. Extra
    settings are MOCHI_* variables without the prefix (checkpoint_interval_ms=);
    metrics are off unless metrics_port= is given."""
    port = free_port()
    env = {
        **os.environ,
        "MOCHI_HOST": "127.0.0.1",
        "MOCHI_GRPC_PORT": str(port),
        "MOCHI_OLLAMA_HOST": ollama_url,
        "MOCHI_DATA_DIR": str(data_dir),
        "MOCHI_METRICS_PORT": "0",
        **{f"MOCHI_{name.upper()}": value for name, value in settings.items()},
    }
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "mochi_grpc", env=env)
    try:
        yield proc, f"127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def serving(target: str) -> health_pb2.HealthCheckResponse:
    """Waits until the server at `target` answers its health check."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
        response: health_pb2.HealthCheckResponse = await stub.Check(
            health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=GUARD
        )
        return response
