"""num_ctx sent to Ollama across a conversation, and what the session reports."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeModel, FakeOllama, Reply
from tests.support import case, collect, error_info

SMALL = FakeModel(name="small:1b", context_length=4096)
MID = FakeModel(name="mid:7b", context_length=40960)


async def _session(sessions: SessionStub, model: str) -> str:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=model))
    return created.session.session_id


async def _turn(
    chat: ChatStub, session_id: str, fake: FakeOllama, prompt: int, generated: int
) -> cpb.MessageComplete:
    fake.script(Reply(content=["ok"], prompt_eval_count=prompt, eval_count=generated))
    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="q"))
    )
    complete = [e.message_complete for e in events if case(e) == "message_complete"]
    assert complete, events
    return complete[0]


async def _status(sessions: SessionStub, session_id: str) -> pb.GetSessionStatusResponse:
    return await sessions.GetSessionStatus(pb.GetSessionStatusRequest(session_id=session_id))


async def test_a_small_model_is_never_asked_for_more_than_it_holds(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(SMALL)
    session_id = await _session(sessions, SMALL.name)

    await _turn(chat, session_id, fake_ollama, 100, 20)

    assert fake_ollama.requests[0].options == {"num_ctx": 3686}


async def test_num_ctx_follows_usage_and_status_agrees(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(MID)
    session_id = await _session(sessions, MID.name)
    fresh = await _status(sessions, session_id)

    first = await _turn(chat, session_id, fake_ollama, 1000, 200)  # 1,200 used: fits
    second = await _turn(chat, session_id, fake_ollama, 6000, 4000)  # 10,000: grow to 20,000
    third = await _turn(chat, session_id, fake_ollama, 30000, 20000)  # 50,000: capped at 36,864
    fourth = await _turn(chat, session_id, fake_ollama, 10, 0)  # tiny: never shrinks
    status = await _status(sessions, session_id)

    sent = [r.options["num_ctx"] for r in fake_ollama.requests if r.options]
    assert sent == [8192, 8192, 20000, 36864]
    assert fresh.context_window.last_adjustment_reason == spb.CONTEXT_WINDOW_REASON_INITIAL_SETUP
    assert [
        (c.context_window.current_window, c.context_window.reason)
        for c in (first, second, third, fourth)
    ] == [
        (8192, spb.CONTEXT_WINDOW_REASON_NO_ADJUSTMENT),
        (20000, spb.CONTEXT_WINDOW_REASON_USAGE_THRESHOLD),
        (36864, spb.CONTEXT_WINDOW_REASON_USAGE_THRESHOLD),
        (36864, spb.CONTEXT_WINDOW_REASON_NO_ADJUSTMENT),
    ]
    assert third.context_window.usage_tokens == 50000
    assert status.context_window.current_window == 36864
    assert status.context_window.model_max_context == 40960
    assert status.context_window.last_adjustment_reason == spb.CONTEXT_WINDOW_REASON_NO_ADJUSTMENT
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
    assert [a.usage_tokens for a in got.session.context_window.adjustment_history] == [
        1200,
        10000,
        50000,
        10,
    ]


async def test_a_model_change_recomputes_the_window(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(MID)
    fake_ollama.add_model(SMALL)
    session_id = await _session(sessions, MID.name)
    await _turn(chat, session_id, fake_ollama, 6000, 4000)  # window 20,000

    updated = await sessions.UpdateSession(
        pb.UpdateSessionRequest(
            session=spb.Session(session_id=session_id, model=SMALL.name),
            update_mask=field_mask_pb2.FieldMask(paths=["model"]),
        )
    )
    await _turn(chat, session_id, fake_ollama, 10, 10)

    assert updated.session.context_window.current_window == 3686
    assert updated.session.context_window.last_adjustment == spb.CONTEXT_WINDOW_REASON_MODEL_CHANGE
    assert fake_ollama.requests[-1].options == {"num_ctx": 3686}


async def test_a_manual_window_is_sent_and_kept_until_cleared(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(MID)
    session_id = await _session(sessions, MID.name)

    def update(window: int, manual: bool) -> pb.UpdateSessionRequest:
        return pb.UpdateSessionRequest(
            session=spb.Session(
                session_id=session_id,
                context_window=spb.ContextWindowConfig(
                    current_window=window, manual_override=manual
                ),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["context_window"]),
        )

    await sessions.UpdateSession(update(16000, True))
    kept = await _turn(chat, session_id, fake_ollama, 30000, 10000)
    status = await _status(sessions, session_id)
    await sessions.UpdateSession(update(0, False))
    grown = await _turn(chat, session_id, fake_ollama, 15000, 5000)

    assert fake_ollama.requests[0].options == {"num_ctx": 16000}
    assert (kept.context_window.current_window, kept.context_window.reason) == (
        16000,
        spb.CONTEXT_WINDOW_REASON_MANUAL_OVERRIDE,
    )
    assert status.context_window.manual_override
    assert status.context_window.last_adjustment_reason == spb.CONTEXT_WINDOW_REASON_MANUAL_OVERRIDE
    assert (grown.context_window.current_window, grown.context_window.reason) == (
        36864,
        spb.CONTEXT_WINDOW_REASON_USAGE_THRESHOLD,
    )


@pytest.mark.parametrize("window", [0, 40961])
async def test_a_manual_window_must_fit_the_model(
    sessions: SessionStub, fake_ollama: FakeOllama, window: int
) -> None:
    fake_ollama.add_model(MID)
    session_id = await _session(sessions, MID.name)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.UpdateSession(
            pb.UpdateSessionRequest(
                session=spb.Session(
                    session_id=session_id,
                    context_window=spb.ContextWindowConfig(
                        current_window=window, manual_override=True
                    ),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["context_window"]),
            )
        )

    info = error_info(caught.value)
    assert (info.reason, info.field) == ("VALIDATION_ERROR", "context_window.current_window")
    assert not (await _status(sessions, session_id)).context_window.manual_override


async def test_a_window_without_manual_override_is_refused(
    sessions: SessionStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(MID)
    session_id = await _session(sessions, MID.name)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.UpdateSession(
            pb.UpdateSessionRequest(
                session=spb.Session(
                    session_id=session_id,
                    context_window=spb.ContextWindowConfig(current_window=4096),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["context_window"]),
            )
        )

    assert error_info(caught.value).field == "context_window.current_window"
    assert (await _status(sessions, session_id)).context_window.current_window == 8192
