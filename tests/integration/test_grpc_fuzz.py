"""Hostile and malformed requests to every mochi.v1 RPC, on a real server.

Each RPC gets a few dozen well-typed requests with hostile values and a few
dozen malformed byte strings, drawn by Hypothesis (tests/fuzzing/ says how).
Every call must end with a clean status (OK or one of the SPEC's errors, with
an ErrorInfo when it is ours, never UNKNOWN, INTERNAL or a hang); the server
must keep serving; and a refused call must leave the store as it was, as the
API shows it.

One server per test function: the examples of one RPC run against the same
server and store, which they change as they go (that is part of the point).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2 as model_pb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as session_pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as prompt_pb
from mochi_grpc._gen.mochi.v1 import tool_service_pb2 as tool_pb
from mochi_grpc.server import RunningServer
from mochi_grpc.stubs import ChatStub, ModelStub, SessionStub, SystemPromptStub, ToolStub
from tests.fakes import FakeOllama, Reply, echo_reply
from tests.fuzzing import (
    MODEL,
    Outcome,
    Rpc,
    Shown,
    World,
    all_rpcs,
    check_outcome,
    check_serving,
    differences,
    invoke,
    is_too_large,
    length_delimited,
    malformed,
    requests,
    snapshot,
)

RPCS = all_rpcs()
# Each call gets this long; a call still running by then is a hang.
DEADLINE_SECONDS = 10.0
# Beyond gRPC's default limit of 4 MiB a request.
OVER_THE_LIMIT = 5 * 1024 * 1024

FUZZ = settings(
    max_examples=20,
    deadline=None,
    # One server per test function, shared by its examples, on purpose.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def _not_ours(outcome: Outcome) -> bool:
    return False


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    # Replies are allowed past 4 MiB on this side: a history the fuzzing grew
    # must not make GetSession look refused when the server did answer it.
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=options) as channel:
        yield channel


def _short_echo(body: dict[str, Any]) -> Reply:
    """The echo, in at most a few chunks: a turn over a huge message stays quick."""
    echo = echo_reply(body)
    return replace(echo, content=[*echo.content[:3], "".join(echo.content[3:])])


@pytest.fixture
async def world(channel: grpc.aio.Channel, fake_ollama: FakeOllama) -> World:
    """A store with sessions that have histories and turns, and a prompt file."""
    fake_ollama.default_reply = _short_echo
    sessions, chat = SessionStub(channel), ChatStub(channel)
    await SystemPromptStub(channel).CreateSystemPrompt(
        prompt_pb.CreateSystemPromptRequest(filename="seed.md", content="You are a seed.")
    )
    first = (
        await sessions.CreateSession(
            session_pb.CreateSessionRequest(model="llama3.2", system_prompt_source_file="seed.md")
        )
    ).session.session_id
    stream = chat.ChatStream(chat_pb.ChatStreamRequest(session_id=first, message="hello"))
    turn_id = dict(await stream.initial_metadata())["mochi-turn-id"]
    event_ids = [event.event_id async for event in stream]
    await chat.Chat(chat_pb.ChatRequest(session_id=first, message="and again"))
    await sessions.CreateSession(session_pb.CreateSessionRequest(model=MODEL))
    models = (await ModelStub(channel).ListModels(model_pb.ListModelsRequest())).models
    tools = (await ToolStub(channel).ListTools(tool_pb.ListToolsRequest())).tools
    sessions_page = await sessions.ListSessions(session_pb.ListSessionsRequest(page_size=1))
    messages_page = await sessions.ListMessages(
        session_pb.ListMessagesRequest(session_id=first, page_size=1)
    )
    assert isinstance(turn_id, str)
    # Event ids of the real turn at real positions, past its end, and odd.
    cuts = ["0", str(2**31), "1" + "0" * 30, "-1", "", "1.0", " 1"]
    world = World(
        turn_ids=[turn_id],
        event_ids=[*event_ids, *(f"{turn_id}:{cut}" for cut in cuts)],
        model_names=[
            *(m.name for m in models),
            "llama3.2",
            "LLAMA3.2:LATEST",
            "registry.ollama.ai/library/llama3.2:latest",
            "nope:latest",
        ],
        tool_names=[t.name for t in tools] or ["add"],
        page_tokens=[sessions_page.next_page_token, messages_page.next_page_token],
    )
    world.refresh(await snapshot(channel))
    return world


async def _exercise(
    channel: grpc.aio.Channel,
    world: World,
    rpc: Rpc,
    request: Message | bytes,
    tolerate: Callable[[Outcome], bool] = _not_ours,
) -> Outcome:
    """One call between two looks at the store: the properties of every call."""
    # After a refused call the store is as the look after it saw; after
    # anything else it is looked at again.
    before, world.known = world.known, None
    if before is None:
        before = await snapshot(channel)
    world.refresh(before)
    outcome = await invoke(channel, rpc, request, deadline=DEADLINE_SECONDS)
    check_outcome(rpc, outcome, tolerate=tolerate)
    await check_serving(channel)
    if outcome.code != grpc.StatusCode.OK:
        after = await snapshot(channel)
        changed = differences(before, after)
        assert not changed, f"{rpc} was refused ({outcome.code.name}) but changed: {changed}"
        world.known = after
    return outcome


@pytest.mark.parametrize("rpc", RPCS, ids=str)
@FUZZ
@given(data=st.data())
async def test_hostile_values_get_a_clean_status_and_a_refusal_changes_nothing(
    rpc: Rpc, channel: grpc.aio.Channel, world: World, data: st.DataObject
) -> None:
    request = data.draw(requests(rpc, world).map(Shown), label="request")
    await _exercise(channel, world, rpc, request.value)


# A finding of this suite: grpc.aio answers a request its deserializer cannot
# parse with UNKNOWN ("Unexpected DecodeError") and no details;
# mochi_grpc.services.request_decoding.RequestDecoding makes it
# INVALID_ARGUMENT with an ErrorInfo, like every other refusal.


@pytest.mark.parametrize("rpc", RPCS, ids=str)
@FUZZ
@given(data=st.data())
async def test_malformed_bytes_get_a_clean_status_and_change_nothing(
    rpc: Rpc, channel: grpc.aio.Channel, world: World, data: st.DataObject
) -> None:
    raw = data.draw(malformed(rpc, world).map(Shown), label="bytes")
    await _exercise(channel, world, rpc, raw.value)


@settings(FUZZ, max_examples=60)
@given(data=st.data())
async def test_a_mix_of_hostile_calls_on_one_store_gets_clean_answers(
    channel: grpc.aio.Channel, world: World, data: st.DataObject
) -> None:
    # What one RPC leaves behind (odd tool settings, a huge edited message,
    # a prompt file gone) is what the next one meets.
    rpc = data.draw(st.sampled_from(RPCS), label="rpc")
    if data.draw(st.booleans(), label="as bytes"):
        raw = data.draw(malformed(rpc, world).map(Shown), label="bytes")
        await _exercise(channel, world, rpc, raw.value)
    else:
        request = data.draw(requests(rpc, world).map(Shown), label="request")
        await _exercise(channel, world, rpc, request.value)


async def test_a_request_over_the_message_limit_is_refused_and_changes_nothing(
    channel: grpc.aio.Channel, world: World
) -> None:
    # Once (a call this size takes about a second): the turn it would start
    # is refused by gRPC itself before the method runs.
    rpc = next(r for r in RPCS if r.name == "ChatStream")
    request = chat_pb.ChatStreamRequest(
        session_id=world.session_ids[0], message="x" * OVER_THE_LIMIT
    )

    outcome = await _exercise(channel, world, rpc, request)

    assert is_too_large(outcome), outcome


async def test_unparsable_request_is_invalid_argument_on_the_server(
    channel: grpc.aio.Channel,
) -> None:
    rpc = next(r for r in RPCS if r.name == "GetSession")
    not_utf8 = length_delimited(1, b"\xff")

    outcome = await invoke(channel, rpc, not_utf8, deadline=DEADLINE_SECONDS)

    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome


def test_every_rpc_of_every_service_is_fuzzed() -> None:
    services = {r.service for r in RPCS}

    assert {
        "mochi.v1.SessionService",
        "mochi.v1.ChatService",
        "mochi.v1.ModelService",
        "mochi.v1.SystemPromptService",
        "mochi.v1.ToolService",
        "mochi.v1.ServerService",
    } <= services
    assert len(RPCS) == len({r.path for r in RPCS}) >= 26
