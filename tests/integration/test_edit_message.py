"""EditMessage: only user messages, index in range, later history removed."""

from __future__ import annotations

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.support import collect, error_info, text_of

MODEL = "llama3.2:latest"


async def _conversation(sessions: SessionStub, chat: ChatStub) -> str:
    """system, user "Q1", assistant, user "Q2", assistant."""
    created = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL, system_prompt="sys")
    )
    session_id = created.session.session_id
    for text in ["Q1", "Q2"]:
        await chat.Chat(cpb.ChatRequest(session_id=session_id, message=text))
    return session_id


async def _get(sessions: SessionStub, session_id: str) -> pb.GetSessionResponse:
    return await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))


async def test_edit_replaces_text_keeps_id_and_truncates_after_it(
    sessions: SessionStub, chat: ChatStub
) -> None:
    session_id = await _conversation(sessions, chat)
    before = await _get(sessions, session_id)

    edited = await sessions.EditMessage(
        pb.EditMessageRequest(session_id=session_id, message_index=1, content="Q1 again")
    )

    assert edited.message.content == "Q1 again"
    assert edited.message.message_id == before.messages[1].message_id
    assert edited.message_count == 2
    after = await _get(sessions, session_id)
    assert [(m.role, m.content) for m in after.messages] == [
        (spb.ROLE_SYSTEM, "sys"),
        (spb.ROLE_USER, "Q1 again"),
    ]
    assert after.session.message_count == 2
    assert after.session.updated_at.ToDatetime() > before.session.updated_at.ToDatetime()


async def test_regenerate_after_edit_answers_the_edited_message(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    await sessions.EditMessage(
        pb.EditMessageRequest(session_id=session_id, message_index=3, content="Rust instead")
    )
    fake_ollama.script(Reply(content=["Rust", " is", " nice"]))

    events = await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id)))

    assert text_of(events) == "Rust is nice"
    assert fake_ollama.requests[-1].messages[-1] == {"role": "user", "content": "Rust instead"}
    after = await _get(sessions, session_id)
    assert [m.content for m in after.messages][-2:] == ["Rust instead", "Rust is nice"]
    assert after.session.message_count == 5


@pytest.mark.parametrize(
    ("index", "why"),
    [(0, "system message"), (2, "assistant message"), (5, "past the end"), (-1, "negative")],
)
async def test_edit_refused_changes_nothing(
    sessions: SessionStub, chat: ChatStub, index: int, why: str
) -> None:
    session_id = await _conversation(sessions, chat)
    before = await _get(sessions, session_id)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.EditMessage(
            pb.EditMessageRequest(session_id=session_id, message_index=index, content="x")
        )

    info = error_info(caught.value)
    assert (info.code, info.reason, info.field) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_MESSAGE_INDEX",
        "message_index",
    ), why
    assert await _get(sessions, session_id) == before


async def test_edit_on_unknown_session_is_not_found(sessions: SessionStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.EditMessage(
            pb.EditMessageRequest(session_id="0000000000", message_index=0, content="x")
        )

    assert error_info(caught.value).reason == "SESSION_NOT_FOUND"


async def test_edit_while_a_turn_runs_is_refused(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    fake_ollama.script(Reply(content=["wait"], hang_after=1))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q3"))
    await call.read()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.EditMessage(
            pb.EditMessageRequest(session_id=session_id, message_index=1, content="x")
        )

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SESSION_BUSY")
    call.cancel()
