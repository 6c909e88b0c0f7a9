"""Agents inside chat turns over gRPC: the two phases, the events, the agent's
own session, going on with it, policies, cancellation, models without tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import json_format

from mochi_grpc._gen.mochi.v1 import agent_service_pb2 as apb
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import AgentStub, ChatStub, SessionStub
from tests.agents_fixture import VALID_AGENT, VALID_TOOL, write_agents
from tests.fakes import FakeModel, FakeOllama, Reply
from tests.support import case, collect, error_info, read_rest, runs

MODEL = "llama3.2:latest"
NEVER = spb.EXECUTION_POLICY_NEVER_CONFIRM
ALWAYS = spb.EXECUTION_POLICY_ALWAYS_CONFIRM
WORDS = "one two three"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_agents(settings.resolved_agents_dir)
    running = await start(settings.model_copy(update={"max_agent_iterations": 3}))
    yield running
    await running.stop(0)


@pytest.fixture
def agents(channel: grpc.aio.Channel) -> AgentStub:
    return AgentStub(channel)


async def _session(
    sessions: SessionStub, policy: int = NEVER, model: str = MODEL, enabled: str = VALID_AGENT
) -> str:
    created = await sessions.CreateSession(
        pb.CreateSessionRequest(
            model=model,
            tool_settings=spb.ToolSettings(execution_policy=policy),  # type: ignore[arg-type]
            agent_settings=spb.AgentSettings(enabled_agents=[enabled]),
        )
    )
    return created.session.session_id


def _delegation(instruction: str, session_id: str | None = None) -> Reply:
    arguments = {"agent": VALID_AGENT, "instruction": instruction}
    if session_id is not None:
        arguments["session_id"] = session_id
    return Reply(tool_calls=[{"name": "agent", "arguments": arguments}])


def _agent_work() -> list[Reply]:
    """The agent's plan, its tool call, its answer."""
    return [
        Reply(content=["Plan: ", "count ", "the ", "words."]),
        Reply(
            content=["Counting."], tool_calls=[{"name": VALID_TOOL, "arguments": {"text": WORDS}}]
        ),
        Reply(content=["There ", "are ", "3 ", "words."]),
    ]


async def test_a_delegated_task_runs_in_two_phases_and_the_turn_goes_on(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub, agents: AgentStub
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(
        _delegation(f"Count the words in '{WORDS}'"),
        *_agent_work(),
        Reply(content=["The ", "agent ", "counted ", "3."]),
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="How many words?"))
    )

    assert runs([case(e) for e in events]) == [
        "tool_call",
        "agent_start",
        "agent_planning",
        "agent_execution",
        "agent_tool_call",
        "agent_tool_result",
        "agent_execution",
        "agent_complete",
        "tool_result",
        "tool_continuation_start",
        "content_delta",
        "message_complete",
        "done",
    ]
    by_case = {case(e): e for e in events}
    assert by_case["agent_start"].agent_start.agent_name == VALID_AGENT
    assert by_case["agent_start"].agent_start.instruction == f"Count the words in '{WORDS}'"
    planning = "".join(e.agent_planning.content for e in events if case(e) == "agent_planning")
    assert planning == "Plan: count the words."
    call = by_case["agent_tool_call"].agent_tool_call
    assert (call.tool_name, json_format.MessageToDict(call.arguments)) == (
        VALID_TOOL,
        {"text": WORDS},
    )
    result = by_case["agent_tool_result"].agent_tool_result
    assert (result.tool_name, result.success, result.result) == (VALID_TOOL, True, "3")
    complete = by_case["agent_complete"].agent_complete
    assert complete.output.startswith(f"Session ID: {complete.session_id}")
    assert "There are 3 words." in complete.output
    assert "Tool result (count_words): 3" in complete.output
    tool_result = by_case["tool_result"].tool_result
    assert (tool_result.tool_name, tool_result.result) == ("agent", complete.output)

    # The requests: main (offering `agent`), planning (no tools), execution
    # with the agent's tool twice, main again with the agent's output.
    main, plan, work1, work2, final = fake_ollama.requests
    assert [t["function"]["name"] for t in main.tools] == ["agent"]
    assert VALID_AGENT in main.tools[0]["function"]["description"]
    assert plan.tools == []
    assert plan.messages[0]["role"] == "system"  # SKILL.md's prompt
    assert plan.messages[-1]["role"] == "system"  # the planning prompt, request only
    assert [t["function"]["name"] for t in work1.tools] == [VALID_TOOL]
    assert work2.messages[-2] == {"role": "tool", "content": "3", "tool_name": VALID_TOOL}
    assert final.messages[-1]["role"] == "tool"
    assert final.messages[-1]["content"] == complete.output

    # The agent's session: listed with the agents' chats, not the user's.
    listed = await sessions.ListSessions(pb.ListSessionsRequest())
    assert [s.session_id for s in listed.sessions] == [session_id]
    chats = await agents.ListAgentChats(apb.ListAgentChatsRequest())
    assert [(s.session_id, s.agent_name) for s in chats.sessions] == [
        (complete.session_id, VALID_AGENT)
    ]
    chat_of_agent = await agents.GetAgentChat(
        apb.GetAgentChatRequest(session_id=complete.session_id)
    )
    stored = [(m.role, m.content, m.tool_name) for m in chat_of_agent.messages]
    assert stored[1:] == [
        (spb.ROLE_USER, f"Count the words in '{WORDS}'", ""),
        (spb.ROLE_ASSISTANT, "Plan: count the words.", ""),
        (spb.ROLE_ASSISTANT, "Counting.", ""),
        (spb.ROLE_TOOL, "3", VALID_TOOL),
        (spb.ROLE_ASSISTANT, "There are 3 words.", ""),
    ]
    assert stored[0][0] == spb.ROLE_SYSTEM
    assert [c.name for c in chat_of_agent.messages[3].tool_calls] == [VALID_TOOL]

    # The main session: user, the call, the agent's output as the tool result, the reply.
    main_stored = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).messages
    assert [(m.role, m.tool_name) for m in main_stored] == [
        (spb.ROLE_USER, ""),
        (spb.ROLE_ASSISTANT, ""),
        (spb.ROLE_TOOL, "agent"),
        (spb.ROLE_ASSISTANT, ""),
    ]
    assert main_stored[2].content == complete.output
    assert main_stored[3].content == "The agent counted 3."

    # The ended turn replays from the store with the same events.
    replayed = await collect(chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id)))
    assert [(e.event_id, case(e)) for e in replayed if case(e).startswith("agent_")] == [
        (e.event_id, case(e)) for e in events if case(e).startswith("agent_")
    ]
    assert next(e for e in replayed if case(e) == "agent_tool_call") == by_case["agent_tool_call"]


async def test_a_second_call_with_the_session_id_goes_on_with_the_agent_conversation(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub, agents: AgentStub
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(_delegation("Count these: one two"), *_agent_work(), Reply(content=["ok"]))
    first = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="a"))
    )
    agent_session = next(e for e in first if case(e) == "agent_complete").agent_complete.session_id

    fake_ollama.script(
        _delegation("And now these: four five", agent_session),
        *_agent_work(),
        Reply(content=["ok"]),
    )
    second = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="b"))
    )

    again = next(e for e in second if case(e) == "agent_complete").agent_complete
    assert again.session_id == agent_session
    planning_request = fake_ollama.requests[6]
    contents = [m.get("content") for m in planning_request.messages]
    assert "Count these: one two" in contents  # the earlier conversation is there
    assert contents[-2] == "And now these: four five"
    chat_of_agent = await agents.GetAgentChat(apb.GetAgentChatRequest(session_id=agent_session))
    users = [m.content for m in chat_of_agent.messages if m.role == spb.ROLE_USER]
    assert users == ["Count these: one two", "And now these: four five"]
    assert len((await agents.ListAgentChats(apb.ListAgentChatsRequest())).sessions) == 1


async def test_an_unknown_conversation_id_is_a_failed_call_the_model_is_told_of(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub, agents: AgentStub
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(_delegation("go on", session_id), Reply(content=["Sorry."]))

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="x"))
    )

    assert "agent_start" not in [case(e) for e in events]
    result = next(e for e in events if case(e) == "tool_result").tool_result
    assert not result.success
    assert f"no conversation {session_id} of agent '{VALID_AGENT}'" in result.error_message
    assert fake_ollama.requests[-1].messages[-1]["content"].startswith("Error: ")
    assert (await agents.ListAgentChats(apb.ListAgentChatsRequest())).sessions == []


async def test_the_agent_call_waits_for_confirmation_like_any_tool(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub
) -> None:
    session_id = await _session(sessions, policy=ALWAYS)
    fake_ollama.script(_delegation("count"), *_agent_work(), Reply(content=["done"]))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="x"))
    asked = await call.read()
    assert isinstance(asked, cpb.ChatEvent)
    assert case(asked) == "tool_call_confirmation_required"
    assert asked.tool_call_confirmation_required.tool_name == "agent"
    assert len(fake_ollama.requests) == 1  # the agent has not started

    await chat.ConfirmToolCall(
        cpb.ConfirmToolCallRequest(
            session_id=session_id,
            confirmation_id=asked.tool_call_confirmation_required.confirmation_id,
            approved=True,
        )
    )
    rest = await read_rest(call)

    assert "agent_complete" in [case(e) for e in rest]
    assert case(rest[-1]) == "done"


async def test_hanging_up_during_the_agent_s_work_stops_it_and_keeps_its_work(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub, agents: AgentStub
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(
        _delegation("count"),
        Reply(content=["Plan."]),
        Reply(content=["Working ", "on ", "it ", "slowly"], chunk_delay=0.05, hang_after=2),
    )
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="x"))
    seen: list[str] = []
    async for event in call:
        seen.append(case(event))
        if seen.count("agent_execution") == 2:
            break
    work = fake_ollama.requests[2]
    call.cancel()

    await asyncio.wait_for(work.disconnected.wait(), 5.0)
    chats = (await agents.ListAgentChats(apb.ListAgentChatsRequest())).sessions
    assert len(chats) == 1
    messages = (
        await agents.GetAgentChat(apb.GetAgentChatRequest(session_id=chats[0].session_id))
    ).messages
    assert [(m.content, m.partial_reason) for m in messages[2:]] == [
        ("Plan.", ""),
        ("Working on ", "cancelled"),
    ]
    main = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).messages
    assert [(m.role, m.partial_reason) for m in main] == [
        (spb.ROLE_USER, ""),
        (spb.ROLE_ASSISTANT, "cancelled"),
        (spb.ROLE_TOOL, ""),
    ]
    assert chats[0].session_id in main[2].content


async def test_a_model_without_tool_calling_is_refused_before_the_turn_starts(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub
) -> None:
    fake_ollama.add_model(FakeModel("plain:latest", capabilities=["completion"]))
    session_id = await _session(sessions, model="plain:latest")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="x")))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "AGENTS_UNSUPPORTED")
    assert "cannot call tools" in info.message
    assert fake_ollama.requests == []
    stored = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
    assert list(stored.messages) == []


async def test_an_invalid_enabled_agent_offers_no_agent_tool(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub
) -> None:
    session_id = await _session(sessions, enabled="broken")

    await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="hi")))

    assert fake_ollama.requests[0].tools == []


async def test_an_agent_that_keeps_calling_tools_is_stopped_at_the_round_limit(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub
) -> None:
    session_id = await _session(sessions)
    count = Reply(tool_calls=[{"name": VALID_TOOL, "arguments": {"text": WORDS}}])
    fake_ollama.script(
        _delegation("count forever"), Reply(content=["Plan."]), count, count, count, Reply()
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="x"))
    )

    kinds = [case(e) for e in events]
    assert kinds.count("agent_tool_call") == 3  # max_agent_iterations
    output = next(e for e in events if case(e) == "agent_complete").agent_complete.output
    assert "stopped after 3 rounds" in output
    assert case(events[-1]) == "done"


async def test_an_agent_whose_model_fails_is_a_failed_call_and_the_turn_goes_on(
    fake_ollama: FakeOllama, sessions: SessionStub, chat: ChatStub, agents: AgentStub
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(
        _delegation("count"),
        Reply(content=["Half ", "a ", "plan"], error_after=2),
        Reply(content=["The agent failed."]),
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="x"))
    )

    result = next(e for e in events if case(e) == "tool_result").tool_result
    assert not result.success
    assert f"Agent '{VALID_AGENT}' failed" in result.error_message
    assert "agent_complete" not in [case(e) for e in events]
    assert case(events[-1]) == "done"
    chats = (await agents.ListAgentChats(apb.ListAgentChatsRequest())).sessions
    messages = (
        await agents.GetAgentChat(apb.GetAgentChatRequest(session_id=chats[0].session_id))
    ).messages
    assert (messages[-1].content, messages[-1].partial_reason) == ("Half a ", "ollama_error")
