"""Request ids through the bridge: every response names its request in
X-Request-Id (the client's own id when it is plain, a new one otherwise), and
every gRPC call made for the request carries the same id as `x-request-id`
metadata, seen on the wire by a proxy in front of the real server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_sse import aconnect_sse

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.server import RunningServer
from tests.e2e.sse_support import GUARD
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.recording_proxy import RecordingProxy, recording_proxy

MODEL = "llama3.2:latest"
UNKNOWN_SESSION = "0123456789"
# What the bridge makes when it gives an id of its own.
OWN_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[RecordingProxy]:
    async with recording_proxy(f"127.0.0.1:{server.port}") as proxy:
        yield proxy


@pytest.fixture
async def http(proxy: RecordingProxy) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a bridge whose gRPC calls go through the proxy."""
    bridge = await EmbeddedServer.start(
        create_app(BridgeSettings(grpc_target=proxy.target)), lifespan="on"
    )
    async with httpx.AsyncClient(base_url=bridge.url, timeout=GUARD) as client:
        yield client
    await bridge.stop()


def _id(response: httpx.Response) -> str:
    value: str | None = response.headers.get("x-request-id")
    assert value is not None, f"no X-Request-Id on {response.request.url}: {response.text}"
    return value


async def test_every_kind_of_answer_carries_a_new_id(http: httpx.AsyncClient) -> None:
    answers = [
        await http.get("/api/v1/health"),
        await http.post("/api/v1/sessions", json={"model": MODEL}),
        await http.get(f"/api/v1/sessions/{UNKNOWN_SESSION}"),
        await http.post("/api/v1/sessions", json={"model": 3}),
        await http.delete("/api/v1/models"),
        await http.get("/no/such/route"),
        await http.get("/metrics"),
        await http.get("/api/v1/docs"),
    ]

    assert [a.status_code for a in answers] == [200, 201, 404, 422, 405, 404, 200, 200]
    ids = [_id(a) for a in answers]
    assert all(OWN_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_plain_id_of_the_client_is_kept_and_passed_to_the_server(
    http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    mine = "checkout-7f3a.retry:2_of_3"

    answer = await http.post(
        "/api/v1/sessions", json={"model": MODEL}, headers={"X-Request-Id": mine}
    )

    assert answer.status_code == 201
    assert _id(answer) == mine
    (created,) = proxy.of_method("CreateSession")
    assert created.metadata["x-request-id"] == mine


@pytest.mark.parametrize(
    "sent",
    [
        "has space",
        "x" * 129,
        "semi;colon",
        "",
        "ünïcode",
        '"quoted"',
    ],
)
async def test_an_id_that_is_not_plain_is_replaced(
    http: httpx.AsyncClient, proxy: RecordingProxy, sent: str
) -> None:
    answer = await http.get("/api/v1/health", headers={b"X-Request-Id": sent.encode()})

    given = _id(answer)
    assert given != sent and OWN_ID.fullmatch(given)
    (info,) = proxy.of_method("GetServerInfo")
    assert info.metadata["x-request-id"] == given


async def test_the_longest_plain_id_is_kept(http: httpx.AsyncClient) -> None:
    longest = "a" * 128

    answer = await http.get("/api/v1/health", headers={"X-Request-Id": longest})

    assert _id(answer) == longest


async def test_an_error_answer_names_the_request_the_server_refused(
    http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    answer = await http.get(f"/api/v1/sessions/{UNKNOWN_SESSION}")

    assert answer.json()["error"]["code"] == "SESSION_NOT_FOUND"
    (refused,) = proxy.of_method("GetSession")
    assert refused.metadata["x-request-id"] == _id(answer)


async def test_a_stream_carries_its_id_to_the_server_and_back(
    http: httpx.AsyncClient, proxy: RecordingProxy, fake_ollama: FakeOllama
) -> None:
    created = await http.post("/api/v1/sessions", json={"model": MODEL})
    sid = created.json()["session_id"]
    fake_ollama.script(Reply(content=["Hel", "lo"]))

    async with aconnect_sse(
        http,
        "POST",
        f"/api/v1/chat/{sid}/stream",
        json={"message": "Hi"},
        headers={"X-Request-Id": "stream-1"},
    ) as source:
        events = [e.event async for e in source.aiter_sse()]
        streamed = source.response

    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "done"
    assert _id(streamed) == "stream-1"
    (turn,) = proxy.of_method("ChatStream")
    assert turn.metadata["x-request-id"] == "stream-1"
    (creating,) = proxy.of_method("CreateSession")
    assert creating.metadata["x-request-id"] == _id(created) != "stream-1"


async def test_the_id_goes_with_the_callers_key(
    http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    await http.get(
        "/api/v1/sessions",
        headers={"Authorization": "Bearer mochi_some-key", "X-Request-Id": "listing"},
    )

    (listing,) = proxy.of_method("ListSessions")
    assert listing.metadata["authorization"] == "Bearer mochi_some-key"
    assert listing.metadata["x-request-id"] == "listing"


async def test_a_page_on_another_origin_may_read_the_id(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/health", headers={"Origin": "https://elsewhere.example"})

    exposed = answer.headers["access-control-expose-headers"].lower().split(",")
    assert "x-request-id" in [name.strip() for name in exposed]
    assert OWN_ID.fullmatch(_id(answer))
