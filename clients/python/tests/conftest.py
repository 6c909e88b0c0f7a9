"""Fixtures for tests against the live server at $MOCHI_GRPC_TARGET.

Run them under clients/live_server.py, which starts the server with a fake
Ollama that answers "You said: <message>" a word at a time. Under
``live_server.py --secure`` the server wants an API key and mutual TLS, and
the environment has them (MOCHI_API_KEY, MOCHI_GRPC_TLS_*): every client the
tests make without naming them picks them up.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mochi_client import Message, MochiClient, MochiError, Role, Status

MODEL = "llama3.2:latest"
POLL_ATTEMPTS = 400
POLL_INTERVAL = 0.05

# The server requires API keys and mutual TLS (live_server.py --secure).
SECURE = bool(os.environ.get("MOCHI_API_KEY"))
secure_only = pytest.mark.skipif(
    not SECURE, reason="needs the server of clients/live_server.py --secure"
)
CREDENTIALS_ENV = (
    "MOCHI_API_KEY",
    "MOCHI_GRPC_TLS_CA_FILE",
    "MOCHI_GRPC_TLS_CERT_FILE",
    "MOCHI_GRPC_TLS_KEY_FILE",
    "MOCHI_GRPC_TLS_SERVER_NAME",
)

StoredReply = Callable[[str], Awaitable[Message]]
CutConnections = Callable[[], None]


@pytest.fixture
def target() -> str:
    target = os.environ.get("MOCHI_GRPC_TARGET")
    if not target:
        pytest.fail("MOCHI_GRPC_TARGET is not set: run the tests under clients/live_server.py")
    return target


@pytest.fixture
async def client(target: str) -> AsyncIterator[MochiClient]:
    async with MochiClient(target) as client:
        yield client


@pytest.fixture
async def droppable_client() -> AsyncIterator[MochiClient]:
    """A client whose connections go through the proxy that `cut_connections` cuts."""
    target = os.environ.get("MOCHI_DROPPABLE_TARGET")
    if not target:
        pytest.fail("MOCHI_DROPPABLE_TARGET is not set: run the tests under clients/live_server.py")
    async with MochiClient(target) as client:
        yield client


@pytest.fixture
def cut_connections() -> CutConnections:
    """Aborts every connection of `droppable_client`, as a network that drops would."""
    pid = int(os.environ["MOCHI_DROPPABLE_PID"])
    return lambda: os.kill(pid, signal.SIGUSR1)


@pytest.fixture
async def session_id(client: MochiClient) -> AsyncIterator[str]:
    session = await client.create_session(MODEL)
    yield session.session_id
    try:
        await client.delete_session(session.session_id)
    except MochiError as error:
        if error.code is not Status.NOT_FOUND:
            raise


@pytest.fixture
def stored_reply(client: MochiClient) -> StoredReply:
    """Waits (a bounded number of polls) until the session's last message is a reply."""

    async def wait(session_id: str) -> Message:
        for _ in range(POLL_ATTEMPTS):
            messages = await client.list_messages(session_id)
            if messages and messages[-1].role is Role.ASSISTANT:
                return messages[-1]
            await asyncio.sleep(POLL_INTERVAL)
        pytest.fail(f"session {session_id} stored no reply")

    return wait
