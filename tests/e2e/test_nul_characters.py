"""Text with the NUL character (U+0000) is a 422 VALIDATION_ERROR that changes nothing.

JSON carries NUL as "\\u0000"; the gRPC server refuses it before any servicer
runs (PostgreSQL's text cannot hold it), and the bridge answers the SPEC's
error body naming the field.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes import FakeOllama

MODEL = "llama3.2:latest"


def _refused_for_nul(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "VALIDATION_ERROR"
    assert "NUL character (U+0000)" in error["message"]
    assert error["details"]["field"] == field


async def _session(http: httpx.AsyncClient, **body: Any) -> str:
    response = await http.post("/sessions", json={"model": MODEL, **body})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def _history(http: httpx.AsyncClient, session_id: str) -> list[tuple[str, str]]:
    response = await http.get(f"/sessions/{session_id}/messages")
    assert response.status_code == 200, response.text
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


async def test_a_chat_message_with_nul_is_422_and_changes_nothing(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _session(http)
    assert (await http.post(f"/chat/{session_id}", json={"message": "q"})).status_code == 200
    before = await _history(http, session_id)
    asked = len(fake_ollama.requests)

    streamed = await http.post(f"/chat/{session_id}/stream", json={"message": "a\u0000b"})
    unary = await http.post(f"/chat/{session_id}", json={"message": "\u0000"})

    _refused_for_nul(streamed, "message")
    _refused_for_nul(unary, "message")
    assert await _history(http, session_id) == before
    assert len(fake_ollama.requests) == asked


async def test_a_system_prompt_with_nul_is_422_and_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    session_id = await _session(http, system_prompt="Be brief.")

    response = await http.put(
        f"/sessions/{session_id}/system-prompt", json={"content": "Be\u0000 kind."}
    )

    _refused_for_nul(response, "content")
    assert await _history(http, session_id) == [("system", "Be brief.")]


async def test_an_edit_with_nul_is_422_and_changes_nothing(http: httpx.AsyncClient) -> None:
    session_id = await _session(http)
    assert (await http.post(f"/chat/{session_id}", json={"message": "q"})).status_code == 200
    before = await _history(http, session_id)

    response = await http.put(f"/sessions/{session_id}/messages/0", json={"content": "x\u0000"})

    _refused_for_nul(response, "content")
    assert await _history(http, session_id) == before


async def test_a_tool_name_with_nul_creates_no_session(http: httpx.AsyncClient) -> None:
    body = {"model": MODEL, "tool_settings": {"tools": ["clock", "sh\u0000ell"]}}

    response = await http.post("/sessions", json=body)

    _refused_for_nul(response, "tool_settings.tools[1]")
    assert (await http.get("/sessions")).json()["sessions"] == []
