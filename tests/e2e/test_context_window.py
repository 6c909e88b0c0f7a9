"""A session's context window, as the session shows it and as set by hand."""

from __future__ import annotations

from typing import Any, Final

import httpx
import pytest

from tests.fakes import FakeOllama, Reply

MODEL: Final = "llama3.2:latest"
MANUAL: Final = {"current_window": 16384, "manual_override": True}


def _big_turn() -> Reply:
    """A turn whose usage (20,001 tokens) grows a window that follows usage to 40,002."""
    return Reply(content=["Hi"], prompt_eval_count=20_000, eval_count=1)


async def _session(http: httpx.AsyncClient) -> str:
    response = await http.post("/sessions", json={"model": MODEL})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def _patch_window(http: httpx.AsyncClient, session_id: str, window: Any) -> httpx.Response:
    return await http.patch(f"/sessions/{session_id}", json={"context_window": window})


async def _window_status(http: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    status = (await http.get(f"/sessions/{session_id}/status")).json()
    window: dict[str, Any] = status["context_window"]
    return window


async def test_a_session_shows_its_context_window(http: httpx.AsyncClient) -> None:
    created = await http.post("/sessions", json={"model": MODEL})
    session_id = created.json()["session_id"]

    expected = {
        "dynamic_enabled": True,
        "current_window": 8192,
        "last_adjustment": "initial_setup",
        "manual_override": False,
        "model_max_context": 131072,
    }
    assert created.json()["context_window"] == expected
    assert (await http.get(f"/sessions/{session_id}")).json()["context_window"] == expected


async def test_a_manual_window_is_sent_to_ollama_and_kept(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)

    patched = await _patch_window(http, session_id, MANUAL)

    assert patched.status_code == 200, patched.text
    window = patched.json()["context_window"]
    assert (window["current_window"], window["manual_override"]) == (16384, True)
    fake_ollama.script(_big_turn())
    turn = await http.post(f"/chat/{session_id}", json={"message": "Hi"})
    assert (fake_ollama.requests[-1].options or {}).get("num_ctx") == 16384
    assert turn.json()["context_window"]["current_window"] == 16384
    status = await _window_status(http, session_id)
    assert status["current_window"] == 16384
    assert status["manual_override"] is True
    assert status["last_adjustment_reason"] == "manual_override"


async def test_clearing_the_manual_window_lets_it_follow_usage_again(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    await _patch_window(http, session_id, MANUAL)

    cleared = await _patch_window(http, session_id, {"manual_override": False})

    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["context_window"]["manual_override"] is False
    fake_ollama.script(_big_turn())
    turn = await http.post(f"/chat/{session_id}", json={"message": "Hi"})
    assert turn.json()["context_window"] == {
        "current_window": 40002,
        "usage_tokens": 20001,
        "reason": "usage_threshold",
    }
    assert (await _window_status(http, session_id))["manual_override"] is False


@pytest.mark.parametrize(
    "window",
    [
        {"current_window": 0, "manual_override": True},
        {"current_window": -1, "manual_override": True},
        {"current_window": 2**31, "manual_override": True},
        {"current_window": "16384", "manual_override": True},
        {"current_window": True, "manual_override": True},
        {"current_window": 16384},
        {"current_window": 16384, "manual_override": "yes"},
        16384,
    ],
)
async def test_a_malformed_window_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, window: Any
) -> None:
    session_id = await _session(http)
    before = (await http.get(f"/sessions/{session_id}")).json()["context_window"]

    response = await _patch_window(http, session_id, window)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (await http.get(f"/sessions/{session_id}")).json()["context_window"] == before
