"""API keys over gRPC: who may call, whose sessions each key sees, admin-only
operations, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as ppb
from mochi_grpc._gen.mochi.v1 import tool_service_pb2 as tpb
from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub, SystemPromptStub, ToolStub
from tests.fakes import FakeOllama, Reply
from tests.support import collect, error_info
from tests.tools_fixture import write_tools

MODEL = "llama3.2:latest"
GUARD = 10.0


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_tools(settings.resolved_tools_dir)
    running = await start(settings.model_copy(update={"auth": "required"}))
    yield running
    await running.stop(0)


@pytest.fixture
async def tokens(server: RunningServer) -> dict[str, str]:
    keys = KeyRing(server.store)
    made = {}
    for name, admin in (("alice", False), ("bob", False), ("root", True)):
        _, made[name] = await keys.create(name, admin=admin)
    return made


def _as(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _refusal(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    info = error_info(caught.value)
    return info.code, info.reason, info.message


async def test_without_a_valid_key_every_call_but_health_is_unauthenticated(
    channel: grpc.aio.Channel, tokens: dict[str, str]
) -> None:
    sessions = SessionStub(channel)
    request = pb.ListSessionsRequest()

    missing = await _refusal(sessions.ListSessions(request))
    wrong = await _refusal(sessions.ListSessions(request, metadata=_as("mochi_not-a-key")))
    no_scheme = await _refusal(
        sessions.ListSessions(request, metadata=(("authorization", tokens["alice"]),))
    )
    health: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
    checked = await health.Check(health_pb2.HealthCheckRequest())

    for code, reason, message in (missing, wrong, no_scheme):
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
        assert tokens["alice"] not in message
    assert checked.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_session_is_its_creators_and_does_not_exist_for_other_keys(
    channel: grpc.aio.Channel, tokens: dict[str, str], fake_ollama: FakeOllama
) -> None:
    sessions, chat = SessionStub(channel), ChatStub(channel)
    alice, bob = _as(tokens["alice"]), _as(tokens["bob"])
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL), metadata=alice)
    sid = created.session.session_id
    await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=sid, message="Hi"), metadata=alice)
    )
    unknown = "0123456789"

    operations: dict[str, Callable[[str], Awaitable[Any]]] = {
        "GetSession": lambda s: sessions.GetSession(
            pb.GetSessionRequest(session_id=s), metadata=bob
        ),
        "ListMessages": lambda s: sessions.ListMessages(
            pb.ListMessagesRequest(session_id=s), metadata=bob
        ),
        "EditMessage": lambda s: sessions.EditMessage(
            pb.EditMessageRequest(session_id=s, message_index=0, content="x"), metadata=bob
        ),
        "UpdateSession": lambda s: sessions.UpdateSession(
            pb.UpdateSessionRequest(
                session=spb.Session(session_id=s, model=MODEL),
                update_mask=field_mask_pb2.FieldMask(paths=["model"]),
            ),
            metadata=bob,
        ),
        "GetSessionStatus": lambda s: sessions.GetSessionStatus(
            pb.GetSessionStatusRequest(session_id=s), metadata=bob
        ),
        "SetSessionSystemPrompt": lambda s: sessions.SetSessionSystemPrompt(
            pb.SetSessionSystemPromptRequest(session_id=s, content="x"), metadata=bob
        ),
        "RemoveSessionSystemPrompt": lambda s: sessions.RemoveSessionSystemPrompt(
            pb.RemoveSessionSystemPromptRequest(session_id=s), metadata=bob
        ),
        "Chat": lambda s: chat.Chat(cpb.ChatRequest(session_id=s, message="x"), metadata=bob),
        "ChatStream": lambda s: collect(
            chat.ChatStream(cpb.ChatStreamRequest(session_id=s, message="x"), metadata=bob)
        ),
        "WatchTurn": lambda s: collect(
            chat.WatchTurn(cpb.WatchTurnRequest(session_id=s), metadata=bob)
        ),
        "CancelTurn": lambda s: chat.CancelTurn(cpb.CancelTurnRequest(session_id=s), metadata=bob),
        "ConfirmToolCall": lambda s: chat.ConfirmToolCall(
            cpb.ConfirmToolCallRequest(session_id=s, confirmation_id="conf_000000000000"),
            metadata=bob,
        ),
        "DeleteSession": lambda s: sessions.DeleteSession(
            pb.DeleteSessionRequest(session_id=s), metadata=bob
        ),
    }
    for name, operation in operations.items():
        theirs = await _refusal(operation(sid))
        nobodys = await _refusal(operation(unknown))
        # Exactly what an unknown id gets, but for the id itself.
        assert theirs == (
            grpc.StatusCode.NOT_FOUND,
            "SESSION_NOT_FOUND",
            nobodys[2].replace(unknown, sid),
        ), name

    listed = await sessions.ListSessions(pb.ListSessionsRequest(), metadata=bob)
    kept = await sessions.ListMessages(pb.ListMessagesRequest(session_id=sid), metadata=alice)
    assert [s.session_id for s in listed.sessions] == []
    assert [m.content for m in kept.messages] == ["Hi", "You said: Hi"]


async def test_an_admin_key_sees_and_manages_every_session(
    channel: grpc.aio.Channel, tokens: dict[str, str]
) -> None:
    sessions = SessionStub(channel)
    mine = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL), metadata=_as(tokens["alice"])
    )
    theirs = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL), metadata=_as(tokens["bob"])
    )
    root = _as(tokens["root"])

    listed = await sessions.ListSessions(pb.ListSessionsRequest(), metadata=root)
    alices = await sessions.ListSessions(pb.ListSessionsRequest(), metadata=_as(tokens["alice"]))
    await sessions.DeleteSession(
        pb.DeleteSessionRequest(session_id=theirs.session.session_id), metadata=root
    )

    assert {s.session_id for s in listed.sessions} == {
        mine.session.session_id,
        theirs.session.session_id,
    }
    assert [s.session_id for s in alices.sessions] == [mine.session.session_id]


async def test_writing_prompt_files_and_reloading_tools_need_an_admin_key(
    channel: grpc.aio.Channel, tokens: dict[str, str]
) -> None:
    prompts, tools = SystemPromptStub(channel), ToolStub(channel)
    bob, root = _as(tokens["bob"]), _as(tokens["root"])
    create = ppb.CreateSystemPromptRequest(filename="pirate.md", content="Arr.")

    denied = await _refusal(prompts.CreateSystemPrompt(create, metadata=bob))
    reload_denied = await _refusal(tools.ReloadTools(tpb.ReloadToolsRequest(), metadata=bob))
    await prompts.CreateSystemPrompt(create, metadata=root)
    listed = await prompts.ListSystemPrompts(ppb.ListSystemPromptsRequest(), metadata=bob)

    assert (
        denied[:2] == reload_denied[:2] == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    )
    assert [p.filename for p in listed.prompts] == ["pirate.md"]


async def test_another_keys_tool_confirmation_cannot_be_answered(
    channel: grpc.aio.Channel, tokens: dict[str, str], fake_ollama: FakeOllama
) -> None:
    sessions, chat = SessionStub(channel), ChatStub(channel)
    alice, bob = _as(tokens["alice"]), _as(tokens["bob"])
    settings = spb.ToolSettings(
        tools=["shout"], execution_policy=spb.EXECUTION_POLICY_ALWAYS_CONFIRM
    )
    created = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL, tool_settings=settings), metadata=alice
    )
    sid = created.session.session_id
    fake_ollama.script(
        Reply(tool_calls=[{"name": "shout", "arguments": {"text": "x"}}]), Reply(content=["ok"])
    )
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=sid, message="go"), metadata=alice)
    asked = await asyncio.wait_for(call.read(), GUARD)
    assert isinstance(asked, cpb.ChatEvent)
    confirmation = cpb.ConfirmToolCallRequest(
        session_id=sid,
        confirmation_id=asked.tool_call_confirmation_required.confirmation_id,
        approved=True,
    )

    bobs = await _refusal(chat.ConfirmToolCall(confirmation, metadata=bob))
    # The session is busy with alice's turn; to bob it does not exist all the same.
    bobs_turn = await _refusal(
        collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=sid, message="x"), metadata=bob))
    )
    answered = await chat.ConfirmToolCall(confirmation, metadata=alice)

    assert bobs[:2] == bobs_turn[:2] == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    assert answered.tool_name == "shout"
    call.cancel()


async def test_a_revoked_key_is_refused_from_the_next_call_on(
    channel: grpc.aio.Channel, tokens: dict[str, str], server: RunningServer
) -> None:
    sessions = SessionStub(channel)
    alice = _as(tokens["alice"])
    await sessions.ListSessions(pb.ListSessionsRequest(), metadata=alice)

    await KeyRing(server.store).revoke("alice")
    refused = await _refusal(sessions.ListSessions(pb.ListSessionsRequest(), metadata=alice))

    assert refused[:2] == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_a_key_records_when_it_was_last_used(
    channel: grpc.aio.Channel, tokens: dict[str, str], server: RunningServer
) -> None:
    before = {k.name: k.last_used_at for k in await KeyRing(server.store).list()}

    await SessionStub(channel).ListSessions(pb.ListSessionsRequest(), metadata=_as(tokens["bob"]))

    after = {k.name: k.last_used_at for k in await KeyRing(server.store).list()}
    assert before["bob"] is None and after["bob"] is not None
    assert after["alice"] is None


@pytest.mark.parametrize(
    ("host", "auth", "required"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("192.0.2.7", None, True),
        ("0.0.0.0", "off", False),
        ("127.0.0.1", "required", True),
    ],
)
def test_keys_are_required_by_default_off_loopback_only(
    host: str, auth: str | None, required: bool
) -> None:
    assert Settings(host=host, auth=auth).auth_required is required  # type: ignore[arg-type]
