"""The curl flows of the streaming-chat document, over real HTTP and SSE."""

from __future__ import annotations

import re

import httpx

from tests.e2e.sse_support import names, stream_events, text
from tests.fakes import FakeOllama, Reply
from tests.support import runs

MODEL = "llama3.2:latest"


async def _create(http: httpx.AsyncClient, **body: object) -> str:
    response = await http.post("/sessions", json={"model": MODEL, **body})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def test_create_session_answers_201_with_the_session(http: httpx.AsyncClient) -> None:
    response = await http.post("/sessions", json={"model": MODEL})

    assert response.status_code == 201
    session = response.json()
    assert re.fullmatch(r"[0-9a-f]{10}", session["session_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", session["created_at"])
    assert session["message_count"] == 0
    assert session["tool_settings"] == {
        "tools": [],
        "execution_policy": "always_confirm",
        "tool_policies": {},
    }
    assert session["agent_settings"] == {"enabled_agents": []}


async def test_stream_a_message_event_by_event(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    session_id = await _create(http)
    fake_ollama.script(
        Reply(content=["Once", " upon", " a", " time"], eval_count=150, prompt_eval_count=20)
    )

    events = await stream_events(
        http, f"/chat/{session_id}/stream", {"message": "Tell me a short story"}
    )

    assert runs(names(events)) == ["content_delta", "message_complete", "done"]
    assert text(events) == "Once upon a time"
    assert set(events[0].data) == {"content", "role"}
    assert events[0].data["role"] == "assistant"
    complete = events[-2].data
    assert set(complete) == {
        "message_id",
        "model",
        "eval_count",
        "prompt_eval_count",
        "context_window",
    }
    assert (complete["model"], complete["eval_count"], complete["prompt_eval_count"]) == (
        MODEL,
        150,
        20,
    )
    assert complete["context_window"]["current_window"] == 8192
    assert complete["context_window"]["usage_tokens"] == 170
    assert events[-1].data == {"session_id": session_id}

    stored = (await http.get(f"/sessions/{session_id}")).json()
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "Tell me a short story"),
        ("assistant", "Once upon a time"),
    ]
    assert stored["messages"][1]["message_id"] == complete["message_id"]


async def test_edit_then_regenerate(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _create(http)
    fake_ollama.script(Reply(content=["Python!"]), Reply(content=["Rust!"]))
    await stream_events(http, f"/chat/{session_id}/stream", {"message": "Tell me about Python"})

    edited = await http.put(
        f"/sessions/{session_id}/messages/0", json={"content": "Tell me about Rust instead"}
    )
    regenerated = await stream_events(http, f"/chat/{session_id}/stream", {})

    assert edited.status_code == 200
    assert edited.json()["message"]["content"] == "Tell me about Rust instead"
    assert edited.json()["message_count"] == 1
    assert text(regenerated) == "Rust!"
    assert fake_ollama.requests[-1].messages == [
        {"role": "user", "content": "Tell me about Rust instead"}
    ]
    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    assert [m["content"] for m in messages] == ["Tell me about Rust instead", "Rust!"]


async def test_stream_with_system_prompt(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _create(http, system_prompt="You are a helpful coding assistant.")

    events = await stream_events(
        http, f"/chat/{session_id}/stream", {"message": "How do I use async/await?"}
    )

    assert names(events)[-2:] == ["message_complete", "done"]
    assert fake_ollama.requests[0].messages[0] == {
        "role": "system",
        "content": "You are a helpful coding assistant.",
    }
    session = (await http.get(f"/sessions/{session_id}")).json()
    assert session["message_count"] == 3
    assert session["messages"][0]["role"] == "system"


async def test_thinking_streams_first(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _create(http)
    fake_ollama.script(Reply(thinking=["Let me think"], content=["42"]))

    events = await stream_events(
        http, f"/chat/{session_id}/stream", {"message": "Answer?", "think": True}
    )

    assert names(events) == ["thinking_delta", "content_delta", "message_complete", "done"]
    assert events[0].data == {"content": "Let me think"}


async def test_non_streaming_chat(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    session_id = await _create(http)
    fake_ollama.script(Reply(content=["Hi", " there"], eval_count=45, prompt_eval_count=120))

    response = await http.post(f"/chat/{session_id}", json={"message": "Hello"})

    assert response.status_code == 200
    body = response.json()
    assert body["session_id"] == session_id
    assert body["message"]["content"] == "Hi there"
    assert body["message"]["role"] == "assistant"
    assert body["message"]["thinking"] is None
    assert body["tool_calls_executed"] == []
    assert body["context_window"]["usage_tokens"] == 165


async def test_list_get_patch_delete(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    older = await _create(http)
    newer = await _create(http)
    await http.post(f"/chat/{older}", json={"message": "x" * 120})

    listed = (await http.get("/sessions")).json()["sessions"]
    patched = await http.patch(f"/sessions/{newer}", json={"tool_settings": {"tools": ["add"]}})
    deleted = await http.delete(f"/sessions/{older}")
    after = await http.get(f"/sessions/{older}")

    assert [s["session_id"] for s in listed] == [older, newer]
    assert listed[0]["preview"] == "x" * 97 + "..."
    assert listed[0]["summary"] is None
    assert "tool_settings" not in listed[0]
    assert patched.status_code == 200
    assert patched.json()["tool_settings"] == {
        "tools": ["add"],
        "execution_policy": "always_confirm",
        "tool_policies": {},
    }
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert after.status_code == 404


async def test_every_message_has_all_keys(http: httpx.AsyncClient) -> None:
    session_id = await _create(http, system_prompt="sys")
    await http.post(f"/chat/{session_id}", json={"message": "q"})

    messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]

    keys = {
        "role",
        "content",
        "thinking",
        "message_id",
        "timestamp",
        "model",
        "eval_count",
        "prompt_eval_count",
        "tool_calls",
        "source_file",
        "tool_name",
        "partial_reason",
    }
    assert all(set(m) == keys for m in messages)
    assert messages[2]["model"] == MODEL
    assert messages[1]["model"] is None


async def test_health_and_models(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    health = (await http.get("/health")).json()
    models = (await http.get("/models")).json()["models"]
    one = await http.get(f"/models/{MODEL}")

    assert health == {
        "status": "ok",
        "version": "0.1.0",
        "ollama_connected": True,
        "ollama_host": fake_ollama.url,
        "backend": "ollama",
    }
    assert [m["name"] for m in models] == [MODEL]
    assert one.json()["context_length"] == 131072


async def test_status(http: httpx.AsyncClient) -> None:
    session_id = await _create(http)

    status = (await http.get(f"/sessions/{session_id}/status")).json()

    assert status["session_id"] == session_id
    assert status["context_window"]["last_adjustment_reason"] == "initial_setup"
    assert status["context_window"]["model_max_context"] == 131072
    assert status["execution_policy"] == "always_confirm"
    assert status["system_prompt_file"] is None
