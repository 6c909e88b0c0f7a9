"""ModelService and ServerService against the fake Ollama."""

from __future__ import annotations

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import model_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import server_service_pb2 as spb
from mochi_grpc.stubs import ModelStub, ServerStub
from tests.fakes import FakeModel, FakeOllama
from tests.support import error_info


async def test_list_models_reports_details_and_leaves_out_embedding_models(
    models: ModelStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(name="nomic-embed:latest", capabilities=["embedding"]))
    fake_ollama.add_model(
        FakeModel(
            name="qwen3:8b",
            family="qwen3",
            context_length=40960,
            capabilities=["completion", "tools", "thinking"],
            size=5_000_000_000,
            parameter_size="8.2B",
            quantization_level="Q4_K_M",
        )
    )

    listed = await models.ListModels(pb.ListModelsRequest())

    by_name = {m.name: m for m in listed.models}
    assert set(by_name) == {"llama3.2:latest", "qwen3:8b"}
    qwen = by_name["qwen3:8b"]
    assert qwen.family == "qwen3"
    assert qwen.context_length == 40960
    assert list(qwen.capabilities) == ["completion", "tools", "thinking"]
    assert qwen.size_mb == round(5_000_000_000 / 1024 / 1024, 1)
    assert (qwen.parameter_size, qwen.quantization_level, qwen.format) == ("8.2B", "Q4_K_M", "gguf")


async def test_model_without_reported_context_length_gets_2048(
    models: ModelStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(name="tiny:1b", context_length=None))

    got = await models.GetModel(pb.GetModelRequest(name="tiny:1b"))

    assert got.model.context_length == 2048


@pytest.mark.parametrize(
    "name",
    [
        "acc",
        "acc:latest",
        "ACC",
        "library/acc",
        "registry.ollama.ai/library/acc:latest",
        "Registry.Ollama.AI/Library/Acc:Latest",
    ],
)
async def test_get_model_answers_to_every_name_ollama_answers_to(
    models: ModelStub, fake_ollama: FakeOllama, name: str
) -> None:
    fake_ollama.add_model(FakeModel(name="acc:latest", context_length=8000))

    got = await models.GetModel(pb.GetModelRequest(name=name))

    assert (got.model.name, got.model.context_length) == ("acc:latest", 8000)


async def test_get_model_keeps_another_namespace_or_host_apart(
    models: ModelStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(name="myname/acc:latest", context_length=8000))
    fake_ollama.add_model(FakeModel(name="hf.co/user/repo:Q4_K_M", context_length=9000))

    mine = await models.GetModel(pb.GetModelRequest(name="myname/acc"))
    hf = await models.GetModel(pb.GetModelRequest(name="hf.co/user/repo:q4_k_m"))

    assert (mine.model.name, mine.model.context_length) == ("myname/acc:latest", 8000)
    assert (hf.model.name, hf.model.context_length) == ("hf.co/user/repo:Q4_K_M", 9000)


@pytest.mark.parametrize(
    "name",
    ["ghost", "ghost:latest", "library/ghost", "llama3.2:1b", "myname/llama3.2", "llama3.2:"],
)
async def test_a_model_ollama_does_not_have_in_any_form_is_not_found(
    models: ModelStub, name: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await models.GetModel(pb.GetModelRequest(name=name))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")


async def test_list_models_when_ollama_is_down_is_unavailable(
    models: ModelStub, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await models.ListModels(pb.ListModelsRequest())

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "OLLAMA_UNREACHABLE")


async def test_server_info_reports_version_and_ollama_state(
    server_info: ServerStub, fake_ollama: FakeOllama
) -> None:
    up = await server_info.GetServerInfo(spb.GetServerInfoRequest())
    assert (up.version, up.backend, up.ollama_host) == ("0.1.0", "ollama", fake_ollama.url)
    assert up.ollama_connected

    await fake_ollama.stop()
    down = await server_info.GetServerInfo(spb.GetServerInfoRequest())

    assert not down.ollama_connected
