"""Durable, resumable turns over gRPC: turn and event ids, the reply stored as
it streams, turns that outlive their caller, WatchTurn and CancelTurn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests.fakes import FakeOllama, Reply
from tests.support import case, collect, error_info, read_rest, text_of
from tests.tools_fixture import math_tools, write_tools

MODEL = "llama3.2:latest"
GUARD = 10.0  # seconds; only stops a broken test from hanging
WORDS = [f" w{i}" for i in range(12)]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    write_tools(settings.resolved_tools_dir)
    running = await start(
        settings.model_copy(
            update={
                "checkpoint_interval_ms": 20,
                "confirmation_timeout_seconds": 0.2,
            }
        )
    )
    yield running
    await running.stop(0)


async def _session(sessions: SessionStub, **fields: object) -> str:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL, **fields))  # type: ignore[arg-type]
    return created.session.session_id


async def _messages(sessions: SessionStub, session_id: str) -> list[spb.Message]:
    response = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
    return list(response.messages)


def _position(event_id: str) -> int:
    return int(event_id.rsplit(":", 1)[1])


async def _read(
    call: grpc.aio.UnaryStreamCall[cpb.ChatStreamRequest, cpb.ChatEvent], count: int
) -> list[cpb.ChatEvent]:
    events = []
    for _ in range(count):
        event = await asyncio.wait_for(call.read(), GUARD)
        assert isinstance(event, cpb.ChatEvent)
        events.append(event)
    return events


async def _watch(
    chat: ChatStub, session_id: str, *, turn_id: str = "", after: str = ""
) -> list[cpb.ChatEvent]:
    call = chat.WatchTurn(
        cpb.WatchTurnRequest(session_id=session_id, turn_id=turn_id, after_event_id=after)
    )
    return await asyncio.wait_for(collect(call), GUARD)


async def _until(predicate: object, what: str) -> None:
    """Polls the store-backed API until `predicate()` (an async callable) holds."""
    assert callable(predicate)
    for _ in range(int(GUARD / 0.02)):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_a_stream_names_its_turn_and_every_event_has_an_increasing_id(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["Hello", " there"]))

    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Hi"))
    metadata = dict(await call.initial_metadata() or ())
    events = await collect(call)

    turn_id = metadata["mochi-turn-id"]
    assert metadata["mochi-turn"] == "started"
    assert [e.event_id.rsplit(":", 1)[0] for e in events] == [turn_id] * len(events)
    positions = [_position(e.event_id) for e in events]
    assert positions == sorted(set(positions))
    assert case(events[-1]) == "done"


async def test_the_user_message_and_the_reply_so_far_are_stored_while_the_turn_runs(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["So", " far"], hang_after=2))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    turn_id = dict(await call.initial_metadata() or ())["mochi-turn-id"]

    async def checkpointed() -> bool:
        stored = await _messages(sessions, session_id)
        return len(stored) == 2 and stored[1].content == "So far"

    await _until(checkpointed, "the reply so far is stored")
    stored = await _messages(sessions, session_id)
    session = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).session

    assert [(m.role, m.content) for m in stored] == [
        (spb.ROLE_USER, "Go"),
        (spb.ROLE_ASSISTANT, "So far"),
    ]
    assert stored[1].partial_reason == "in_progress"
    assert session.active_turn_id == turn_id
    call.cancel()


async def test_a_finished_turn_leaves_one_whole_reply_under_the_checkpointed_id(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.01))

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    )
    stored = await _messages(sessions, session_id)
    session = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).session

    assert [(m.content, m.HasField("partial_reason")) for m in stored] == [
        ("Go", False),
        ("".join(WORDS), False),
    ]
    assert events[-2].message_complete.message_id == stored[1].message_id
    assert not session.HasField("active_turn_id")


async def test_without_the_flag_hanging_up_stops_the_turn_as_before(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["a", "b"], hang_after=1))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    await _read(call, 1)

    call.cancel()

    await asyncio.wait_for(fake_ollama.requests[0].disconnected.wait(), GUARD)
    await asyncio.wait_for(server.engine.drain(), GUARD)
    stored = await _messages(sessions, session_id)
    assert [(m.content, m.partial_reason) for m in stored][1] == ("a", "cancelled")


async def test_a_turn_that_continues_on_disconnect_runs_to_its_end_and_resumes_exactly(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.02))
    call = chat.ChatStream(
        cpb.ChatStreamRequest(session_id=session_id, message="Go", continue_on_disconnect=True)
    )
    before = await _read(call, 3)

    call.cancel()
    rest = await _watch(chat, session_id, after=before[-1].event_id)

    assert not fake_ollama.requests[0].disconnected.is_set()
    assert fake_ollama.requests[0].completed
    stored = await _messages(sessions, session_id)
    assert text_of(before) + text_of(rest) == stored[1].content == "".join(WORDS)
    assert [case(e) for e in rest][-2:] == ["message_complete", "done"]
    assert "message_complete" not in [case(e) for e in before]
    assert _position(rest[0].event_id) > _position(before[-1].event_id)


async def test_every_watcher_gets_every_event_and_watching_never_stops_the_turn(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.02))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    await _read(call, 1)

    first, second = await asyncio.gather(_watch(chat, session_id), _watch(chat, session_id))
    started = await read_rest(call)
    await _watch(chat, session_id)  # a finished turn replays too

    for watched in (first, second):
        assert text_of(watched) == "".join(WORDS)
        assert [case(e) for e in watched][-2:] == ["message_complete", "done"]
        assert watched[-1].event_id == started[-1].event_id
    assert fake_ollama.requests[0].completed


async def test_a_finished_turn_replays_from_the_store_after_a_restart(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, settings: Settings
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.005))
    live = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    )
    cut = live[4].event_id

    reopened = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{reopened.port}") as channel:
            again = ChatStub(channel)
            whole = await _watch(again, session_id)
            rest = await _watch(again, session_id, after=cut)
    finally:
        await reopened.stop(0)

    assert text_of(whole) == text_of(live) == "".join(WORDS)
    assert text_of(live[:5]) + text_of(rest) == "".join(WORDS)
    assert [case(e) for e in rest][-2:] == ["message_complete", "done"]
    assert rest[-2].message_complete.message_id == live[-2].message_complete.message_id
    assert [e.event_id for e in rest][-2:] == [e.event_id for e in live][-2:]


async def test_resuming_at_the_end_of_a_finished_turn_sends_nothing_and_says_so(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    )

    call = chat.WatchTurn(
        cpb.WatchTurnRequest(session_id=session_id, after_event_id=events[-1].event_id)
    )
    metadata = dict(await call.initial_metadata() or ())

    assert await collect(call) == []
    assert metadata["mochi-watch"] == "none"


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [
        ({"turn_id": "0123456789"}, "TURN_NOT_FOUND"),
        ({"after_event_id": "not an id"}, "VALIDATION_ERROR"),
        ({"after_event_id": "0123456789:3"}, "VALIDATION_ERROR"),  # a turn of no session here
        ({"after_event_id": "TURN:999999"}, "VALIDATION_ERROR"),  # past the turn's end
        ({"turn_id": "TURN", "after_event_id": "0123456789:1"}, "VALIDATION_ERROR"),
    ],
)
async def test_watch_refuses_what_names_no_event_of_the_turn(
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
    request_fields: dict[str, str],
    reason: str,
) -> None:
    session_id = await _session(sessions)
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    turn_id = str(dict(await call.initial_metadata() or ())["mochi-turn-id"])
    await collect(call)
    fields = {k: v.replace("TURN", turn_id) for k, v in request_fields.items()}

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.WatchTurn(cpb.WatchTurnRequest(session_id=session_id, **fields)))

    assert error_info(caught.value).reason == reason


async def test_an_event_id_of_another_session_is_refused(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    first, second = await _session(sessions), await _session(sessions)
    events = await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=first, message="a")))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _watch(chat, second, after=events[0].event_id)

    info = error_info(caught.value)
    assert (info.code, info.field) == (grpc.StatusCode.INVALID_ARGUMENT, "after_event_id")


async def test_watching_a_session_without_turns_or_an_unknown_one_is_not_found(
    sessions: SessionStub, chat: ChatStub
) -> None:
    session_id = await _session(sessions)

    with pytest.raises(grpc.aio.AioRpcError) as no_turn:
        await _watch(chat, session_id)
    with pytest.raises(grpc.aio.AioRpcError) as no_session:
        await _watch(chat, "0123456789")

    assert error_info(no_turn.value).reason == "TURN_NOT_FOUND"
    assert error_info(no_session.value).reason == "SESSION_NOT_FOUND"


async def test_cancel_stops_ollama_keeps_the_partial_reply_and_frees_the_session(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["Half", " way"], hang_after=2), Reply(content=["next"]))
    call = chat.ChatStream(
        cpb.ChatStreamRequest(session_id=session_id, message="Go", continue_on_disconnect=True)
    )
    turn_id = dict(await call.initial_metadata() or ())["mochi-turn-id"]
    await fake_ollama.wait_for_chunks(await fake_ollama.wait_for_request(), 2)
    watcher = asyncio.ensure_future(_watch(chat, session_id))

    cancelled = await chat.CancelTurn(cpb.CancelTurnRequest(session_id=session_id))

    assert cancelled.turn_id == turn_id
    assert fake_ollama.requests[0].disconnected.is_set()
    stored = await _messages(sessions, session_id)
    assert [(m.content, m.partial_reason) for m in stored][1] == ("Half way", "cancelled")
    session = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).session
    assert not session.HasField("active_turn_id")
    watched = await asyncio.wait_for(watcher, GUARD)
    assert text_of(watched) == "Half way"
    assert (watched[-1].error.code, watched[-1].error.details["partial_reason"]) == (
        "TURN_STOPPED",
        "cancelled",
    )
    assert case((await collect(call))[-1]) == "error"
    await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="More")))


async def test_cancel_without_a_running_turn_is_turn_not_found(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["x"], hang_after=1))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go"))
    await _read(call, 1)

    with pytest.raises(grpc.aio.AioRpcError) as other_turn:
        await chat.CancelTurn(cpb.CancelTurnRequest(session_id=session_id, turn_id="0123456789"))
    call.cancel()
    idle = await _session(sessions)
    with pytest.raises(grpc.aio.AioRpcError) as no_turn:
        await chat.CancelTurn(cpb.CancelTurnRequest(session_id=idle))
    with pytest.raises(grpc.aio.AioRpcError) as no_session:
        await chat.CancelTurn(cpb.CancelTurnRequest(session_id="0123456789"))

    assert error_info(other_turn.value).reason == "TURN_NOT_FOUND"
    assert error_info(no_turn.value).code == grpc.StatusCode.NOT_FOUND
    assert error_info(no_turn.value).reason == "TURN_NOT_FOUND"
    assert error_info(no_session.value).reason == "SESSION_NOT_FOUND"


async def test_a_running_turn_keeps_its_session_busy_for_everyone(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["x"], hang_after=1))
    call = chat.ChatStream(
        cpb.ChatStreamRequest(session_id=session_id, message="Go", continue_on_disconnect=True)
    )
    await _read(call, 1)
    call.cancel()  # the turn runs on without its caller

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="2")))

    assert error_info(caught.value).reason == "SESSION_BUSY"
    await chat.CancelTurn(cpb.CancelTurnRequest(session_id=session_id))


async def test_an_unanswered_confirmation_of_a_turn_without_caller_times_out_as_denied(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama, settings: Settings
) -> None:
    session_id = await _session(
        sessions,
        tool_settings=spb.ToolSettings(
            tools=["shout"], execution_policy=spb.EXECUTION_POLICY_ALWAYS_CONFIRM
        ),
    )
    fake_ollama.script(
        Reply(tool_calls=[{"name": "shout", "arguments": {"text": "x"}}]),
        Reply(content=["Understood."]),
    )
    call = chat.ChatStream(
        cpb.ChatStreamRequest(session_id=session_id, message="Go", continue_on_disconnect=True)
    )
    asked = await _read(call, 1)
    assert case(asked[0]) == "tool_call_confirmation_required"

    call.cancel()
    rest = await _watch(chat, session_id, after=asked[0].event_id)

    assert text_of(rest) == "Understood."
    assert fake_ollama.requests[1].messages[-1]["content"] == "Tool 'shout' was denied by user"
    assert math_tools().calls == []
    assert case(rest[-1]) == "done"


async def test_a_turn_without_caller_is_stopped_after_the_maximum_turn_time(
    chat: ChatStub, fake_ollama: FakeOllama, settings: Settings
) -> None:
    short = await start(settings.model_copy(update={"max_turn_seconds": 0.3}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{short.port}") as channel:
            sessions, chat = SessionStub(channel), ChatStub(channel)
            session_id = await _session(sessions)
            fake_ollama.script(Reply(content=["Slow"], hang_after=1))
            call = chat.ChatStream(
                cpb.ChatStreamRequest(
                    session_id=session_id, message="Go", continue_on_disconnect=True
                )
            )
            await _read(call, 1)
            call.cancel()
            await asyncio.wait_for(fake_ollama.requests[0].disconnected.wait(), GUARD)
            await asyncio.wait_for(short.engine.drain(), GUARD)
            stored = await _messages(sessions, session_id)
    finally:
        await short.stop(0)

    assert [(m.content, m.partial_reason) for m in stored][1] == ("Slow", "deadline_exceeded")


async def test_answering_again_keeps_the_old_reply_until_the_new_one_streams(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(sessions)
    fake_ollama.script(Reply(content=["first"]), Reply(content=["second"], hang_after=0))
    await collect(chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Go")))
    call = chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id))
    await fake_ollama.wait_for_request(2)

    stored = await _messages(sessions, session_id)

    assert [m.content for m in stored] == ["Go", "first"]
    call.cancel()
