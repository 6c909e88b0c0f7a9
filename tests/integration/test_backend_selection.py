"""MOCHI_BACKEND: which model backend a server serves from."""

from __future__ import annotations

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import model_service_pb2 as mpb
from mochi_grpc._gen.mochi.v1 import server_service_pb2 as spb
from mochi_grpc.config import Settings
from mochi_grpc.server import start
from mochi_grpc.stubs import ModelStub, ServerStub
from tests.fakes import FakeOllama


async def _served(settings: Settings) -> tuple[str, list[str]]:
    running = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            info = await ServerStub(channel).GetServerInfo(spb.GetServerInfoRequest())
            models = await ModelStub(channel).ListModels(mpb.ListModelsRequest())
    finally:
        await running.stop(0)
    assert info.ollama_host == settings.ollama_host
    assert info.ollama_connected == (info.backend == "ollama")
    return info.backend, [m.name for m in models.models]


async def test_auto_uses_ollama_when_it_answers(settings: Settings) -> None:
    backend, models = await _served(settings.model_copy(update={"backend": "auto"}))

    assert (backend, models) == ("ollama", ["llama3.2:latest"])


@pytest.mark.real_model
async def test_auto_falls_back_to_the_embedded_model_without_ollama(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()

    backend, models = await _served(settings.model_copy(update={"backend": "auto"}))

    assert (backend, models) == ("embedded", ["smollm2:135m"])


async def test_ollama_is_kept_when_asked_for_even_if_down(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    running = await start(settings.model_copy(update={"backend": "ollama"}))
    try:
        assert running.llm.name == "ollama"
    finally:
        await running.stop(0)
