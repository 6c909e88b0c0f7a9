"""ChatStream and Chat over real gRPC against the fake Ollama."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.support import case, collect, error_info, runs, text_of

MODEL = "llama3.2:latest"


async def _session(sessions: SessionStub, system_prompt: str | None = None) -> str:
    request = pb.CreateSessionRequest(model=MODEL)
    if system_prompt is not None:
        request.system_prompt = system_prompt
    return (await sessions.CreateSession(request)).session.session_id


async def _messages(sessions: SessionStub, session_id: str) -> list[spb.Message]:
    return list(
        (await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))).messages
    )


async def test_stream_sends_each_chunk_in_order_then_complete_and_done(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions, system_prompt="Be brief.")
    fake_ollama.script(
        Reply(content=["Once", " upon", " a", " time"], eval_count=4, prompt_eval_count=20)
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Story?"))
    )

    assert runs([case(e) for e in events]) == ["content_delta", "message_complete", "done"]
    assert text_of(events) == "Once upon a time"
    assert all(e.content_delta.role == "assistant" for e in events[:-2])
    complete = events[-2].message_complete
    assert (complete.model, complete.eval_count, complete.prompt_eval_count) == (MODEL, 4, 20)
    assert complete.context_window.current_window == 8192
    assert complete.context_window.usage_tokens == 24
    assert events[-1].done.session_id == session_id

    sent = fake_ollama.requests[0]
    assert sent.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Story?"},
    ]
    assert sent.options == {"num_ctx": 8192}

    stored = await _messages(sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_SYSTEM, "Be brief."),
        (spb.ROLE_USER, "Story?"),
        (spb.ROLE_ASSISTANT, "Once upon a time"),
    ]
    assert stored[2].message_id == complete.message_id
    assert (stored[2].eval_count, stored[2].prompt_eval_count) == (4, 20)
    assert not stored[2].HasField("partial_reason")


async def test_thinking_streams_before_content_and_is_stored(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(thinking=["Hmm", "..."], content=["Yes"]))

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="ok?", think=True))
    )

    assert runs([case(e) for e in events]) == [
        "thinking_delta",
        "content_delta",
        "message_complete",
        "done",
    ]
    assert fake_ollama.requests[0].think is True
    stored = await _messages(sessions, session_id)
    assert (stored[1].thinking, stored[1].content) == ("Hmm...", "Yes")


async def test_follow_up_turn_sends_the_whole_history(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["A1"]), Reply(content=["A2"]))
    await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q1")))

    await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q2")))

    assert fake_ollama.requests[1].messages == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]


async def test_regenerate_replaces_the_last_reply(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["first"]), Reply(content=["second"]))
    await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q")))

    events = await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id)))

    assert text_of(events) == "second"
    assert fake_ollama.requests[1].messages == [{"role": "user", "content": "Q"}]
    stored = await _messages(sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_USER, "Q"),
        (spb.ROLE_ASSISTANT, "second"),
    ]


async def test_regenerate_of_an_empty_session_is_refused(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id)))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_HISTORY")
    assert fake_ollama.requests == []


async def test_stream_for_unknown_session_is_not_found(chat: ChatStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id="abcdef0123", message="hi")))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_ollama_error_mid_stream_ends_with_error_event_and_keeps_partial_reply(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(
        Reply(content=["Half", " a", " reply"], error_after=2, error_message="out of memory")
    )

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"))
    )

    assert runs([case(e) for e in events]) == ["content_delta", "error"]
    assert text_of(events) == "Half a"
    assert events[-1].error.code == "OLLAMA_ERROR"
    assert "out of memory" in events[-1].error.message
    stored = await _messages(sessions, session_id)
    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_USER, "Q"),
        (spb.ROLE_ASSISTANT, "Half a"),
    ]
    assert stored[1].partial_reason == "ollama_error"


async def test_ollama_http_error_before_any_token_keeps_the_user_message(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(http_status=500, error_message="model failed to load"))

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"))
    )

    assert [case(e) for e in events] == ["error"]
    assert events[0].error.code == "OLLAMA_ERROR"
    assert "model failed to load" in events[0].error.message
    # The turn was accepted, so its user message was stored before Ollama was asked.
    assert [(m.role, m.content) for m in await _messages(sessions, session_id)] == [
        (spb.ROLE_USER, "Q")
    ]


async def test_ollama_unreachable_gives_error_event_and_keeps_the_user_message(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    await fake_ollama.stop()

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"))
    )

    assert [case(e) for e in events] == ["error"]
    assert events[0].error.code == "OLLAMA_UNREACHABLE"
    assert [(m.role, m.content) for m in await _messages(sessions, session_id)] == [
        (spb.ROLE_USER, "Q")
    ]


async def test_model_removed_from_ollama_gives_model_not_found_event(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.remove_model(MODEL)

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"))
    )

    assert [(case(e), e.error.code) for e in events] == [("error", "MODEL_NOT_FOUND")]


async def test_concurrent_streams_on_different_sessions_each_get_their_reply(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    ids = [await _session(sessions) for _ in range(3)]

    results = await asyncio.gather(
        *(
            collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=sid, message=f"n{i} a b c")))
            for i, sid in enumerate(ids)
        )
    )

    for i, events in enumerate(results):
        assert text_of(events) == f"You said: n{i} a b c"
        assert case(events[-1]) == "done"


async def test_second_turn_on_a_busy_session_is_refused(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["slow"], hang_after=1))
    first = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="one"))
    await first.read()  # the first turn is under way

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="two")))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SESSION_BUSY")
    first.cancel()


async def test_unary_chat_returns_the_stored_reply(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["Hel", "lo"], eval_count=2, prompt_eval_count=3))

    response = await chat.Chat(cpb.ChatRequest(session_id=session_id, message="Hi"))

    assert response.session_id == session_id
    assert response.message.content == "Hello"
    assert response.message.role == spb.ROLE_ASSISTANT
    assert response.context_window.usage_tokens == 5
    stored = await _messages(sessions, session_id)
    assert stored[-1].message_id == response.message.message_id


async def test_unary_chat_failure_is_an_rpc_status(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(http_status=500))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await chat.Chat(cpb.ChatRequest(session_id=session_id, message="Hi"))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "OLLAMA_ERROR")
    assert [m.content for m in await _messages(sessions, session_id)] == ["Hi"]


async def test_accepted_turn_announces_itself_before_the_first_token(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["late"], first_chunk_delay=60))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Q"))

    metadata = await call.initial_metadata()

    assert ("mochi-turn", "started") in list(metadata or ())
    call.cancel()


async def test_refused_turn_has_no_start_announcement(chat: ChatStub) -> None:
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id="0000000000", message="Q"))

    metadata = await call.initial_metadata()

    assert ("mochi-turn", "started") not in list(metadata or ())
    assert await call.code() == grpc.StatusCode.NOT_FOUND


async def test_without_coalescing_every_chunk_is_its_own_event(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    running = await start(settings.model_copy(update={"stream_coalesce": False}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            session_id = await _session(SessionStub(channel))
            fake_ollama.script(Reply(content=["Once", " upon", " a", " time"]))
            events = await collect(
                ChatStub(channel).ChatStream(
                    cpb.ChatStreamRequest(session_id=session_id, message="Story?")
                )
            )
    finally:
        await running.stop(0)

    assert [case(e) for e in events] == ["content_delta"] * 4 + ["message_complete", "done"]
    assert [e.content_delta.content for e in events[:4]] == ["Once", " upon", " a", " time"]


async def test_more_turns_than_a_default_connection_pool_reach_ollama_at_once(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    turns = 130  # httpx alone would hold all but 100 of them back
    ids = [await _session(sessions) for _ in range(turns)]
    fake_ollama.script(*(Reply(content=["..."], hang_after=1) for _ in range(turns)))
    calls = [chat.ChatStream(cpb.ChatStreamRequest(session_id=i, message="q")) for i in ids]

    last = await asyncio.wait_for(fake_ollama.wait_for_request(turns), 10)

    assert len(fake_ollama.requests) == turns
    assert not any(r.disconnected.is_set() for r in fake_ollama.requests)
    assert last.chunks_sent <= 1
    for call in calls:
        call.cancel()
    await asyncio.wait_for(server.engine.drain(), 10)


def _retry_delay(exc: grpc.aio.AioRpcError) -> timedelta | None:
    """The google.rpc.RetryInfo delay in the status details, if there is one."""
    raw = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes), f"no rich status details in {exc!r}"
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay: timedelta = retry.retry_delay.ToTimedelta()
            return delay
    return None


async def test_turns_beyond_the_limit_are_refused(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    running = await start(settings.model_copy(update={"max_concurrent_turns": 1}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            sessions, chat = SessionStub(channel), ChatStub(channel)
            first, second = await _session(sessions), await _session(sessions)
            fake_ollama.script(Reply(content=["busy"], hang_after=1))
            running_turn = chat.ChatStream(cpb.ChatStreamRequest(session_id=first, message="1"))
            await running_turn.read()

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await collect(
                    chat.ChatStream(cpb.ChatStreamRequest(session_id=second, message="2"))
                )
            running_turn.cancel()
    finally:
        await running.stop(0)

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SERVICE_UNAVAILABLE")
    # The refusal says when to come back.
    assert _retry_delay(caught.value) == timedelta(seconds=1)
