"""Tools over gRPC: discovery, the tool loop, policies, confirmation, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import json_format

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import tool_service_pb2 as tpb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub, ToolStub
from tests.fakes import FakeOllama, Reply
from tests.support import case, collect, error_info, read_rest, runs, text_of
from tests.tools_fixture import math_tools, release_event, write_tools

MODEL = "llama3.2:latest"
GUARD = 10.0
ALWAYS = spb.EXECUTION_POLICY_ALWAYS_CONFIRM
NEVER = spb.EXECUTION_POLICY_NEVER_CONFIRM


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_tools(settings.resolved_tools_dir)
    running = await start(
        settings.model_copy(update={"tool_timeout_seconds": 1.0, "max_tool_rounds": 3})
    )
    yield running
    release_event().set()
    await running.stop(0)


@pytest.fixture
def tools(channel: grpc.aio.Channel) -> ToolStub:
    return ToolStub(channel)


async def _session(
    sessions: SessionStub, names: list[str], policy: int = NEVER, **per_tool: int
) -> str:
    settings = spb.ToolSettings(tools=names, execution_policy=policy, tool_policies=per_tool)  # type: ignore[arg-type]
    created = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL, tool_settings=settings)
    )
    return created.session.session_id


def _call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


async def _stored(sessions: SessionStub, session_id: str) -> list[spb.Message]:
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
    return list(got.messages)


async def test_tools_are_discovered_with_their_schemas(tools: ToolStub) -> None:
    listed = await tools.ListTools(tpb.ListToolsRequest())

    names = [t.name for t in listed.tools]
    assert names == ["explode", "multiply_numbers", "shout", "wait_for_release"]
    assert [(e.module, "broken" in e.error) for e in listed.load_errors] == [("broken", True)]
    multiply = (await tools.GetTool(tpb.GetToolRequest(name="multiply_numbers"))).tool
    assert multiply.description.startswith("Multiply two numbers.")
    params = json_format.MessageToDict(multiply.parameters)
    assert params["type"] == "object"
    assert params["required"] == ["a", "b"]
    assert params["properties"]["a"] == {"type": "integer", "description": "The first number"}


async def test_an_unknown_tool_is_not_found(tools: ToolStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tools.GetTool(tpb.GetToolRequest(name="no_hints"))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "TOOL_NOT_FOUND")


async def test_reload_finds_new_tool_modules(tools: ToolStub, settings: Settings) -> None:
    extra = settings.resolved_tools_dir / "greeting"
    extra.mkdir()
    (extra / "__init__.py").write_text(
        "def greet(name: str) -> str:\n    '''Greets.'''\n    return 'hi ' + name\n"
    )

    reloaded = await tools.ReloadTools(tpb.ReloadToolsRequest())

    assert reloaded.tools_count == 5
    assert (await tools.GetTool(tpb.GetToolRequest(name="greet"))).tool.name == "greet"


async def test_never_confirm_tool_runs_and_the_answer_follows(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["multiply_numbers"])
    fake_ollama.script(
        Reply(tool_calls=[_call("multiply_numbers", a=12, b="5")]), Reply(content=["It is ", "60"])
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="12 x 5?"))
    )

    assert runs([case(e) for e in events]) == [
        "tool_call",
        "tool_result",
        "tool_continuation_start",
        "content_delta",
        "message_complete",
        "done",
    ]
    started, result, cont = events[0].tool_call, events[1].tool_result, events[2]
    assert (started.tool_name, dict(started.arguments), started.call_index) == (
        "multiply_numbers",
        {"a": 12, "b": "5"},
        0,
    )
    assert started.tool_call_id.startswith("call_")
    assert (result.success, result.result, result.tool_call_id) == (
        True,
        "60",
        started.tool_call_id,
    )
    assert cont.tool_continuation_start.tool_count == 1
    assert text_of(events) == "It is 60"
    first, second = fake_ollama.requests
    assert [t["function"]["name"] for t in first.tools] == ["multiply_numbers"]
    assistant, tool = second.messages[-2:]
    assert (assistant["role"], assistant.get("content", "")) == ("assistant", "")
    assert assistant["tool_calls"] == [
        {"function": {"name": "multiply_numbers", "arguments": {"a": 12, "b": "5"}}}
    ]
    assert tool == {"role": "tool", "content": "60", "tool_name": "multiply_numbers"}
    stored = await _stored(sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_USER, "12 x 5?"),
        (spb.ROLE_ASSISTANT, ""),
        (spb.ROLE_TOOL, "60"),
        (spb.ROLE_ASSISTANT, "It is 60"),
    ]
    assert stored[1].tool_calls[0].name == "multiply_numbers"
    assert stored[2].tool_name == "multiply_numbers"


async def test_two_calls_in_one_round_run_in_order(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["multiply_numbers", "shout"])
    fake_ollama.script(
        Reply(tool_calls=[_call("shout", text="hey"), _call("multiply_numbers", a=2, b=3)]),
        Reply(content=["done"]),
    )

    response = await chat.Chat(cpb.ChatRequest(session_id=session_id, message="both"))

    assert [(c.name, c.success) for c in response.tool_calls_executed] == [
        ("shout", True),
        ("multiply_numbers", True),
    ]
    tool_messages = [m for m in fake_ollama.requests[1].messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["HEY", "6"]


async def test_always_confirm_waits_and_runs_when_approved(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"], ALWAYS)
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="ok")]), Reply(content=["fine"]))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    asked = await asyncio.wait_for(call.read(), GUARD)
    assert isinstance(asked, cpb.ChatEvent)
    pending = asked.tool_call_confirmation_required
    assert (pending.tool_name, pending.confirmation_id[:5]) == ("shout", "conf_")
    assert math_tools().calls == []  # nothing ran before the answer

    answer = await chat.ConfirmToolCall(
        cpb.ConfirmToolCallRequest(
            session_id=session_id, confirmation_id=pending.confirmation_id, approved=True
        )
    )
    rest = await read_rest(call)

    assert (answer.tool_name, answer.message) == ("shout", "Tool 'shout' execution approved")
    assert runs([case(e) for e in rest])[:2] == ["tool_result", "tool_continuation_start"]
    assert rest[0].tool_result.result == "OK"
    assert case(rest[-1]) == "done"


async def test_a_denied_call_does_not_run_and_the_model_is_told(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"], NEVER, shout=ALWAYS)
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="no")]), Reply(content=["ok"]))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    asked = await asyncio.wait_for(call.read(), GUARD)
    assert isinstance(asked, cpb.ChatEvent)
    confirmation_id = asked.tool_call_confirmation_required.confirmation_id

    await chat.ConfirmToolCall(
        cpb.ConfirmToolCallRequest(
            session_id=session_id, confirmation_id=confirmation_id, approved=False
        )
    )
    rest = await read_rest(call)

    assert "tool_result" not in [case(e) for e in rest]
    assert rest[0].tool_continuation_start.tool_count == 0
    assert math_tools().calls == []
    assert fake_ollama.requests[1].messages[-1] == {
        "role": "tool",
        "content": "Tool 'shout' was denied by user",
        "tool_name": "shout",
    }
    with pytest.raises(grpc.aio.AioRpcError) as again:  # answered once only
        await chat.ConfirmToolCall(
            cpb.ConfirmToolCallRequest(
                session_id=session_id, confirmation_id=confirmation_id, approved=True
            )
        )
    assert error_info(again.value).reason == "CONFIRMATION_NOT_FOUND"


async def test_a_confirmation_of_another_session_is_not_found(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"], ALWAYS)
    other = await _session(sessions, [])
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="x")]))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    asked = await asyncio.wait_for(call.read(), GUARD)
    assert isinstance(asked, cpb.ChatEvent)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await chat.ConfirmToolCall(
            cpb.ConfirmToolCallRequest(
                session_id=other,
                confirmation_id=asked.tool_call_confirmation_required.confirmation_id,
                approved=True,
            )
        )

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "CONFIRMATION_NOT_FOUND")
    call.cancel()


async def test_hanging_up_during_a_confirmation_counts_as_denial_and_keeps_the_turn(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(sessions, ["shout"], ALWAYS)
    fake_ollama.script(Reply(content=["Let me check."], tool_calls=[_call("shout", text="x")]))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    while True:
        event = await asyncio.wait_for(call.read(), GUARD)
        assert isinstance(event, cpb.ChatEvent)
        if case(event) == "tool_call_confirmation_required":
            break

    call.cancel()
    await asyncio.wait_for(server.engine.drain(), GUARD)

    stored = await _stored(sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_USER, "go"),
        (spb.ROLE_ASSISTANT, "Let me check."),
        (spb.ROLE_TOOL, "Tool 'shout' was denied by user"),
    ]
    assert stored[1].partial_reason == "cancelled"
    assert len(fake_ollama.requests) == 1
    assert math_tools().calls == []


async def test_a_raising_tool_fails_and_the_turn_goes_on(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["explode"])
    fake_ollama.script(
        Reply(tool_calls=[_call("explode", reason="test")]), Reply(content=["sorry"])
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    )

    result = next(e.tool_result for e in events if case(e) == "tool_result")
    assert (result.success, result.result) == (False, "")
    assert "boom: test" in result.error_message
    assert "boom: test" in fake_ollama.requests[1].messages[-1]["content"]
    assert text_of(events) == "sorry"


async def test_a_hanging_tool_times_out_without_blocking_other_streams(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    hanging = await _session(sessions, ["wait_for_release"])
    other = await _session(sessions, [])
    fake_ollama.script(Reply(tool_calls=[_call("wait_for_release")]))
    slow = chat.ChatStream(cpb.ChatStreamRequest(session_id=hanging, message="wait"))
    first = await asyncio.wait_for(slow.read(), GUARD)
    assert isinstance(first, cpb.ChatEvent) and case(first) == "tool_call"

    quick = await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=other, message="hi")))
    rest = await read_rest(slow)

    assert case(quick[-1]) == "done"  # finished while the tool was still stuck
    result = rest[0].tool_result
    assert not result.success
    assert "did not finish" in result.error_message
    release_event().set()


async def test_a_tool_not_enabled_for_the_session_is_not_run(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"])
    fake_ollama.script(
        Reply(tool_calls=[_call("multiply_numbers", a=1, b=2)]), Reply(content=["k"])
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    )

    result = next(e.tool_result for e in events if case(e) == "tool_result")
    assert not result.success
    assert "not available" in result.error_message
    assert math_tools().calls == []


async def test_unary_chat_cannot_ask_for_a_confirmation(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"], ALWAYS)
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="x")]))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await chat.Chat(cpb.ChatRequest(session_id=session_id, message="go"))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONFIRMATION_REQUIRES_STREAMING",
    )
    assert math_tools().calls == []
    assert await _stored(sessions, session_id) == []  # refused: nothing changed


async def test_tool_rounds_are_bounded(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"])
    fake_ollama.script(
        *(Reply(tool_calls=[_call("shout", text=str(i))]) for i in range(3)),
        Reply(content=["enough"]),
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="go"))
    )

    assert len(fake_ollama.requests) == 4
    assert fake_ollama.requests[-1].tools == []
    assert text_of(events) == "enough"


async def test_a_call_that_cannot_run_needs_no_confirmation(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, ["shout"], ALWAYS)
    fake_ollama.script(Reply(tool_calls=[_call("made_up", x=1)]), Reply(content=["ok"]))

    response = await chat.Chat(cpb.ChatRequest(session_id=session_id, message="go"))

    assert [(c.name, c.success) for c in response.tool_calls_executed] == [("made_up", False)]
    assert "not available" in fake_ollama.requests[1].messages[-1]["content"]
