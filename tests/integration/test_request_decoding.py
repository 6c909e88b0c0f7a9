"""Requests that do not parse: INVALID_ARGUMENT with an ErrorInfo, not UNKNOWN.

Found by the gRPC fuzzing (tests/integration/test_grpc_fuzz.py): without the
RequestDecoding interceptor, grpc.aio answers such a request with UNKNOWN
"Unexpected DecodeError" and no details. These tests run the interceptor on
a server of its own, with real servicers (ModelService over the fake Ollama,
the standard health service) and one that streams by writing, as ChatStream
does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2 as model_pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2_grpc as model_grpc
from mochi_grpc.llm.ollama import OllamaBackend
from mochi_grpc.services.models import ModelService
from mochi_grpc.services.request_decoding import RequestDecoding
from tests.fakes import FakeOllama
from tests.fuzzing import length_delimited
from tests.support import error_info

NOT_UTF8 = length_delimited(1, b"\xff\xfe")  # field 1, a string, holding bad UTF-8
CUT_SHORT = length_delimited(1, b"llama3.2")[:-3]


async def _watch_by_writing(
    request: chat_pb.WatchTurnRequest, context: grpc.aio.ServicerContext[object, object]
) -> None:
    """Streams the way ChatService does: by writing, not yielding."""
    await context.write(chat_pb.ChatEvent(event_id=request.session_id))


_WRITING_CHAT = grpc.method_handlers_generic_handler(
    "mochi.v1.ChatService",
    {
        "WatchTurn": grpc.unary_stream_rpc_method_handler(
            _watch_by_writing,
            request_deserializer=chat_pb.WatchTurnRequest.FromString,
            response_serializer=chat_pb.ChatEvent.SerializeToString,
        )
    },
)


@pytest.fixture
async def channel(fake_ollama: FakeOllama) -> AsyncIterator[grpc.aio.Channel]:
    backend = OllamaBackend(fake_ollama.url)
    server = grpc.aio.server(interceptors=[RequestDecoding()])
    model_grpc.add_ModelServiceServicer_to_server(ModelService(backend), server)
    server.add_generic_rpc_handlers((_WRITING_CHAT,))
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(0)
    await backend.close()


def _raw_unary(channel: grpc.aio.Channel, method: str) -> grpc.aio.UnaryUnaryMultiCallable:  # type: ignore[type-arg]
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def _raw_stream(channel: grpc.aio.Channel, method: str) -> grpc.aio.UnaryStreamMultiCallable:  # type: ignore[type-arg]
    return channel.unary_stream(method, request_serializer=None, response_deserializer=None)


def _assert_refused_as_invalid(exc: grpc.aio.AioRpcError) -> None:
    info = error_info(exc)
    assert (info.code, info.reason, info.domain) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_ERROR",
        "mochi.v1",
    )
    assert info.message.startswith("The request does not parse")


@pytest.mark.parametrize("raw", [NOT_UTF8, CUT_SHORT, b"\xff\xff\xff"], ids=["utf8", "cut", "junk"])
async def test_an_unparsable_unary_request_is_invalid_argument(
    channel: grpc.aio.Channel, raw: bytes
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_unary(channel, "/mochi.v1.ModelService/GetModel")(raw, timeout=5)

    _assert_refused_as_invalid(caught.value)


async def test_a_parsable_request_still_reaches_the_method(channel: grpc.aio.Channel) -> None:
    request = model_pb.GetModelRequest(name="llama3.2").SerializeToString()

    raw = await _raw_unary(channel, "/mochi.v1.ModelService/GetModel")(request, timeout=5)

    assert model_pb.GetModelResponse.FromString(raw).model.name == "llama3.2:latest"


async def test_an_unparsable_request_to_a_writing_stream_is_invalid_argument(
    channel: grpc.aio.Channel,
) -> None:
    call = _raw_stream(channel, "/mochi.v1.ChatService/WatchTurn")(NOT_UTF8, timeout=5)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [event async for event in call]

    _assert_refused_as_invalid(caught.value)


async def test_a_writing_stream_still_streams(channel: grpc.aio.Channel) -> None:
    request = chat_pb.WatchTurnRequest(session_id="s1").SerializeToString()

    events = [e async for e in _raw_stream(channel, "/mochi.v1.ChatService/WatchTurn")(request)]

    assert [chat_pb.ChatEvent.FromString(e).event_id for e in events] == ["s1"]


async def test_a_yielding_stream_refuses_junk_and_still_streams(
    channel: grpc.aio.Channel,
) -> None:
    watch = _raw_stream(channel, "/grpc.health.v1.Health/Watch")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [r async for r in watch(NOT_UTF8, timeout=5)]
    good = watch(health_pb2.HealthCheckRequest(service="").SerializeToString(), timeout=5)

    first = health_pb2.HealthCheckResponse.FromString(await good.read())  # type: ignore[arg-type]
    good.cancel()

    _assert_refused_as_invalid(caught.value)
    assert first.status == health_pb2.HealthCheckResponse.SERVING
