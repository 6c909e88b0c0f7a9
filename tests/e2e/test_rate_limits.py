"""Turns per key per minute (MOCHI_RATE_LIMIT_TURNS_PER_MINUTE), over HTTP and gRPC."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ChatStub
from tests.support import error_info

MODEL = "llama3.2:latest"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(
        settings.model_copy(update={"auth": "required", "rate_limit_turns_per_minute": 3})
    )
    yield running
    await running.stop(0)


async def test_the_fourth_turn_in_a_minute_is_429_with_retry_after_and_per_key(
    http: httpx.AsyncClient, server: RunningServer
) -> None:
    keys = KeyRing(server.store)
    alice = {"Authorization": f"Bearer {(await keys.create('alice'))[1]}"}
    bob = {"Authorization": f"Bearer {(await keys.create('bob'))[1]}"}
    session = (await http.post("/sessions", json={"model": MODEL}, headers=alice)).json()
    path = f"/chat/{session['session_id']}"

    done = [await http.post(path, json={"message": f"{n}"}, headers=alice) for n in range(3)]
    fourth = await http.post(path, json={"message": "4"}, headers=alice)
    streamed = await http.post(path + "/stream", json={"message": "4"}, headers=alice)
    bobs_session = (await http.post("/sessions", json={"model": MODEL}, headers=bob)).json()
    bobs = await http.post(
        f"/chat/{bobs_session['session_id']}", json={"message": "hi"}, headers=bob
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ChatStub(channel).Chat(
                cpb.ChatRequest(session_id=session["session_id"], message="4"),
                metadata=(("authorization", alice["Authorization"]),),
            )

    assert [r.status_code for r in done] == [200, 200, 200]
    for refused in (fourth, streamed):
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "RATE_LIMITED")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert bobs.status_code == 200
    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    raw = dict(caught.value.trailing_metadata() or ())["grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status_pb2.Status.FromString(raw).details)
    assert 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 60
    messages = await http.get(f"{'/sessions/' + session['session_id']}/messages", headers=alice)
    assert len(messages.json()["messages"]) == 6  # the refused turns stored nothing
    assert math.isfinite(float(fourth.json()["error"]["details"]["retry_after_seconds"]))
