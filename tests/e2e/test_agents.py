"""The /api/v1/agents routes through the bridge, each answer validated
against the OpenAPI document."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.agents_fixture import FIXTURE, VALID_AGENT, VALID_TOOL, store_agent_chat, write_agents
from tests.e2e.test_openapi import MODEL, UNKNOWN_SESSION, Api
from tests.embedded import EmbeddedServer

AGENTS: Final = "/agents"
AGENT: Final = "/agents/agent/{agent_name}"
RELOAD: Final = "/agents/reload"
CHATS: Final = "/agents/chats"
CHAT: Final = "/agents/chats/{session_id}"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_agents(settings.resolved_agents_dir)
    running = await start(settings)
    yield running
    await running.stop(0)


@pytest.fixture
def api(http: httpx.AsyncClient, bridge_url: str) -> Api:
    return Api(http, bridge_url)


async def test_the_agents_are_listed_the_invalid_ones_with_their_reason(api: Api) -> None:
    listed = (await api.send("GET", AGENTS, 200)).json()["agents"]

    assert sorted(listed) == ["broken", "faulty", VALID_AGENT]
    assert listed[VALID_AGENT] == {
        "name": VALID_AGENT,
        "description": "Counts the words of a text.",
        "model": MODEL,
        "valid": True,
        "tool_count": 1,
        "tools": [VALID_TOOL],
        "error_message": None,
    }
    assert listed["broken"]["valid"] is False
    assert "no description" in listed["broken"]["error_message"]
    assert listed["faulty"]["valid"] is False
    assert "the faulty agent's tools are broken" in listed["faulty"]["error_message"]
    assert listed["faulty"]["model"] is None


async def test_one_agent_is_found_refused_when_invalid_and_missing_when_unknown(
    api: Api,
) -> None:
    got = (await api.send("GET", AGENT, 200, params={"agent_name": VALID_AGENT})).json()
    invalid = await api.send(
        "GET", AGENT, 422, params={"agent_name": "faulty"}, code="AGENT_INVALID"
    )
    await api.send("GET", AGENT, 404, params={"agent_name": "nobody"}, code="AGENT_NOT_FOUND")

    assert (got["name"], got["tools"], got["error_message"]) == (VALID_AGENT, [VALID_TOOL], None)
    assert got["system_prompt"].startswith("You are Wordsmith.")
    error = invalid.json()["error"]
    assert "faulty" in error["message"] and "broken" in error["message"]
    assert error["details"]["agent_name"] == "faulty"


async def test_reload_finds_an_agent_added_to_the_directory(api: Api, settings: Settings) -> None:
    await api.send("GET", AGENT, 404, params={"agent_name": "counter"}, code="AGENT_NOT_FOUND")
    shutil.copytree(FIXTURE / VALID_AGENT, settings.resolved_agents_dir / "counter")

    reloaded = (await api.send("POST", RELOAD, 200)).json()
    got = (await api.send("GET", AGENT, 200, params={"agent_name": "counter"})).json()

    assert reloaded == {
        "success": True,
        "agents_count": 4,
        "valid_count": 2,
        "message": "Successfully reloaded 4 agents",
    }
    assert got["tools"] == [VALID_TOOL]


async def test_agent_chats_are_read_apart_from_the_sessions(
    api: Api, server: RunningServer
) -> None:
    user = await api.create_session()
    older = await store_agent_chat(server.store, VALID_AGENT, age_minutes=2)
    newer = await store_agent_chat(server.store, VALID_AGENT, age_minutes=1)

    first = (await api.send("GET", CHATS, 200, query={"page_size": 1})).json()
    query = {"page_size": 1, "page_token": first["next_page_token"]}
    second = (await api.send("GET", CHATS, 200, query=query)).json()
    sessions = (await api.send("GET", "/sessions", 200)).json()["sessions"]
    got = (await api.send("GET", CHAT, 200, params={"session_id": newer.session_id})).json()

    assert [s["session_id"] for s in first["sessions"]] == [newer.session_id]
    assert [s["session_id"] for s in second["sessions"]] == [older.session_id]
    assert second["next_page_token"] is None
    assert first["sessions"][0]["agent_name"] == VALID_AGENT
    assert first["sessions"][0]["preview"] == "Count the words of 'one two three'."
    assert [s["session_id"] for s in sessions] == [user["session_id"]]
    assert (got["session_id"], got["agent_name"]) == (newer.session_id, VALID_AGENT)
    assert [m["role"] for m in got["messages"]] == [
        "system",
        "user",
        "assistant",
        "assistant",
        "tool",
        "assistant",
    ]
    assert got["messages"][3]["tool_calls"] == [
        {"function": {"name": VALID_TOOL, "arguments": {"text": "one two three"}}}
    ]
    assert got["messages"][4]["tool_name"] == VALID_TOOL


async def test_agent_chat_routes_refuse_as_documented(api: Api) -> None:
    user = await api.create_session()
    for session_id in (user["session_id"], UNKNOWN_SESSION):
        params = {"session_id": session_id}
        await api.send("GET", CHAT, 404, params=params, code="SESSION_NOT_FOUND")
    invalid = "VALIDATION_ERROR"
    await api.send("GET", CHATS, 422, query={"page_size": 0}, code=invalid)
    await api.send("GET", CHATS, 422, query={"page_token": "!"}, code=invalid)


async def test_the_agent_routes_answer_503_without_the_grpc_server(
    api: Api, server: RunningServer
) -> None:
    await server.stop(0)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", AGENTS, {}),
        ("GET", AGENT, {"agent_name": VALID_AGENT}),
        ("POST", RELOAD, {}),
        ("GET", CHATS, {}),
        ("GET", CHAT, {"session_id": UNKNOWN_SESSION}),
    ]
    for method, path, params in calls:
        await api.send(method, path, 503, params=params, code="SERVICE_UNAVAILABLE")


# -- with API keys ------------------------------------------------------------


@pytest.fixture
async def keyed(settings: Settings) -> AsyncIterator[tuple[RunningServer, dict[str, Api]]]:
    """A server requiring keys behind a bridge, and an Api for alice, bob and
    root (admin)."""
    write_agents(settings.resolved_agents_dir)
    running = await start(settings.model_copy(update={"auth": "required"}))
    bridge = await EmbeddedServer.start(
        create_app(BridgeSettings(grpc_target=f"127.0.0.1:{running.port}")), lifespan="on"
    )
    keys = KeyRing(running.store)
    clients = []
    apis = {}
    for name in ("alice", "bob", "root"):
        _, token = await keys.create(name, admin=name == "root")
        client = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10)
        clients.append(client)
        apis[name] = Api(client, bridge.url)
    yield running, apis
    for client in clients:
        await client.aclose()
    await bridge.stop()
    await running.stop(0)


async def test_a_key_reads_only_its_own_agent_chats_and_reloads_only_as_admin(
    keyed: tuple[RunningServer, dict[str, Api]],
) -> None:
    server, apis = keyed
    alices = await store_agent_chat(server.store, VALID_AGENT, owner="alice")
    mine = {"session_id": alices.session_id}

    bob_lists = (await apis["bob"].send("GET", CHATS, 200)).json()["sessions"]
    await apis["bob"].send("GET", CHAT, 404, params=mine, code="SESSION_NOT_FOUND")
    alice_reads = (await apis["alice"].send("GET", CHAT, 200, params=mine)).json()
    root_lists = (await apis["root"].send("GET", CHATS, 200)).json()["sessions"]
    await apis["alice"].send("POST", RELOAD, 403, code="PERMISSION_DENIED")
    await apis["root"].send("POST", RELOAD, 200)

    assert bob_lists == []
    assert alice_reads["agent_name"] == VALID_AGENT
    assert [s["session_id"] for s in root_lists] == [alices.session_id]
