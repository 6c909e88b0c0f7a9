"""Tool calling over HTTP and SSE: discovery, the tool loop, confirmations, faults.

The bridge runs on uvicorn in front of the real gRPC server, which loads the
tools of tests.tools_fixture and runs them in this process.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.e2e.sse_support import GUARD, names, open_stream, read_until, stream_events, text
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.support import runs
from tests.tools_fixture import math_tools, release_event, write_tools

Json = dict[str, Any]

MODEL = "llama3.2:latest"
TOOL_TIMEOUT_SECONDS = 0.5
PING_SECONDS = 0.05
MATH_TOOLS = ["explode", "multiply_numbers", "shout", "wait_for_release"]
BROKEN_MODULE = {"module": "broken", "error": "ImportError: this tool module is broken"}
GREETING = "def greet(name: str) -> str:\n    '''Greets.'''\n    return 'hi ' + name\n"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The gRPC server, with the test tools in place before it starts."""
    write_tools(settings.resolved_tools_dir)
    running = await start(
        settings.model_copy(update={"tool_timeout_seconds": TOOL_TIMEOUT_SECONDS})
    )
    yield running
    release_event().set()
    await running.stop(0)


@pytest.fixture
async def pinging_http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second bridge over the same server that pings idle streams often."""
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}", sse_ping_seconds=PING_SECONDS)
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as client:
            yield client
    finally:
        await bridge.stop()


async def _session(
    http: httpx.AsyncClient, tools: list[str], policy: str = "never_confirm", **per_tool: str
) -> str:
    settings = {"tools": tools, "execution_policy": policy, "tool_policies": per_tool}
    response = await http.post("/sessions", json={"model": MODEL, "tool_settings": settings})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def _call(name: str, **arguments: object) -> Json:
    return {"name": name, "arguments": arguments}


def _stream(session_id: str) -> str:
    return f"/chat/{session_id}/stream"


async def _confirm(
    http: httpx.AsyncClient, session_id: str, confirmation_id: str, approved: bool
) -> httpx.Response:
    return await http.post(
        f"/chat/{session_id}/confirm-tool",
        json={"confirmation_id": confirmation_id, "approved": approved},
    )


async def _stored(http: httpx.AsyncClient, session_id: str) -> list[Json]:
    response = await http.get(f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    messages: list[Json] = response.json()["messages"]
    return messages


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _exact(value: object) -> str:
    """JSON text with sorted keys: tells 12 from 12.0, which == does not."""
    return json.dumps(value, sort_keys=True)


def _denied(tool_name: str) -> str:
    return f"Tool '{tool_name}' was denied by user"


# -- discovery ------------------------------------------------------------------


async def test_tools_are_listed_with_their_schemas(http: httpx.AsyncClient) -> None:
    listed = (await http.get("/tools")).json()
    one = await http.get("/tools/multiply_numbers")

    assert list(listed["tools"]) == MATH_TOOLS
    assert listed["load_errors"] == [BROKEN_MODULE]
    multiply = listed["tools"]["multiply_numbers"]
    assert set(multiply) == {"name", "description", "parameters"}
    assert multiply["name"] == "multiply_numbers"
    assert multiply["description"].startswith("Multiply two numbers.\n\nArgs:")
    assert multiply["parameters"] == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first number"},
            "b": {"type": "integer", "description": "The second number"},
        },
        "required": ["a", "b"],
    }
    assert (one.status_code, one.json()) == (200, multiply)


@pytest.mark.parametrize("name", ["no_hints", "reload"])
async def test_an_unknown_tool_is_not_found(http: httpx.AsyncClient, name: str) -> None:
    response = await http.get(f"/tools/{name}")

    assert _error(response) == (404, "TOOL_NOT_FOUND")


async def test_reload_finds_a_new_tool_module(http: httpx.AsyncClient, settings: Settings) -> None:
    module = settings.resolved_tools_dir / "greeting"
    module.mkdir()
    (module / "__init__.py").write_text(GREETING)
    before = await http.get("/tools/greet")

    reloaded = await http.post("/tools/reload")
    after = await http.get("/tools/greet")

    assert _error(before) == (404, "TOOL_NOT_FOUND")  # found only by a reload
    assert (reloaded.status_code, reloaded.json()) == (
        200,
        {
            "success": True,
            "tools_count": 5,
            "message": "Successfully reloaded 5 tools",
            "load_errors": [BROKEN_MODULE],
        },
    )
    assert (after.status_code, after.json()["name"]) == (200, "greet")


# -- the tool loop --------------------------------------------------------------


async def test_a_tool_that_needs_no_confirmation_runs_and_the_answer_follows(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, ["multiply_numbers"])
    fake_ollama.script(
        Reply(tool_calls=[_call("multiply_numbers", a=12, b=5)]), Reply(content=["It is ", "60"])
    )

    events = await stream_events(http, _stream(session_id), {"message": "12 x 5?"})

    assert runs(names(events)) == [
        "tool_call",
        "tool_result",
        "tool_continuation_start",
        "content_delta",
        "message_complete",
        "done",
    ]
    started, result, carried_on = (e.data for e in events[:3])
    assert re.fullmatch(r"call_[0-9a-f]+", started["tool_call_id"])
    assert _exact(started["arguments"]) == _exact({"a": 12, "b": 5})
    assert started == {
        "tool_name": "multiply_numbers",
        "arguments": {"a": 12, "b": 5},
        "call_index": 0,
        "tool_call_id": started["tool_call_id"],
    }
    assert result == {
        "tool_name": "multiply_numbers",
        "success": True,
        "result": "60",
        "error_message": None,
        "error": None,
        "call_index": 0,
        "tool_call_id": started["tool_call_id"],
    }
    assert set(carried_on) == {"message", "tool_count"}
    assert carried_on["tool_count"] == 1
    assert text(events) == "It is 60"


async def test_the_model_gets_the_result_and_the_whole_turn_is_stored(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, ["multiply_numbers"])
    fake_ollama.script(
        Reply(tool_calls=[_call("multiply_numbers", a=12, b=5)]), Reply(content=["It is 60"])
    )

    await stream_events(http, _stream(session_id), {"message": "12 x 5?"})

    tool_calls = [{"function": {"name": "multiply_numbers", "arguments": {"a": 12, "b": 5}}}]
    first, second = fake_ollama.requests
    assert [t["function"]["name"] for t in first.tools] == ["multiply_numbers"]
    asked, answered = second.messages[-2:]
    assert (asked["role"], asked["tool_calls"]) == ("assistant", tool_calls)
    assert answered == {"role": "tool", "content": "60", "tool_name": "multiply_numbers"}
    stored = await _stored(http, session_id)
    assert [(m["role"], m["content"], m["tool_name"]) for m in stored] == [
        ("user", "12 x 5?", None),
        ("assistant", "", None),
        ("tool", "60", "multiply_numbers"),
        ("assistant", "It is 60", None),
    ]
    assert _exact([m["tool_calls"] for m in stored]) == _exact([None, tool_calls, None, None])


@pytest.mark.parametrize(
    ("call", "failure"),
    [
        (_call("explode", reason="test"), "boom: test"),
        (_call("wait_for_release"), f"did not finish within {TOOL_TIMEOUT_SECONDS:g} s"),
    ],
    ids=["raising", "hanging"],
)
async def test_a_failing_tool_gives_a_failed_result_and_the_turn_goes_on(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, call: Json, failure: str
) -> None:
    session_id = await _session(http, [call["name"]])
    fake_ollama.script(Reply(tool_calls=[call]), Reply(content=["Sorry."]))

    events = await stream_events(http, _stream(session_id), {"message": "go"})

    result = next(e.data for e in events if e.name == "tool_result")
    assert (result["success"], result["result"]) == (False, "")
    assert failure in result["error_message"]
    assert result["error"] == result["error_message"]
    assert names(events)[-2:] == ["message_complete", "done"]
    assert text(events) == "Sorry."
    told = fake_ollama.requests[1].messages[-1]
    assert (told["role"], failure in told["content"]) == ("tool", True)
    stored = await _stored(http, session_id)
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "go"),
        ("assistant", ""),
        ("tool", told["content"]),
        ("assistant", "Sorry."),
    ]


# -- confirmations --------------------------------------------------------------


async def test_an_approved_call_runs_once_confirmed(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, ["shout"], "always_confirm")
    other = await _session(http, [])
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="ok")]), Reply(content=["Fine."]))

    async with open_stream(http, _stream(session_id), {"message": "go"}) as events:
        asked = (await read_until(events, "tool_call_confirmation_required"))[-1].data
        ran_before = list(math_tools().calls)
        elsewhere = await _confirm(http, other, asked["confirmation_id"], True)
        answered = await _confirm(http, session_id, asked["confirmation_id"], True)
        rest = [e async for e in events]

    assert re.fullmatch(r"conf_[0-9a-f]{12}", asked["confirmation_id"])
    assert asked == {
        "confirmation_id": asked["confirmation_id"],
        "tool_name": "shout",
        "arguments": {"text": "ok"},
        "call_index": 0,
        "tool_call_id": asked["tool_call_id"],
    }
    assert ran_before == []
    assert _error(elsewhere) == (404, "CONFIRMATION_NOT_FOUND")
    assert (answered.status_code, answered.json()) == (
        200,
        {"success": True, "tool_name": "shout", "message": "Tool 'shout' execution approved"},
    )
    assert runs(names(rest)) == [
        "tool_result",
        "tool_continuation_start",
        "content_delta",
        "message_complete",
        "done",
    ]
    assert (rest[0].data["result"], rest[0].data["tool_call_id"]) == ("OK", asked["tool_call_id"])
    assert rest[1].data["tool_count"] == 1


async def test_a_denied_call_does_not_run_and_the_model_is_told(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, ["shout"], "never_confirm", shout="always_confirm")
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="no")]), Reply(content=["Okay."]))

    async with open_stream(http, _stream(session_id), {"message": "go"}) as events:
        asked = (await read_until(events, "tool_call_confirmation_required"))[-1].data
        answered = await _confirm(http, session_id, asked["confirmation_id"], False)
        rest = [e async for e in events]
    again = await _confirm(http, session_id, asked["confirmation_id"], True)

    assert answered.json() == {
        "success": True,
        "tool_name": "shout",
        "message": "Tool 'shout' execution denied",
    }
    assert runs(names(rest)) == [
        "tool_continuation_start",
        "content_delta",
        "message_complete",
        "done",
    ]
    assert rest[0].data["tool_count"] == 0
    assert math_tools().calls == []
    denial = {"role": "tool", "content": _denied("shout"), "tool_name": "shout"}
    assert fake_ollama.requests[1].messages[-1] == denial
    assert _error(again) == (404, "CONFIRMATION_NOT_FOUND")  # answered once only
    stored = await _stored(http, session_id)
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "go"),
        ("assistant", ""),
        ("tool", _denied("shout")),
        ("assistant", "Okay."),
    ]


async def _next_line(lines: AsyncIterator[str], wanted: Callable[[str], bool]) -> str:
    """The next line of the raw stream that is `wanted`, skipping the others."""
    while not wanted(line := await asyncio.wait_for(anext(lines), GUARD)):
        pass
    return line


async def test_pings_keep_the_stream_open_while_a_call_waits(
    pinging_http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    # Read raw, since SSE clients hide comment lines such as pings.
    session_id = await _session(pinging_http, ["shout"], "always_confirm")
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="ok")]), Reply(content=["Fine."]))

    body = {"message": "go"}
    async with pinging_http.stream("POST", _stream(session_id), json=body) as response:
        lines = response.aiter_lines()
        await _next_line(lines, lambda line: line == "event: tool_call_confirmation_required")
        data = await _next_line(lines, lambda line: line.startswith("data: "))
        ping = await _next_line(lines, lambda line: line.startswith(":"))
        confirmation_id = json.loads(data.removeprefix("data: "))["confirmation_id"]
        answered = await _confirm(pinging_http, session_id, confirmation_id, True)
        rest = [line async for line in lines]

    assert ping.startswith(": ping")
    assert answered.status_code == 200
    assert [line for line in rest if line.startswith("event: ")][-3:] == [
        "event: content_delta",
        "event: message_complete",
        "event: done",
    ]
    assert "event: tool_result" in rest


async def test_hanging_up_while_a_call_waits_counts_as_denial_and_keeps_the_turn(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(http, ["shout"], "always_confirm")
    fake_ollama.script(Reply(content=["Let me check."], tool_calls=[_call("shout", text="x")]))

    async with open_stream(http, _stream(session_id), {"message": "go"}) as events:
        asked = (await read_until(events, "tool_call_confirmation_required"))[-1].data
    # Leaving the block closed the connection while the call was waiting.
    await asyncio.wait_for(server.engine.drain(), GUARD)
    late = await _confirm(http, session_id, asked["confirmation_id"], True)

    stored = await _stored(http, session_id)
    assert [(m["role"], m["content"], m["tool_name"]) for m in stored] == [
        ("user", "go", None),
        ("assistant", "Let me check.", None),
        ("tool", _denied("shout"), "shout"),
    ]
    assert stored[1]["tool_calls"] == [{"function": {"name": "shout", "arguments": {"text": "x"}}}]
    assert len(fake_ollama.requests) == 1
    assert math_tools().calls == []
    assert _error(late) == (404, "CONFIRMATION_NOT_FOUND")


# -- whole turns ----------------------------------------------------------------


async def test_a_whole_turn_lists_the_tool_calls_it_ran(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, ["multiply_numbers"])
    fake_ollama.script(
        Reply(tool_calls=[_call("multiply_numbers", a=2, b=3)]), Reply(content=["It is 6"])
    )

    response = await http.post(f"/chat/{session_id}", json={"message": "2 x 3?"})

    assert response.status_code == 200, response.text
    turn = response.json()
    assert _exact(turn["tool_calls_executed"]) == _exact(
        [{"name": "multiply_numbers", "arguments": {"a": 2, "b": 3}, "success": True}]
    )
    assert (turn["message"]["content"], turn["message"]["tool_calls"]) == ("It is 6", None)


async def test_a_whole_turn_cannot_ask_for_a_confirmation(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http, ["shout"], "always_confirm")
    fake_ollama.script(Reply(tool_calls=[_call("shout", text="x")]))

    response = await http.post(f"/chat/{session_id}", json={"message": "go"})

    assert _error(response) == (400, "CONFIRMATION_REQUIRES_STREAMING")
    assert response.json()["error"]["details"] == {"tool_name": "shout"}
    assert math_tools().calls == []
