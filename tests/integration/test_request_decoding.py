"""Requests that do not parse: INVALID_ARGUMENT with an ErrorInfo, not UNKNOWN.

Found by the gRPC fuzzing (tests/integration/test_grpc_fuzz.py): without the
RequestDecoding interceptor, grpc.aio answers such a request with UNKNOWN
"Unexpected DecodeError" and no details. These tests run the interceptor on
a server of its own, with real servicers (ModelService over the fake Ollama,
the standard health service) and one that streams by writing, as ChatStream
does.

Requests whose text holds the NUL character (U+0000) are refused the same
way, naming the field; those tests run against the whole server, so that
they can check that a refused request stored nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2 as model_pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2_grpc as model_grpc
from mochi_grpc._gen.mochi.v1 import session_pb2 as session_pb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as sessions_pb
from mochi_grpc.llm.ollama import OllamaBackend
from mochi_grpc.server import RunningServer
from mochi_grpc.services.models import ModelService
from mochi_grpc.services.request_decoding import RequestDecoding
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama
from tests.fuzzing import length_delimited
from tests.support import error_info

NOT_UTF8 = length_delimited(1, b"\xff\xfe")  # field 1, a string, holding bad UTF-8
CUT_SHORT = length_delimited(1, b"llama3.2")[:-3]
MODEL = "llama3.2:latest"
NUL_REFUSAL = "Text may not contain the NUL character (U+0000)"


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


async def _echo(
    request: struct_pb2.Struct, context: grpc.aio.ServicerContext[object, object]
) -> struct_pb2.Struct:
    return request


# A method taking a google.protobuf.Struct, as tool arguments are: its strings
# are text like any other.
_STRUCT_ECHO = grpc.method_handlers_generic_handler(
    "mochi.test.StructEcho",
    {
        "Echo": grpc.unary_unary_rpc_method_handler(
            _echo,
            request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString,
        )
    },
)


@pytest.fixture
async def channel(fake_ollama: FakeOllama) -> AsyncIterator[grpc.aio.Channel]:
    backend = OllamaBackend(fake_ollama.url)
    server = grpc.aio.server(interceptors=[RequestDecoding()])
    model_grpc.add_ModelServiceServicer_to_server(ModelService(backend), server)
    server.add_generic_rpc_handlers((_WRITING_CHAT, _STRUCT_ECHO))
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


# -- text with NUL (U+0000) -----------------------------------------------------


@pytest.fixture
async def whole_server(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the whole server (with its store), as start() builds it."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture
def sessions(whole_server: grpc.aio.Channel) -> SessionStub:
    return SessionStub(whole_server)


@pytest.fixture
def chat(whole_server: grpc.aio.Channel) -> ChatStub:
    return ChatStub(whole_server)


def _assert_refused_for_nul(exc: grpc.aio.AioRpcError, field: str) -> None:
    info = error_info(exc)
    assert (info.code, info.reason, info.domain, info.field) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_ERROR",
        "mochi.v1",
        field,
    )
    assert info.message.startswith(NUL_REFUSAL), info.message


async def _new_session(sessions: SessionStub) -> str:
    created = await sessions.CreateSession(sessions_pb.CreateSessionRequest(model=MODEL))
    return created.session.session_id


async def _history(sessions: SessionStub, session_id: str) -> list[tuple[int, str]]:
    got = await sessions.GetSession(sessions_pb.GetSessionRequest(session_id=session_id))
    return [(m.role, m.content) for m in got.messages]


async def test_a_chat_message_with_nul_is_refused_and_stores_nothing(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _new_session(sessions)

    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await chat.Chat(chat_pb.ChatRequest(session_id=session_id, message="hi\x00there"))
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        stream = chat.ChatStream(chat_pb.ChatStreamRequest(session_id=session_id, message="\x00"))
        [event async for event in stream]

    _assert_refused_for_nul(unary.value, "message")
    _assert_refused_for_nul(streamed.value, "message")
    assert await _history(sessions, session_id) == []
    assert fake_ollama.requests == []


async def test_a_chat_message_without_nul_still_passes(
    sessions: SessionStub, chat: ChatStub
) -> None:
    session_id = await _new_session(sessions)

    # `think` false and an optional string set put zero bytes on the wire,
    # so the request is walked, and has no NUL to find.
    request = chat_pb.ChatRequest(session_id=session_id, message="hi \\x00 there")
    assert b"\x00" not in request.SerializeToString()
    reply = await chat.Chat(request)
    created = await sessions.CreateSession(
        sessions_pb.CreateSessionRequest(model=MODEL, system_prompt="")
    )

    assert reply.message.content == "You said: hi \\x00 there"
    assert created.session.session_id


async def test_a_nul_in_a_repeated_nested_string_is_refused_and_changes_nothing(
    sessions: SessionStub,
) -> None:
    session_id = await _new_session(sessions)
    before = await sessions.GetSession(sessions_pb.GetSessionRequest(session_id=session_id))
    session = session_pb.Session(
        session_id=session_id,
        tool_settings=session_pb.ToolSettings(tools=["clock", "sh\x00ell"]),
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.UpdateSession(
            sessions_pb.UpdateSessionRequest(
                session=session, update_mask=field_mask_pb2.FieldMask(paths=["tool_settings"])
            )
        )

    _assert_refused_for_nul(caught.value, "session.tool_settings.tools[1]")
    after = await sessions.GetSession(sessions_pb.GetSessionRequest(session_id=session_id))
    assert after.session.tool_settings == before.session.tool_settings


async def test_a_nul_in_a_map_key_is_refused_and_creates_nothing(sessions: SessionStub) -> None:
    policies = {"clock": session_pb.EXECUTION_POLICY_NEVER_CONFIRM}
    policies["sh\x00ell"] = session_pb.EXECUTION_POLICY_ALWAYS_CONFIRM
    request = sessions_pb.CreateSessionRequest(
        model=MODEL, tool_settings=session_pb.ToolSettings(tool_policies=policies)
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(request)

    _assert_refused_for_nul(caught.value, 'tool_settings.tool_policies["sh\\u0000ell"]')
    listed = await sessions.ListSessions(sessions_pb.ListSessionsRequest())
    assert list(listed.sessions) == []


async def test_a_nul_in_a_system_prompt_is_refused_and_changes_nothing(
    sessions: SessionStub,
) -> None:
    session_id = await _new_session(sessions)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.SetSessionSystemPrompt(
            sessions_pb.SetSessionSystemPromptRequest(session_id=session_id, content="be\x00kind")
        )

    _assert_refused_for_nul(caught.value, "content")
    assert await _history(sessions, session_id) == []


def _struct(value: dict[str, Any]) -> bytes:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct.SerializeToString()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"command": "ls\x00"}, 'fields["command"].string_value'),
        (
            {"n": 0, "args": [1, {"flag": "-\x00"}]},
            'fields["args"].list_value.values[1].struct_value.fields["flag"].string_value',
        ),
        ({"k\x00": True}, 'fields["k\\u0000"]'),
    ],
    ids=["value", "nested", "key"],
)
async def test_a_nul_inside_a_struct_is_refused(
    channel: grpc.aio.Channel, value: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_unary(channel, "/mochi.test.StructEcho/Echo")(_struct(value), timeout=5)

    _assert_refused_for_nul(caught.value, field)


async def test_a_struct_without_nul_still_passes(channel: grpc.aio.Channel) -> None:
    raw = _struct({"n": 0, "args": [1, {"flag": "-v"}]})

    echoed = await _raw_unary(channel, "/mochi.test.StructEcho/Echo")(raw, timeout=5)

    # Compared as messages: a map's entries may be written in any order.
    assert struct_pb2.Struct.FromString(echoed) == struct_pb2.Struct.FromString(raw)


async def test_a_refusal_for_nul_stays_small_however_long_the_path(
    channel: grpc.aio.Channel,
) -> None:
    # Long keys, nested as deep as the parser allows: the status must still fit
    # in the trailing metadata (past 16 KiB the client sees RESOURCE_EXHAUSTED).
    value: dict[str, object] = {"k" * 10_000 + "\x00": 1}
    for _ in range(30):
        value = {"k" * 10_000: value}

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_unary(channel, "/mochi.test.StructEcho/Echo")(_struct(value), timeout=5)

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR")
    assert info.field is not None and info.field.startswith('fields["kkk')
    assert len(info.field.encode()) <= 256
