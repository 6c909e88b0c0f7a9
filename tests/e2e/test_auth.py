"""API keys through the bridge: it passes the caller's Authorization on and
answers the server's refusals as HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.e2e.sse_support import Event, names, stream_events, text
from tests.e2e.test_openapi import Api, generated_cases
from tests.fakes import FakeOllama, Reply, echo_reply
from tests.fakes.__main__ import summary_reply

MODEL = "llama3.2:latest"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"auth": "required"}))
    yield running
    await running.stop(0)


@pytest.fixture
async def tokens(server: RunningServer) -> dict[str, str]:
    keys = KeyRing(server.store)
    return {
        name: (await keys.create(name, admin=name == "root"))[1]
        for name in ("alice", "bob", "root")
    }


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_without_a_key_the_api_is_401_but_health_answers(
    http: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    refused = await http.get("/sessions")
    wrong = await http.get("/sessions", headers=_as("mochi_wrong"))
    health = await http.get("/health")
    full_health = await http.get("/health", headers=_as(tokens["bob"]))

    for response in (refused, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["ollama_connected"] is None
    assert full_health.json()["ollama_connected"] is True


async def test_keys_see_their_own_sessions_through_the_bridge(
    http: httpx.AsyncClient, tokens: dict[str, str], fake_ollama: FakeOllama
) -> None:
    alice, bob, root = _as(tokens["alice"]), _as(tokens["bob"]), _as(tokens["root"])
    created = await http.post("/sessions", json={"model": MODEL}, headers=alice)
    sid = created.json()["session_id"]

    events = await stream_events_as(http, f"/chat/{sid}/stream", {"message": "Hi"}, alice)
    bobs = await http.get(f"/sessions/{sid}", headers=bob)
    bobs_list = await http.get("/sessions", headers=bob)
    roots_list = await http.get("/sessions", headers=root)
    bobs_prompt = await http.post(
        "/system-prompts", json={"filename": "x.md", "content": "x"}, headers=bob
    )

    assert created.status_code == 201
    assert names(events)[-2:] == ["message_complete", "done"] and text(events) == "You said: Hi"
    assert (bobs.status_code, bobs.json()["error"]["code"]) == (404, "SESSION_NOT_FOUND")
    assert bobs_list.json()["sessions"] == []
    assert [s["session_id"] for s in roots_list.json()["sessions"]] == [sid]
    assert (bobs_prompt.status_code, bobs_prompt.json()["error"]["code"]) == (
        403,
        "PERMISSION_DENIED",
    )


async def test_a_revoked_key_gets_401(
    http: httpx.AsyncClient, tokens: dict[str, str], server: RunningServer
) -> None:
    alice = _as(tokens["alice"])
    assert (await http.get("/sessions", headers=alice)).status_code == 200

    await KeyRing(server.store).revoke("alice")

    assert (await http.get("/sessions", headers=alice)).status_code == 401


async def stream_events_as(
    http: httpx.AsyncClient, path: str, body: dict[str, str], headers: dict[str, str]
) -> list[Event]:
    async with httpx.AsyncClient(
        base_url=str(http.base_url), headers=headers, timeout=10
    ) as authorized:
        return await stream_events(authorized, path, body)


# Open to all, also when keys are required.
OPEN = {"/api/v1/health", "/api/v1/openapi.json"}


def _as_a_model_would(body: dict[str, object]) -> Reply:
    """The echo, and JSON that fits when structured output is asked for (a
    summary), as a model held to a format answers."""
    return summary_reply(body) if body.get("format") is not None else echo_reply(body)


async def test_generated_requests_with_and_without_keys_get_documented_answers(
    bridge_url: str, tokens: dict[str, str], fake_ollama: FakeOllama
) -> None:
    """Schemathesis cases for every documented operation: without a key none
    succeeds (only the open routes answer 2xx), with alice's key everything
    answers as documented and nothing is a 5xx, and bob's key never gets at
    alice's session."""
    clients = {
        who: httpx.AsyncClient(headers={} if who == "nobody" else _as(tokens[who]), timeout=10)
        for who in ("nobody", "alice", "bob")
    }
    fake_ollama.default_reply = _as_a_model_would
    try:
        apis = {who: Api(client, bridge_url) for who, client in clients.items()}
        alices = await apis["alice"].create_session()
        await apis["alice"].send(
            "POST", "/chat/{session_id}", 200, params=alices, body={"message": "Hi"}
        )
        statuses: dict[str, set[int]] = {}
        for who in ("nobody", "bob", "alice"):
            seen = statuses.setdefault(who, set())
            for case in generated_cases(alices):
                response = await apis[who].send_case(case)
                seen.add(response.status_code)
                assert response.status_code < 500 or response.status_code == 503, case
                if who == "nobody" and case.path not in OPEN:
                    assert response.status_code >= 400, (case.method, case.path)
                if who == "bob" and "{session_id}" in case.path and response.is_success:
                    raise AssertionError(f"bob reached alice's session: {case.method} {case.path}")
    finally:
        for client in clients.values():
            await client.aclose()

    assert 401 in statuses["nobody"]
    assert {200, 404} <= statuses["bob"]
    assert {200, 204} <= statuses["alice"]
