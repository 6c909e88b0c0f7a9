"""Summaries over gRPC: a model's structured answer checked, stored and shown;
the model chosen; answers that do not fit; refusals; automatic summaries
after completed replies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import summary_service_pb2 as spb
from mochi_grpc.auth import KeyRing
from mochi_grpc.chat.summaries import ConversationSummary
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub, SessionStub, SummaryStub
from tests.fakes import FakeModel, FakeOllama, Reply
from tests.fakes.__main__ import tool_or_echo
from tests.support import ErrorInfo, case, collect, error_info

MODEL = "llama3.2:latest"
OTHER = "qwen3:8b"
GUARD = 10.0
UNKNOWN = "0123456789"
SUMMARY = {"summary": "The user greeted the assistant, who greeted back.", "topics": ["greetings"]}


def _json(value: object) -> Reply:
    return Reply(content=[json.dumps(value)])


@pytest.fixture
def summaries(channel: grpc.aio.Channel) -> SummaryStub:
    return SummaryStub(channel)


async def _conversation(sessions: SessionStub, chat: ChatStub, model: str = MODEL) -> str:
    """A session with a system prompt and one turn (the fake echoes it)."""
    created = await sessions.CreateSession(
        pb.CreateSessionRequest(model=model, system_prompt="Be brief.")
    )
    session_id = created.session.session_id
    await chat.Chat(cpb.ChatRequest(session_id=session_id, message="Hello there"))
    return session_id


async def _refusal(call: Awaitable[Any]) -> ErrorInfo:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return error_info(caught.value)


def _summarize(session_id: str, model: str | None = None) -> spb.SummarizeSessionRequest:
    request = spb.SummarizeSessionRequest(session_id=session_id)
    if model is not None:
        request.model = model
    return request


def _get(session_id: str) -> spb.GetSessionSummaryRequest:
    return spb.GetSessionSummaryRequest(session_id=session_id)


async def test_a_summary_is_written_stored_and_shown_with_the_session(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    before = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).session
    fake_ollama.script(_json(SUMMARY))

    made = await summaries.SummarizeSession(_summarize(session_id))

    assert (made.summary, list(made.topics), made.model_used) == (
        SUMMARY["summary"],
        SUMMARY["topics"],
        MODEL,
    )
    got = await summaries.GetSessionSummary(_get(session_id))
    assert (got.summary, list(got.topics), got.model_used) == (
        made.summary,
        list(made.topics),
        MODEL,
    )
    session = (await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))).session
    listed = (await sessions.ListSessions(pb.ListSessionsRequest())).sessions[0]
    status = await sessions.GetSessionStatus(pb.GetSessionStatusRequest(session_id=session_id))
    for shown in (session, listed, status):
        assert (shown.summary.summary, list(shown.summary.topics)) == (
            SUMMARY["summary"],
            SUMMARY["topics"],
        )
        assert shown.summary_model == MODEL
    # Writing a summary is not a change of the conversation.
    assert session.updated_at == before.updated_at


async def test_the_model_is_asked_for_structured_output_about_the_conversation(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    fake_ollama.script(_json(SUMMARY))

    await summaries.SummarizeSession(_summarize(session_id))

    asked = fake_ollama.requests[-1]
    assert asked.format == ConversationSummary.model_json_schema()
    assert asked.model == MODEL
    assert asked.tools == []
    quoted = asked.messages[-1]["content"]
    assert "User: Hello there\n\nAssistant: You said: Hello there" in quoted
    # The session's system prompt is not the conversation.
    assert all("Be brief." not in m["content"] for m in asked.messages)
    assert asked.options is not None and asked.options["num_ctx"] == 8192


async def test_the_model_named_in_the_request_writes_the_summary(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(OTHER, family="qwen3", context_length=40960))
    session_id = await _conversation(sessions, chat)
    fake_ollama.script(_json(SUMMARY))

    made = await summaries.SummarizeSession(_summarize(session_id, "qwen3:8b"))

    assert made.model_used == OTHER
    assert fake_ollama.requests[-1].model == OTHER
    status = await sessions.GetSessionStatus(pb.GetSessionStatusRequest(session_id=session_id))
    assert (status.model, status.summary_model) == (MODEL, OTHER)


async def test_when_the_sessions_model_is_gone_the_last_summarys_model_writes(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(OTHER))
    session_id = await _conversation(sessions, chat)
    fake_ollama.script(_json(SUMMARY), _json({"summary": "Again.", "topics": []}))
    await summaries.SummarizeSession(_summarize(session_id, OTHER))
    fake_ollama.remove_model(MODEL)

    made = await summaries.SummarizeSession(_summarize(session_id))

    assert (made.summary, made.model_used) == ("Again.", OTHER)
    fake_ollama.remove_model(OTHER)
    gone = await _refusal(summaries.SummarizeSession(_summarize(session_id)))
    assert (gone.code, gone.reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")
    assert gone.details["model"] == MODEL


async def test_an_answer_that_does_not_fit_is_asked_again_once(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    before = len(fake_ollama.requests)
    fake_ollama.script(Reply(content=["Sure! Here", " is a summary."]), _json(SUMMARY))

    made = await summaries.SummarizeSession(_summarize(session_id))

    assert made.summary == SUMMARY["summary"]
    first, second = fake_ollama.requests[before:]
    assert second.format == first.format
    # The second request shows the model its answer and what was wrong with it.
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[-2] == {"role": "assistant", "content": "Sure! Here is a summary."}
    assert second.messages[-1]["role"] == "user"
    assert "does not fit" in second.messages[-1]["content"]


async def test_two_answers_that_do_not_fit_are_summary_invalid_and_store_nothing(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    fake_ollama.script(_json(SUMMARY))
    await summaries.SummarizeSession(_summarize(session_id))
    before = len(fake_ollama.requests)
    fake_ollama.script(
        _json({"summary": "", "topics": []}), Reply(content=["I cannot", " summarize that."])
    )

    refused = await _refusal(summaries.SummarizeSession(_summarize(session_id)))

    assert (refused.code, refused.reason) == (grpc.StatusCode.UNAVAILABLE, "SUMMARY_INVALID")
    assert refused.details["answer"] == "I cannot summarize that."
    assert refused.details["model"] == MODEL
    assert MODEL in refused.message
    assert len(fake_ollama.requests) - before == 2
    kept = await summaries.GetSessionSummary(_get(session_id))
    assert kept.summary == SUMMARY["summary"]


async def test_refusals_name_their_reason_and_ask_no_model(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    empty = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL, system_prompt="Be brief.")
    )
    empty_id = empty.session.session_id
    talked = await _conversation(sessions, chat)
    before = len(fake_ollama.requests)

    refusals = {
        "unknown session": await _refusal(summaries.SummarizeSession(_summarize(UNKNOWN))),
        "unknown session, get": await _refusal(summaries.GetSessionSummary(_get(UNKNOWN))),
        "nothing said": await _refusal(summaries.SummarizeSession(_summarize(empty_id))),
        "nothing said, to an unknown model": await _refusal(
            summaries.SummarizeSession(_summarize(empty_id, "nope:1b"))
        ),
        "no summary yet": await _refusal(summaries.GetSessionSummary(_get(talked))),
        "unknown model": await _refusal(summaries.SummarizeSession(_summarize(talked, "nope:1b"))),
        "empty model": await _refusal(summaries.SummarizeSession(_summarize(talked, ""))),
    }

    assert {what: (r.code, r.reason) for what, r in refusals.items()} == {
        "unknown session": (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND"),
        "unknown session, get": (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND"),
        "nothing said": (grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_HISTORY"),
        "nothing said, to an unknown model": (grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_HISTORY"),
        "no summary yet": (grpc.StatusCode.NOT_FOUND, "SUMMARY_NOT_FOUND"),
        "unknown model": (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND"),
        "empty model": (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR"),
    }
    assert refusals["empty model"].field == "model"
    assert len(fake_ollama.requests) == before


async def test_an_unreachable_ollama_is_reported_and_stores_nothing(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    session_id = await _conversation(sessions, chat)
    await fake_ollama.stop()

    refused = await _refusal(summaries.SummarizeSession(_summarize(session_id)))

    assert (refused.code, refused.reason) == (grpc.StatusCode.UNAVAILABLE, "OLLAMA_UNREACHABLE")
    missing = await _refusal(summaries.GetSessionSummary(_get(session_id)))
    assert missing.reason == "SUMMARY_NOT_FOUND"


# -- keys ---------------------------------------------------------------------


@pytest.fixture
async def keyed_server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"auth": "required"}))
    yield running
    await running.stop(0)


def _as(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def test_another_keys_session_does_not_exist_for_summaries(
    keyed_server: RunningServer, fake_ollama: FakeOllama
) -> None:
    keys = KeyRing(keyed_server.store)
    alice, bob = _as((await keys.create("alice"))[1]), _as((await keys.create("bob"))[1])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{keyed_server.port}") as channel:
        sessions, chat, summaries = SessionStub(channel), ChatStub(channel), SummaryStub(channel)
        created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL), metadata=alice)
        sid = created.session.session_id
        await chat.Chat(cpb.ChatRequest(session_id=sid, message="Hi"), metadata=alice)
        fake_ollama.script(_json(SUMMARY))
        await summaries.SummarizeSession(_summarize(sid), metadata=alice)
        before = len(fake_ollama.requests)

        bobs = [
            await _refusal(summaries.SummarizeSession(_summarize(sid), metadata=bob)),
            await _refusal(summaries.GetSessionSummary(_get(sid), metadata=bob)),
        ]
        unknown = await _refusal(summaries.GetSessionSummary(_get(UNKNOWN), metadata=bob))
        alices = await summaries.GetSessionSummary(_get(sid), metadata=alice)

    for refused in bobs:
        assert (refused.code, refused.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
        assert refused.message == unknown.message.replace(UNKNOWN, sid)
    assert len(fake_ollama.requests) == before
    assert alices.summary == SUMMARY["summary"]


# -- automatic summaries ------------------------------------------------------


@pytest.fixture
async def automatic_server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"summarize_automatically": True}))
    yield running
    await running.stop(0)


@pytest.fixture
async def automatic(
    automatic_server: RunningServer,
) -> AsyncIterator[tuple[SessionStub, ChatStub, SummaryStub]]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{automatic_server.port}") as channel:
        yield SessionStub(channel), ChatStub(channel), SummaryStub(channel)


async def _until_summarized(
    summaries: SummaryStub, session_id: str
) -> spb.GetSessionSummaryResponse:
    """Asks until the session has a summary (written in the background)."""
    async with asyncio.timeout(GUARD):
        while True:
            try:
                return await summaries.GetSessionSummary(_get(session_id))
            except grpc.aio.AioRpcError as exc:
                assert error_info(exc).reason == "SUMMARY_NOT_FOUND"
            await asyncio.sleep(0.05)


async def test_a_completed_reply_is_summarized_in_the_background(
    automatic: tuple[SessionStub, ChatStub, SummaryStub], fake_ollama: FakeOllama
) -> None:
    sessions, chat, summaries = automatic
    fake_ollama.default_reply = tool_or_echo  # echoes turns, answers summaries in JSON
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    session_id = created.session.session_id

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Tell me about tides"))
    )
    summary = await _until_summarized(summaries, session_id)

    assert case(events[-1]) == "done"
    assert summary.summary == (
        'A conversation of 2 messages. The user began with "Tell me about tides".'
    )
    assert (list(summary.topics), summary.model_used) == (["about", "tides"], MODEL)
    assert fake_ollama.requests[-1].format is not None


async def test_a_failing_automatic_summary_leaves_the_turn_and_its_reply_alone(
    automatic: tuple[SessionStub, ChatStub, SummaryStub],
    automatic_server: RunningServer,
    fake_ollama: FakeOllama,
) -> None:
    sessions, chat, summaries = automatic
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    session_id = created.session.session_id
    # The reply, then two summary answers that are not JSON (the echo).
    fake_ollama.script(Reply(content=["Hello", " back"]))

    events = await collect(
        chat.ChatStream(cpb.ChatStreamRequest(session_id=session_id, message="Hi"))
    )
    # Both tries of the summary were answered, and it has ended.
    await asyncio.wait_for(fake_ollama.wait_for_request(3), GUARD)
    assert automatic_server.summarizer is not None
    summarizing = automatic_server.summarizer.running(session_id)
    if summarizing is not None:
        await asyncio.wait_for(asyncio.shield(summarizing), GUARD)

    assert [case(e) for e in events][-2:] == ["message_complete", "done"]
    assert [r.format is not None for r in fake_ollama.requests] == [False, True, True]
    stored = await sessions.ListMessages(pb.ListMessagesRequest(session_id=session_id))
    assert [(m.content, m.HasField("partial_reason")) for m in stored.messages] == [
        ("Hi", False),
        ("Hello back", False),
    ]
    missing = await _refusal(summaries.GetSessionSummary(_get(session_id)))
    assert missing.reason == "SUMMARY_NOT_FOUND"
    # The session takes the next turn as usual.
    again = await chat.Chat(cpb.ChatRequest(session_id=session_id, message="Again"))
    assert again.message.content == "You said: Again"


async def test_without_automatic_summaries_no_reply_is_summarized(
    sessions: SessionStub, chat: ChatStub, summaries: SummaryStub, fake_ollama: FakeOllama
) -> None:
    fake_ollama.default_reply = tool_or_echo
    session_id = await _conversation(sessions, chat)
    await chat.Chat(cpb.ChatRequest(session_id=session_id, message="And again"))

    assert [r.format for r in fake_ollama.requests] == [None, None]
    missing = await _refusal(summaries.GetSessionSummary(_get(session_id)))
    assert missing.reason == "SUMMARY_NOT_FOUND"
