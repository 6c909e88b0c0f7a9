"""AgentService over gRPC: discovery of the agents directory, reloading it,
and reading the agents' own conversations apart from the users' sessions."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import agent_service_pb2 as apb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import AgentStub, SessionStub
from tests.agents_fixture import (
    FIXTURE,
    INVALID_AGENTS,
    VALID_AGENT,
    VALID_TOOL,
    store_agent_chat,
    write_agents,
)
from tests.support import error_info

MODEL = "llama3.2:latest"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    agents_dir = settings.resolved_agents_dir
    write_agents(agents_dir)
    # Not agents: a folder starting with _ and the upstream agent_chats folder.
    for skipped in ("_drafts", "agent_chats"):
        shutil.copytree(FIXTURE / VALID_AGENT, agents_dir / skipped)
    running = await start(settings)
    yield running
    await running.stop(0)


@pytest.fixture
def agents(channel: grpc.aio.Channel) -> AgentStub:
    return AgentStub(channel)


async def _refusal(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    info = error_info(caught.value)
    return info.code, info.reason, info.message


def _ids(sessions: Any) -> list[str]:
    return [s.session_id for s in sessions]


async def test_every_agent_folder_is_listed_the_invalid_ones_with_their_reason(
    agents: AgentStub,
) -> None:
    listed = (await agents.ListAgents(apb.ListAgentsRequest())).agents

    by_name = {a.name: a for a in listed}
    assert [a.name for a in listed] == sorted([VALID_AGENT, *INVALID_AGENTS])
    wordsmith = by_name[VALID_AGENT]
    assert wordsmith.valid and not wordsmith.HasField("error_message")
    assert (wordsmith.tool_count, list(wordsmith.tools)) == (1, [VALID_TOOL])
    assert wordsmith.description == "Counts the words of a text."
    assert wordsmith.model == MODEL
    assert wordsmith.system_prompt.startswith("You are Wordsmith.")
    broken, faulty = by_name["broken"], by_name["faulty"]
    assert not broken.valid and "no description" in broken.error_message
    assert not faulty.valid and "the faulty agent's tools are broken" in faulty.error_message
    assert (faulty.tool_count, list(faulty.tools)) == (0, [])


async def test_get_agent_returns_a_valid_agent_and_refuses_the_others(agents: AgentStub) -> None:
    got = (await agents.GetAgent(apb.GetAgentRequest(agent_name=VALID_AGENT))).agent
    invalid = await _refusal(agents.GetAgent(apb.GetAgentRequest(agent_name="broken")))
    unknown = await _refusal(agents.GetAgent(apb.GetAgentRequest(agent_name="nobody")))
    empty = await _refusal(agents.GetAgent(apb.GetAgentRequest(agent_name="")))

    assert (got.name, got.valid, list(got.tools)) == (VALID_AGENT, True, [VALID_TOOL])
    assert invalid[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "AGENT_INVALID")
    assert "broken" in invalid[2] and "no description" in invalid[2]
    assert unknown[:2] == (grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND")
    assert empty[:2] == (grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND")


async def test_reload_finds_an_agent_added_after_the_start(
    agents: AgentStub, settings: Settings
) -> None:
    shutil.copytree(FIXTURE / VALID_AGENT, settings.resolved_agents_dir / "counter")
    before = await _refusal(agents.GetAgent(apb.GetAgentRequest(agent_name="counter")))

    reloaded = await agents.ReloadAgents(apb.ReloadAgentsRequest())
    got = (await agents.GetAgent(apb.GetAgentRequest(agent_name="counter"))).agent

    assert before[1] == "AGENT_NOT_FOUND"
    assert (reloaded.agents_count, reloaded.valid_count) == (4, 2)
    assert reloaded.message == "Successfully reloaded 4 agents"
    assert (got.valid, list(got.tools)) == (True, [VALID_TOOL])


async def test_reload_drops_an_agent_whose_folder_is_gone(
    agents: AgentStub, settings: Settings
) -> None:
    shutil.rmtree(settings.resolved_agents_dir / VALID_AGENT)

    reloaded = await agents.ReloadAgents(apb.ReloadAgentsRequest())
    gone = await _refusal(agents.GetAgent(apb.GetAgentRequest(agent_name=VALID_AGENT)))

    assert (reloaded.agents_count, reloaded.valid_count) == (2, 0)
    assert gone[1] == "AGENT_NOT_FOUND"


async def test_agent_chats_are_listed_apart_from_the_users_sessions(
    agents: AgentStub, sessions: SessionStub, server: RunningServer
) -> None:
    user = (await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))).session
    older = await store_agent_chat(server.store, VALID_AGENT, age_minutes=2)
    newer = await store_agent_chat(server.store, VALID_AGENT, age_minutes=1)

    chats = await agents.ListAgentChats(apb.ListAgentChatsRequest())
    first = await agents.ListAgentChats(apb.ListAgentChatsRequest(page_size=1))
    second = await agents.ListAgentChats(
        apb.ListAgentChatsRequest(page_size=1, page_token=first.next_page_token)
    )
    users = await sessions.ListSessions(pb.ListSessionsRequest())

    assert _ids(chats.sessions) == [newer.session_id, older.session_id]
    assert chats.next_page_token == ""
    assert [s.agent_name for s in chats.sessions] == [VALID_AGENT, VALID_AGENT]
    assert [s.message_count for s in chats.sessions] == [6, 6]
    assert _ids(first.sessions) == [newer.session_id] and first.next_page_token
    assert _ids(second.sessions) == [older.session_id] and second.next_page_token == ""
    assert _ids(users.sessions) == [user.session_id]
    assert not users.sessions[0].HasField("agent_name")


async def test_an_agent_chat_is_read_with_its_whole_history(
    agents: AgentStub, server: RunningServer
) -> None:
    stored = await store_agent_chat(server.store, VALID_AGENT)

    got = await agents.GetAgentChat(apb.GetAgentChatRequest(session_id=stored.session_id))

    assert (got.session.session_id, got.session.agent_name) == (stored.session_id, VALID_AGENT)
    assert [m.role for m in got.messages] == [
        spb.ROLE_SYSTEM,
        spb.ROLE_USER,
        spb.ROLE_ASSISTANT,
        spb.ROLE_ASSISTANT,
        spb.ROLE_TOOL,
        spb.ROLE_ASSISTANT,
    ]
    assert [c.name for c in got.messages[3].tool_calls] == [VALID_TOOL]
    assert (got.messages[4].tool_name, got.messages[4].content) == (VALID_TOOL, "3")


async def test_only_agent_sessions_are_agent_chats(
    agents: AgentStub, sessions: SessionStub
) -> None:
    user = (await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))).session

    for session_id in (user.session_id, "0123456789"):
        refused = await _refusal(
            agents.GetAgentChat(apb.GetAgentChatRequest(session_id=session_id))
        )
        assert refused[:2] == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_a_bad_page_of_agent_chats_is_refused(agents: AgentStub) -> None:
    for request in (
        apb.ListAgentChatsRequest(page_token="not a token"),
        apb.ListAgentChatsRequest(page_size=-1),
    ):
        refused = await _refusal(agents.ListAgentChats(request))
        assert refused[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR")


# -- with API keys ------------------------------------------------------------


@pytest.fixture
async def keyed(settings: Settings) -> AsyncIterator[tuple[RunningServer, dict[str, Any]]]:
    """A server requiring keys, and the metadata of alice, bob and root (admin)."""
    write_agents(settings.resolved_agents_dir)
    running = await start(settings.model_copy(update={"auth": "required"}))
    keys = KeyRing(running.store)
    metadata = {}
    for name in ("alice", "bob", "root"):
        _, token = await keys.create(name, admin=name == "root")
        metadata[name] = (("authorization", f"Bearer {token}"),)
    yield running, metadata
    await running.stop(0)


async def test_a_key_sees_only_its_own_agent_chats(
    keyed: tuple[RunningServer, dict[str, Any]],
) -> None:
    server, keys = keyed
    alices = await store_agent_chat(server.store, VALID_AGENT, owner="alice", age_minutes=1)
    bobs = await store_agent_chat(server.store, VALID_AGENT, owner="bob")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        agents = AgentStub(channel)

        def listed(key: str) -> Awaitable[apb.ListAgentChatsResponse]:
            return agents.ListAgentChats(apb.ListAgentChatsRequest(), metadata=keys[key])

        alice_sees = _ids((await listed("alice")).sessions)
        root_sees = _ids((await listed("root")).sessions)
        own = await agents.GetAgentChat(
            apb.GetAgentChatRequest(session_id=alices.session_id), metadata=keys["alice"]
        )
        others = await _refusal(
            agents.GetAgentChat(
                apb.GetAgentChatRequest(session_id=bobs.session_id), metadata=keys["alice"]
            )
        )
        by_admin = await agents.GetAgentChat(
            apb.GetAgentChatRequest(session_id=bobs.session_id), metadata=keys["root"]
        )

    assert alice_sees == [alices.session_id]
    assert root_sees == [bobs.session_id, alices.session_id]
    assert own.session.agent_name == VALID_AGENT
    assert others[:2] == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert by_admin.session.session_id == bobs.session_id


async def test_reloading_agents_needs_an_admin_key(
    keyed: tuple[RunningServer, dict[str, Any]],
) -> None:
    server, keys = keyed
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        agents = AgentStub(channel)
        denied = await _refusal(
            agents.ReloadAgents(apb.ReloadAgentsRequest(), metadata=keys["bob"])
        )
        allowed = await agents.ReloadAgents(apb.ReloadAgentsRequest(), metadata=keys["root"])
        listed = await agents.ListAgents(apb.ListAgentsRequest(), metadata=keys["bob"])

    assert denied[:2] == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert allowed.agents_count == len(listed.agents) == 3
