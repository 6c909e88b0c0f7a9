"""Resumable streams over HTTP: SSE ids, GET .../stream with Last-Event-ID,
turns that outlive their connection, POST .../cancel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from mochi_grpc.server import RunningServer
from tests.e2e.sse_support import GUARD, Event, names, text
from tests.fakes import FakeOllama, Reply

MODEL = "llama3.2:latest"
WORDS = [f" w{i}" for i in range(12)]


async def _session(http: httpx.AsyncClient) -> str:
    session_id: str = (await http.post("/sessions", json={"model": MODEL})).json()["session_id"]
    return session_id


async def _read_some(
    http: httpx.AsyncClient, session_id: str, body: dict[str, Any], count: int
) -> list[tuple[str, Event]]:
    """POSTs a stream, reads `count` events with their ids, then hangs up."""
    received: list[tuple[str, Event]] = []
    async with aconnect_sse(http, "POST", f"/chat/{session_id}/stream", json=body) as source:
        async for sse in source.aiter_sse():
            received.append((sse.id, Event(sse.event, json.loads(sse.data))))
            if len(received) == count:
                break
    return received


async def _watch(
    http: httpx.AsyncClient, session_id: str, **request: Any
) -> tuple[httpx.Response, list[tuple[str, Event]]]:
    received: list[tuple[str, Event]] = []
    async with aconnect_sse(http, "GET", f"/chat/{session_id}/stream", **request) as source:
        if source.response.status_code == 200:
            async for sse in source.aiter_sse():
                received.append((sse.id, Event(sse.event, json.loads(sse.data))))
    return source.response, received


async def _stored_reply(http: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    reply: dict[str, Any] = messages[-1]
    return reply


async def test_a_stream_cut_off_resumes_from_the_last_event_id_with_exactly_the_rest(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.02))

    before = await _read_some(
        http, session_id, {"message": "Go", "continue_on_disconnect": True}, 3
    )
    response, rest = await asyncio.wait_for(
        _watch(http, session_id, headers={"Last-Event-ID": before[-1][0]}), GUARD
    )

    assert response.status_code == 200
    assert not fake_ollama.requests[0].disconnected.is_set()
    events = [e for _, e in before + rest]
    assert text(events) == (await _stored_reply(http, session_id))["content"] == "".join(WORDS)
    assert names(events).count("message_complete") == names(events).count("done") == 1
    assert names(events)[-2:] == ["message_complete", "done"]
    assert all(event_id for event_id, _ in rest)


async def test_the_query_parameter_resumes_too_and_the_header_wins(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.005))
    async with aconnect_sse(
        http, "POST", f"/chat/{session_id}/stream", json={"message": "Go"}
    ) as source:
        sent = [
            (sse.id, Event(sse.event, json.loads(sse.data))) async for sse in source.aiter_sse()
        ]
    early, late = 1, len(sent) // 2

    _, by_query = await _watch(http, session_id, params={"last_event_id": sent[early][0]})
    _, by_header = await _watch(
        http,
        session_id,
        params={"last_event_id": sent[early][0]},
        headers={"Last-Event-ID": sent[late][0]},
    )

    def rest_after(index: int) -> str:
        return text([e for _, e in sent[index + 1 :]])

    assert text([e for _, e in by_query]) == rest_after(early)
    assert text([e for _, e in by_header]) == rest_after(late) != ""
    assert [i for i, _ in by_header][-2:] == [i for i, _ in sent][-2:]


async def test_watching_from_the_start_and_after_the_end(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    async with aconnect_sse(
        http, "POST", f"/chat/{session_id}/stream", json={"message": "Hello you"}
    ) as source:
        ids = [sse.id async for sse in source.aiter_sse()]

    whole, events = await _watch(http, session_id)
    ended, nothing = await _watch(http, session_id, headers={"Last-Event-ID": ids[-1]})

    assert text([e for _, e in events]) == "You said: Hello you"
    assert [event_id for event_id, _ in events][-1] == ids[-1]
    # Nothing left: 204 tells a browser's EventSource to stop reconnecting.
    assert (ended.status_code, nothing) == (204, [])
    assert whole.headers["content-type"].startswith("text/event-stream")


async def test_two_watchers_each_get_every_event(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=WORDS, chunk_delay=0.02))
    await _read_some(http, session_id, {"message": "Go", "continue_on_disconnect": True}, 1)

    (_, first), (_, second) = await asyncio.wait_for(
        asyncio.gather(_watch(http, session_id), _watch(http, session_id)), GUARD
    )

    for watched in (first, second):
        assert text([e for _, e in watched]) == "".join(WORDS)
        assert names([e for _, e in watched])[-2:] == ["message_complete", "done"]


async def test_cancel_stops_the_turn_and_reports_it_to_watchers(
    http: httpx.AsyncClient, fake_ollama: FakeOllama, server: RunningServer
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["Part", "ly"], hang_after=2))
    await _read_some(http, session_id, {"message": "Go", "continue_on_disconnect": True}, 1)
    running = (await http.get(f"/sessions/{session_id}")).json()["active_turn_id"]
    watcher = asyncio.ensure_future(_watch(http, session_id))
    await fake_ollama.wait_for_chunks(fake_ollama.requests[0], 2)

    cancelled = await http.post(f"/chat/{session_id}/cancel")

    assert (cancelled.status_code, cancelled.json()) == (200, {"turn_id": running})
    assert fake_ollama.requests[0].disconnected.is_set()
    reply = await _stored_reply(http, session_id)
    assert (reply["content"], reply["partial_reason"]) == ("Partly", "cancelled")
    assert (await http.get(f"/sessions/{session_id}")).json()["active_turn_id"] is None
    _, watched = await asyncio.wait_for(watcher, GUARD)
    last = watched[-1][1]
    assert (last.name, last.data["code"], last.data["details"]["partial_reason"]) == (
        "error",
        "TURN_STOPPED",
        "cancelled",
    )


async def test_cancel_and_watch_errors(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _session(http)

    idle = await http.post(f"/chat/{session_id}/cancel", json={})
    unknown = await http.post("/chat/0123456789/cancel")
    no_turn = await http.get(f"/chat/{session_id}/stream")
    bad_id = await http.get(f"/chat/{session_id}/stream", headers={"Last-Event-ID": "nope"})
    wrong_body = await http.post(f"/chat/{session_id}/cancel", json={"turn_id": 5})

    assert (idle.status_code, idle.json()["error"]["code"]) == (404, "TURN_NOT_FOUND")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "SESSION_NOT_FOUND")
    assert (no_turn.status_code, no_turn.json()["error"]["code"]) == (404, "TURN_NOT_FOUND")
    assert (bad_id.status_code, bad_id.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert wrong_body.status_code == 422
