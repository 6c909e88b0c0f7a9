"""SessionService over real gRPC, with the fake Ollama behind the server."""

from __future__ import annotations

import re

import grpc
import pytest
from google.protobuf import field_mask_pb2

from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1.chat_service_pb2 import ChatRequest
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeModel, FakeOllama
from tests.support import error_info

MODEL = "llama3.2:latest"


async def _create(sessions: SessionStub, **kwargs: object) -> spb.Session:
    response = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL, **kwargs))  # type: ignore[arg-type]
    return response.session


async def test_create_session_returns_hex_id_and_defaults(
    sessions: SessionStub,
) -> None:
    session = await _create(sessions)

    assert re.fullmatch(r"[0-9a-f]{10}", session.session_id)
    assert session.model == MODEL
    assert session.message_count == 0
    assert session.created_at.ToDatetime() == session.updated_at.ToDatetime()
    assert session.tool_settings.execution_policy == spb.EXECUTION_POLICY_ALWAYS_CONFIRM
    assert session.context_window.current_window == 8192


async def test_create_session_with_system_prompt_stores_it_as_message_zero(
    sessions: SessionStub,
) -> None:
    session = await _create(sessions, system_prompt="You are terse.")

    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session.session_id))

    assert got.session.message_count == 1
    assert [(m.role, m.content) for m in got.messages] == [(spb.ROLE_SYSTEM, "You are terse.")]


async def test_create_session_with_unknown_model_is_not_found_and_creates_nothing(
    sessions: SessionStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(pb.CreateSessionRequest(model="nope:latest"))

    info = error_info(caught.value)
    assert (info.code, info.reason, info.domain) == (
        grpc.StatusCode.NOT_FOUND,
        "MODEL_NOT_FOUND",
        "mochi.v1",
    )
    assert info.field == "model"
    listed = await sessions.ListSessions(pb.ListSessionsRequest())
    assert list(listed.sessions) == []


async def test_create_session_without_model_is_invalid(sessions: SessionStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(pb.CreateSessionRequest())

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR")


async def test_create_session_when_ollama_is_down_is_unavailable(
    sessions: SessionStub, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "OLLAMA_UNREACHABLE")


async def test_get_unknown_session_is_not_found(sessions: SessionStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetSession(pb.GetSessionRequest(session_id="0123456789"))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_get_session_with_a_huge_id_is_not_found_with_its_reason(
    sessions: SessionStub,
) -> None:
    # Found by the gRPC fuzzing: the id echoed whole in the status overflowed
    # the client's metadata limit, which then reported RESOURCE_EXHAUSTED.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetSession(pb.GetSessionRequest(session_id="a" * 100_000))

    info = error_info(caught.value)
    assert (info.code, info.reason, info.domain) == (
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "mochi.v1",
    )


async def test_list_sessions_newest_first_with_preview(
    sessions: SessionStub, chat: ChatStub
) -> None:
    first = await _create(sessions)
    second = await _create(sessions)
    long_text = "x" * 150
    await chat.Chat(ChatRequest(session_id=first.session_id, message=long_text))

    listed = await sessions.ListSessions(pb.ListSessionsRequest())

    assert [s.session_id for s in listed.sessions] == [first.session_id, second.session_id]
    assert listed.sessions[0].preview == "x" * 97 + "..."
    assert listed.sessions[1].preview == ""
    assert listed.next_page_token == ""


async def test_list_sessions_pages_without_gaps_or_repeats(
    sessions: SessionStub,
) -> None:
    created = {(await _create(sessions)).session_id for _ in range(5)}

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await sessions.ListSessions(pb.ListSessionsRequest(page_size=2, page_token=token))
        pages += 1
        seen.extend(s.session_id for s in page.sessions)
        token = page.next_page_token
        if not token:
            break

    assert pages == 3
    assert sorted(seen) == sorted(created)


async def test_list_sessions_with_bad_page_token_is_invalid(
    sessions: SessionStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListSessions(pb.ListSessionsRequest(page_token="%%%"))

    info = error_info(caught.value)
    assert (info.code, info.field) == (grpc.StatusCode.INVALID_ARGUMENT, "page_token")


async def test_update_session_changes_only_masked_fields(
    sessions: SessionStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(name="qwen3:8b", family="qwen3"))
    session = await _create(sessions)

    changed = await sessions.UpdateSession(
        pb.UpdateSessionRequest(
            session=spb.Session(
                session_id=session.session_id,
                model="qwen3:8b",
                tool_settings=spb.ToolSettings(tools=["ignored"]),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["model"]),
        )
    )

    assert changed.session.model == "qwen3:8b"
    assert list(changed.session.tool_settings.tools) == []
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session.session_id))
    assert got.session.model == "qwen3:8b"


async def test_update_session_to_unknown_model_changes_nothing(
    sessions: SessionStub,
) -> None:
    session = await _create(sessions)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.UpdateSession(
            pb.UpdateSessionRequest(
                session=spb.Session(session_id=session.session_id, model="ghost:1b"),
                update_mask=field_mask_pb2.FieldMask(paths=["model"]),
            )
        )

    assert error_info(caught.value).reason == "MODEL_NOT_FOUND"
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session.session_id))
    assert got.session.model == MODEL
    assert got.session.updated_at == session.updated_at


@pytest.mark.parametrize(
    "written", ["acc", "ACC", "library/acc", "registry.ollama.ai/library/acc:latest"]
)
async def test_a_session_keeps_the_name_ollama_lists_and_turns_send_it(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, written: str
) -> None:
    fake_ollama.add_model(FakeModel(name="acc:latest", context_length=4096))

    created = await sessions.CreateSession(pb.CreateSessionRequest(model=written))
    session_id = created.session.session_id
    answered = await chat.Chat(ChatRequest(session_id=session_id, message="hi"))

    assert created.session.model == "acc:latest"
    assert created.session.context_window.model_max_context == 4096
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
    assert got.session.model == "acc:latest"
    assert answered.message.model == "acc:latest"
    assert [r.model for r in fake_ollama.requests] == ["acc:latest"]


async def test_a_name_in_another_namespace_is_another_model(
    sessions: SessionStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(name="myname/acc:latest"))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(pb.CreateSessionRequest(model="acc"))

    assert error_info(caught.value).reason == "MODEL_NOT_FOUND"
    created = await sessions.CreateSession(pb.CreateSessionRequest(model="MyName/Acc"))
    assert created.session.model == "myname/acc:latest"


async def test_update_session_to_an_untagged_name_stores_the_listed_name(
    sessions: SessionStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(name="qwen3:latest", family="qwen3", context_length=4096))
    session = await _create(sessions)

    changed = await sessions.UpdateSession(
        pb.UpdateSessionRequest(
            session=spb.Session(session_id=session.session_id, model="qwen3"),
            update_mask=field_mask_pb2.FieldMask(paths=["model"]),
        )
    )

    assert changed.session.model == "qwen3:latest"
    window = changed.session.context_window
    assert window.last_adjustment == spb.CONTEXT_WINDOW_REASON_MODEL_CHANGE
    assert window.model_max_context == 4096
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session.session_id))
    assert got.session.model == "qwen3:latest"


async def test_update_session_to_another_spelling_of_its_model_changes_no_model(
    sessions: SessionStub,
) -> None:
    session = await _create(sessions)

    changed = await sessions.UpdateSession(
        pb.UpdateSessionRequest(
            session=spb.Session(session_id=session.session_id, model="Library/LLAMA3.2"),
            update_mask=field_mask_pb2.FieldMask(paths=["model"]),
        )
    )

    assert changed.session.model == MODEL
    assert changed.session.context_window == session.context_window


async def test_update_session_with_unknown_mask_path_is_invalid(
    sessions: SessionStub,
) -> None:
    session = await _create(sessions)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.UpdateSession(
            pb.UpdateSessionRequest(
                session=spb.Session(session_id=session.session_id, message_count=9),
                update_mask=field_mask_pb2.FieldMask(paths=["message_count"]),
            )
        )

    info = error_info(caught.value)
    assert (info.code, info.field) == (grpc.StatusCode.INVALID_ARGUMENT, "update_mask")


async def test_delete_session_removes_it(sessions: SessionStub) -> None:
    session = await _create(sessions)

    await sessions.DeleteSession(pb.DeleteSessionRequest(session_id=session.session_id))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetSession(pb.GetSessionRequest(session_id=session.session_id))
    assert error_info(caught.value).reason == "SESSION_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await sessions.DeleteSession(pb.DeleteSessionRequest(session_id=session.session_id))
    assert error_info(again.value).reason == "SESSION_NOT_FOUND"


async def test_list_messages_pages_in_order(sessions: SessionStub, chat: ChatStub) -> None:
    session = await _create(sessions, system_prompt="sys")
    for text in ["one", "two"]:
        await chat.Chat(ChatRequest(session_id=session.session_id, message=text))

    first = await sessions.ListMessages(
        pb.ListMessagesRequest(session_id=session.session_id, page_size=3)
    )
    rest = await sessions.ListMessages(
        pb.ListMessagesRequest(session_id=session.session_id, page_token=first.next_page_token)
    )

    roles = [m.role for m in [*first.messages, *rest.messages]]
    assert roles == [
        spb.ROLE_SYSTEM,
        spb.ROLE_USER,
        spb.ROLE_ASSISTANT,
        spb.ROLE_USER,
        spb.ROLE_ASSISTANT,
    ]
    assert rest.next_page_token == ""
    assert [m.content for m in first.messages][1] == "one"


async def test_list_messages_of_unknown_session_is_not_found(
    sessions: SessionStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListMessages(pb.ListMessagesRequest(session_id="ffffffffff"))

    assert error_info(caught.value).reason == "SESSION_NOT_FOUND"


async def test_session_status_reports_window_and_model_context(
    sessions: SessionStub,
) -> None:
    session = await _create(sessions, system_prompt="sys", system_prompt_source_file="coder.md")

    status = await sessions.GetSessionStatus(
        pb.GetSessionStatusRequest(session_id=session.session_id)
    )

    assert status.model == MODEL
    assert status.message_count == 1
    assert status.context_window.current_window == 8192
    assert status.context_window.model_max_context == 131072
    assert status.system_prompt_file == "coder.md"
    assert not status.tools_enabled


async def test_session_status_without_ollama_still_answers(
    sessions: SessionStub, fake_ollama: FakeOllama
) -> None:
    session = await _create(sessions)
    await fake_ollama.stop()

    status = await sessions.GetSessionStatus(
        pb.GetSessionStatusRequest(session_id=session.session_id)
    )

    assert not status.context_window.HasField("model_max_context")


async def test_a_missing_session_id_is_a_validation_error(sessions: SessionStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetSession(pb.GetSessionRequest())

    info = error_info(caught.value)
    assert (info.code, info.reason, info.field) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_ERROR",
        "session_id",
    )
