"""Fixtures: a fake Ollama, a real gRPC server on an ephemeral port, stubs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.store import PostgresStore, SqliteStore
from mochi_grpc.stubs import ChatStub, ModelStub, ServerStub, SessionStub
from tests.certificates import ca, client_ca, server_files
from tests.fakes import FakeOllama
from tests.store_backends import STORE_KINDS, Store, fresh_database, postgres_server

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

__all__ = ["ca", "client_ca", "server_files"]  # fixtures for the TLS tests


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    async with FakeOllama() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, fake_ollama: FakeOllama) -> Settings:
    return Settings(
        host="127.0.0.1",
        grpc_port=0,
        data_dir=tmp_path,
        ollama_host=fake_ollama.url,
        shutdown_grace_seconds=0,
        metrics_port=0,  # off: many test servers, no shared port (tests that want it pick one)
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings)
    yield running
    await running.stop(0)


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture
def sessions(channel: grpc.aio.Channel) -> SessionStub:
    return SessionStub(channel)


@pytest.fixture
def chat(channel: grpc.aio.Channel) -> ChatStub:
    return ChatStub(channel)


@pytest.fixture
def models(channel: grpc.aio.Channel) -> ModelStub:
    return ModelStub(channel)


@pytest.fixture
def server_info(channel: grpc.aio.Channel) -> ServerStub:
    return ServerStub(channel)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the whole test session."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a database of this test's own."""
    with fresh_database(postgres) as url:
        yield url


@pytest.fixture(params=STORE_KINDS)
def unopened_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store of each kind on an empty database, not opened yet."""
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "data" / "mochi.db")
    return PostgresStore(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def any_store(unopened_store: Store) -> AsyncIterator[Store]:
    """An opened store of each kind: the tests using it are the stores' contract."""
    store = unopened_store
    await store.open()
    yield store
    await store.close()
