"""Agents inside chat turns over HTTP and SSE: the agent events with the
SPEC's payloads, the agent's chat under /agents/chats, hanging up mid-work,
a model that cannot call tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.agents_fixture import VALID_AGENT, VALID_TOOL, write_agents
from tests.e2e.sse_support import GUARD, names, open_stream, read_until, stream_events
from tests.fakes import FakeModel, FakeOllama, Reply
from tests.support import runs

Json = dict[str, Any]
MODEL = "llama3.2:latest"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_agents(settings.resolved_agents_dir)
    running = await start(settings)
    yield running
    await running.stop(0)


async def _session(http: httpx.AsyncClient, model: str = MODEL) -> str:
    response = await http.post(
        "/sessions",
        json={
            "model": model,
            "tool_settings": {"execution_policy": "never_confirm"},
            "agent_settings": {"enabled_agents": [VALID_AGENT]},
        },
    )
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def _delegation(session_id: str | None = None) -> Reply:
    arguments = {"agent": VALID_AGENT, "instruction": "Count the words in 'a b c d'"}
    if session_id is not None:
        arguments["session_id"] = session_id
    return Reply(tool_calls=[{"name": "agent", "arguments": arguments}])


async def test_the_stream_carries_the_agent_events_then_the_main_reply(
    fake_ollama: FakeOllama, http: httpx.AsyncClient
) -> None:
    session_id = await _session(http)
    fake_ollama.script(
        _delegation(),
        Reply(content=["1. ", "Count."]),
        Reply(tool_calls=[{"name": VALID_TOOL, "arguments": {"text": "a b c d"}}]),
        Reply(content=["Four ", "words."]),
        Reply(content=["It ", "has ", "4."]),
    )

    events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "count"})

    assert runs(names(events)) == [
        "tool_call",
        "agent_start",
        "agent_planning",
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
    data = {e.name: e.data for e in events}
    assert data["agent_start"] == {
        "agent_name": VALID_AGENT,
        "instruction": "Count the words in 'a b c d'",
    }
    assert data["agent_tool_call"] == {
        "agent_name": VALID_AGENT,
        "tool_name": VALID_TOOL,
        "arguments": {"text": "a b c d"},
    }
    assert data["agent_tool_result"] == {
        "agent_name": VALID_AGENT,
        "tool_name": VALID_TOOL,
        "success": True,
        "result": "4",
    }
    complete = data["agent_complete"]
    assert set(complete) == {"agent_name", "session_id", "output"}
    assert complete["output"].startswith(f"Session ID: {complete['session_id']}")
    assert data["tool_result"]["result"] == complete["output"]

    chats = (await http.get("/agents/chats")).json()
    assert [(s["session_id"], s["agent_name"]) for s in chats["sessions"]] == [
        (complete["session_id"], VALID_AGENT)
    ]
    assert [s["session_id"] for s in (await http.get("/sessions")).json()["sessions"]] == [
        session_id
    ]
    agent_chat = (await http.get(f"/agents/chats/{complete['session_id']}")).json()
    roles = [(m["role"], m["content"]) for m in agent_chat["messages"]]
    assert roles[1:3] == [("user", "Count the words in 'a b c d'"), ("assistant", "1. Count.")]
    assert ("tool", "4") in roles
    assert roles[-1] == ("assistant", "Four words.")

    # Going on with the same agent conversation.
    fake_ollama.script(
        _delegation(complete["session_id"]),
        Reply(content=["Again."]),
        Reply(content=["Still ", "four."]),
        Reply(content=["Done."]),
        Reply(content=["Yes."]),
    )
    again = await stream_events(http, f"/chat/{session_id}/stream", {"message": "again"})
    assert (
        next(e for e in again if e.name == "agent_complete").data["session_id"]
        == (complete["session_id"])
    )
    assert len((await http.get("/agents/chats")).json()["sessions"]) == 1


async def test_hanging_up_during_the_agent_s_work_stops_the_model_within_a_second(
    fake_ollama: FakeOllama, http: httpx.AsyncClient
) -> None:
    session_id = await _session(http)
    fake_ollama.script(
        _delegation(),
        Reply(content=["Plan."]),
        Reply(content=["Work ", "in ", "progress"], hang_after=2),
    )
    async with open_stream(http, f"/chat/{session_id}/stream", {"message": "go"}) as events:
        await read_until(events, "agent_execution")
        work = await fake_ollama.wait_for_request(3)
        await fake_ollama.wait_for_chunks(work, 2)
    # Leaving the block hung up.

    await asyncio.wait_for(work.disconnected.wait(), 1.0 + GUARD)
    chats = (await http.get("/agents/chats")).json()["sessions"]
    messages = (await http.get(f"/agents/chats/{chats[0]['session_id']}")).json()["messages"]
    assert [(m["content"], m.get("partial_reason")) for m in messages[-2:]] == [
        ("Plan.", None),
        ("Work in ", "cancelled"),
    ]


async def test_a_model_that_cannot_call_tools_is_refused_clearly(
    fake_ollama: FakeOllama, http: httpx.AsyncClient
) -> None:
    fake_ollama.add_model(FakeModel("plain:latest", capabilities=["completion"]))
    session_id = await _session(http, model="plain:latest")

    response = await http.post(f"/chat/{session_id}/stream", json={"message": "x"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "AGENTS_UNSUPPORTED"
    assert "cannot call tools" in error["message"]
    assert fake_ollama.requests == []
