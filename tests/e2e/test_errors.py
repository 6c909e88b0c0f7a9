"""Every failure answers the SPEC's status and {"error": {code, message, details}}."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.e2e.sse_support import names, stream_events
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply

MODEL = "llama3.2:latest"


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def _session(http: httpx.AsyncClient) -> str:
    session_id: str = (await http.post("/sessions", json={"model": MODEL})).json()["session_id"]
    return session_id


async def _count(http: httpx.AsyncClient, session_id: str) -> int:
    count: int = (await http.get(f"/sessions/{session_id}")).json()["message_count"]
    return count


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sessions/abcdef0123"),
        ("PATCH", "/sessions/abcdef0123"),
        ("DELETE", "/sessions/abcdef0123"),
        ("GET", "/sessions/abcdef0123/messages"),
        ("GET", "/sessions/abcdef0123/status"),
        ("PUT", "/sessions/abcdef0123/messages/0"),
        ("PUT", "/sessions/abcdef0123/system-prompt"),
        ("DELETE", "/sessions/abcdef0123/system-prompt"),
        ("POST", "/chat/abcdef0123"),
        ("POST", "/chat/abcdef0123/stream"),
    ],
)
async def test_unknown_session_is_404(http: httpx.AsyncClient, method: str, path: str) -> None:
    body = {"content": "x"} if method == "PUT" else {}
    response = await http.request(method, path, json=body)

    error = _error(response, 404, "SESSION_NOT_FOUND")
    assert error["details"] == {"session_id": "abcdef0123"}


async def test_unknown_model_is_404_and_creates_nothing(http: httpx.AsyncClient) -> None:
    _error(await http.post("/sessions", json={"model": "ghost:1b"}), 404, "MODEL_NOT_FOUND")
    _error(await http.get("/models/ghost:1b"), 404, "MODEL_NOT_FOUND")

    assert (await http.get("/sessions")).json()["sessions"] == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'{"model": 5}',
        b'{"model": ""}',
        b'{"system_prompt": "no model"}',
        b'{"model": "llama3.2:latest", "tool_settings": {"execution_policy": "sometimes"}}',
    ],
)
async def test_bad_create_body_is_422_and_creates_nothing(
    http: httpx.AsyncClient, body: bytes
) -> None:
    response = await http.post("/sessions", content=body)

    _error(response, 422, "VALIDATION_ERROR")
    assert (await http.get("/sessions")).json()["sessions"] == []


async def test_bad_chat_body_is_422_and_changes_nothing(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)

    for body in [{"message": 5}, {"think": "yes"}]:
        _error(await http.post(f"/chat/{session_id}/stream", json=body), 422, "VALIDATION_ERROR")
    _error(await http.post(f"/chat/{session_id}", content=b"nope"), 422, "VALIDATION_ERROR")

    assert fake_ollama.requests == []
    assert await _count(http, session_id) == 0


async def test_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    response = await http.post("/sessions", json={"model": MODEL, "system_prompt": "x" * 2_000_000})

    _error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_edit_refusals(http: httpx.AsyncClient) -> None:
    session_id = await _session(http)
    await http.post(f"/chat/{session_id}", json={"message": "q"})

    _error(
        await http.put(f"/sessions/{session_id}/messages/1", json={"content": "x"}),
        400,
        "INVALID_MESSAGE_INDEX",
    )
    _error(
        await http.put(f"/sessions/{session_id}/messages/7", json={"content": "x"}),
        400,
        "INVALID_MESSAGE_INDEX",
    )
    _error(
        await http.put(f"/sessions/{session_id}/messages/-1", json={"content": "x"}),
        400,
        "INVALID_MESSAGE_INDEX",
    )
    _error(
        await http.put(f"/sessions/{session_id}/messages/one", json={"content": "x"}),
        422,
        "VALIDATION_ERROR",
    )
    _error(await http.put(f"/sessions/{session_id}/messages/0", json={}), 422, "VALIDATION_ERROR")
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    assert [m["content"] for m in messages] == ["q", "You said: q"]


async def test_regenerate_empty_session_is_400(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)

    _error(await http.post(f"/chat/{session_id}/stream", json={}), 400, "EMPTY_HISTORY")
    _error(await http.post(f"/chat/{session_id}", json={}), 400, "EMPTY_HISTORY")
    assert fake_ollama.requests == []


async def test_ollama_failure_mid_stream_is_an_error_event(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["a", "b", "c"], error_after=1, error_message="GPU gone"))

    events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "q"})

    assert names(events) == ["content_delta", "error"]
    assert events[1].data["code"] == "OLLAMA_ERROR"
    assert "GPU gone" in events[1].data["message"]
    assert set(events[1].data) == {"code", "message", "details"}


async def test_ollama_down(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _session(http)
    await fake_ollama.stop()

    events = await stream_events(http, f"/chat/{session_id}/stream", {"message": "q"})

    assert [(e.name, e.data["code"]) for e in events] == [("error", "OLLAMA_UNREACHABLE")]
    _error(await http.post(f"/chat/{session_id}", json={"message": "q"}), 502, "OLLAMA_UNREACHABLE")
    _error(await http.get("/models"), 502, "OLLAMA_UNREACHABLE")
    health = (await http.get("/health")).json()
    assert health["status"] == "ok"
    assert health["ollama_connected"] is False
    # Both turns were accepted: their user messages were stored before Ollama was asked.
    assert await _count(http, session_id) == 2


async def test_ollama_http_error_in_unary_chat_is_502(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(http_status=500, error_message="boom"))

    _error(await http.post(f"/chat/{session_id}", json={"message": "q"}), 502, "OLLAMA_ERROR")


async def test_busy_session_is_409(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _session(http)
    fake_ollama.script(Reply(content=["slow"], hang_after=1))

    async with http.stream("POST", f"/chat/{session_id}/stream", json={"message": "1"}) as first:
        await fake_ollama.wait_for_chunks(await fake_ollama.wait_for_request(), 1)
        second = await http.post(f"/chat/{session_id}/stream", json={"message": "2"})
        _error(second, 409, "SESSION_BUSY")
        assert first.status_code == 200


async def test_unknown_route_and_wrong_method(http: httpx.AsyncClient) -> None:
    _error(await http.get("/nothing/here"), 404, "NOT_FOUND")
    response = await http.delete("/health")
    _error(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


async def test_grpc_server_down_is_503(server: RunningServer) -> None:
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}")
    await server.stop(0)
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=30) as http:
            responses = [
                await http.get("/health"),
                await http.post("/sessions", json={"model": MODEL}),
                await http.post("/chat/abcdef0123/stream", json={"message": "q"}),
            ]
    finally:
        await bridge.stop()

    for response in responses:
        _error(response, 503, "SERVICE_UNAVAILABLE")
        # The bridge asks clients back after gRPC's first reconnection attempt.
        assert response.headers.get("retry-after") == "1"


async def test_turns_beyond_the_limit_are_503_with_retry_after(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    server = await start(settings.model_copy(update={"max_concurrent_turns": 1}))
    bridge_settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}")
    bridge = await EmbeddedServer.start(create_app(bridge_settings), lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as http:
            first, second = await _session(http), await _session(http)
            fake_ollama.script(Reply(content=["slow"], hang_after=1))
            async with http.stream("POST", f"/chat/{first}/stream", json={"message": "1"}) as busy:
                await fake_ollama.wait_for_chunks(await fake_ollama.wait_for_request(), 1)
                streamed = await http.post(f"/chat/{second}/stream", json={"message": "2"})
                unary = await http.post(f"/chat/{second}", json={"message": "2"})
                assert busy.status_code == 200
            refused_count = await _count(http, second)
    finally:
        await bridge.stop()
        await server.stop(0)

    for refused in (streamed, unary):
        error = _error(refused, 503, "SERVICE_UNAVAILABLE")
        assert refused.headers.get("retry-after") == "1"
        assert error["details"] == {"retry_after_seconds": "1"}
    assert refused_count == 0  # a refused turn stores nothing
