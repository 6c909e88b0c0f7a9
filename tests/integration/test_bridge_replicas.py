"""The bridge over two server replicas: calls spread round-robin, a dead one is skipped.

Each replica is a real server process with a SQLite store of its own, so
listing the sessions of one replica over gRPC shows exactly the calls that
reached it. The bridge runs on a real uvicorn in the test's loop.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.stubs import SessionStub
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama
from tests.server_process import GUARD, server_process, serving

MODEL = "llama3.2:latest"
# Enough calls that round-robin over two replicas must reach both.
SPREAD_CALLS = 12
# Calls that may fail while the bridge learns that a replica died.
LEARNING_CALLS = 3
AFTER_DEATH_CALLS = 10


class Replica:
    """One server process and the address it serves on."""

    def __init__(self, process: asyncio.subprocess.Process, target: str) -> None:
        self.process = process
        self.target = target

    @property
    def port(self) -> str:
        return self.target.rpartition(":")[2]

    async def sessions(self) -> set[str]:
        """The ids of the sessions this replica's own store holds."""
        async with grpc.aio.insecure_channel(self.target) as channel:
            listed = await SessionStub(channel).ListSessions(
                pb.ListSessionsRequest(page_size=1000), timeout=GUARD
            )
        assert not listed.next_page_token
        return {session.session_id for session in listed.sessions}

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), GUARD)


@pytest.fixture
async def replicas(tmp_path: Path, fake_ollama: FakeOllama) -> AsyncIterator[list[Replica]]:
    """Two server processes, each on its own SQLite data directory, both serving."""
    async with (
        server_process(tmp_path / "a", fake_ollama.url) as a,
        server_process(tmp_path / "b", fake_ollama.url) as b,
    ):
        started = [Replica(*a), Replica(*b)]
        await asyncio.gather(*(serving(replica.target) for replica in started))
        yield started


@asynccontextmanager
async def _bridge(grpc_target: str) -> AsyncIterator[httpx.AsyncClient]:
    bridge = await EmbeddedServer.start(
        create_app(BridgeSettings(grpc_target=grpc_target)), lifespan="on"
    )
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=GUARD) as http:
            yield http
    finally:
        await bridge.stop()


async def _create_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/sessions", json={"model": MODEL})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def _create_sessions(http: httpx.AsyncClient, count: int) -> set[str]:
    return {await _create_session(http) for _ in range(count)}


async def _first_created_after_a_death(http: httpx.AsyncClient) -> str:
    """Creates a session, allowing the calls that reach the dead replica
    before the bridge has noticed to fail with 503."""
    refused = []
    for _ in range(LEARNING_CALLS):
        response = await http.post("/sessions", json={"model": MODEL})
        if response.status_code == 201:
            session_id: str = response.json()["session_id"]
            return session_id
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE", response.text
        refused.append(response.text)
    raise AssertionError(f"no call succeeded after a replica died: {refused}")


TargetOf = Callable[[Replica, Replica], str]

TARGET_FORMS: dict[str, TargetOf] = {
    "ipv4 URI": lambda a, b: f"ipv4:{a.target},{b.target}",
    "plain list": lambda a, b: f"{a.target},{b.target}",
    "localhost list": lambda a, b: f"localhost:{a.port},localhost:{b.port}",
}


@pytest.mark.parametrize("target_of", TARGET_FORMS.values(), ids=TARGET_FORMS.keys())
async def test_calls_through_the_bridge_reach_every_replica(
    replicas: list[Replica], target_of: TargetOf
) -> None:
    a, b = replicas

    async with _bridge(target_of(a, b)) as http:
        created = await _create_sessions(http, SPREAD_CALLS)

    on_a, on_b = await a.sessions(), await b.sessions()
    assert on_a, "no call reached the first replica"
    assert on_b, "no call reached the second replica"
    assert on_a | on_b == created
    assert not on_a & on_b


async def test_calls_skip_a_replica_killed_mid_service(replicas: list[Replica]) -> None:
    a, b = replicas

    async with _bridge(f"ipv4:{a.target},{b.target}") as http:
        before = await _create_sessions(http, SPREAD_CALLS)
        reached_a = await a.sessions()
        await a.kill()
        first = await _first_created_after_a_death(http)
        after = await _create_sessions(http, AFTER_DEATH_CALLS)

    assert reached_a & before, "no call reached the replica before it was killed"
    assert len(after) == AFTER_DEATH_CALLS
    assert {first, *after} <= await b.sessions()
