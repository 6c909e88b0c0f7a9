"""Summaries through the bridge: POST .../summarize and GET .../summary, the
summary in the session list and the status, and the refusals, each answer
checked against the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any, Final

import httpx
import pytest

from tests.e2e.test_openapi import STATUS, SUMMARIZE, SUMMARY, UNKNOWN_SESSION, Api, Json
from tests.fakes import FakeModel, FakeOllama, Reply

MODEL: Final = "llama3.2:latest"
OTHER: Final = "qwen3:8b"
ANSWER: Final = {"summary": "A greeting and its echo.", "topics": ["greetings", "echo"]}


@pytest.fixture
def api(http: httpx.AsyncClient, bridge_url: str) -> Api:
    return Api(http, bridge_url)


def _json(value: object) -> Reply:
    return Reply(content=[json.dumps(value)])


async def _conversation(api: Api) -> Json:
    one = await api.create_session(system_prompt="Be brief.")
    await api.send("POST", "/chat/{session_id}", 200, params=one, body={"message": "Hi"})
    return one


async def test_a_summary_is_made_and_shown_over_http(api: Api, fake_ollama: FakeOllama) -> None:
    one = await _conversation(api)
    fake_ollama.script(_json(ANSWER))

    made = (await api.send("POST", SUMMARIZE, 200, params=one, body={})).json()

    assert made == {**ANSWER, "model_used": MODEL}
    got = (await api.send("GET", SUMMARY, 200, params=one)).json()
    assert got == made
    listed = (await api.send("GET", "/sessions", 200)).json()["sessions"]
    assert listed[0]["summary"] == ANSWER
    status = (await api.send("GET", STATUS, 200, params=one)).json()
    assert (status["summary"], status["summary_model"]) == (ANSWER, MODEL)


async def test_the_body_may_be_left_out_or_name_the_model(
    api: Api, http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model(FakeModel(OTHER))
    one = await _conversation(api)
    path = f"/sessions/{one['session_id']}/summarize"
    fake_ollama.script(_json(ANSWER), _json(ANSWER), _json(ANSWER))

    without = await http.post(path)
    with_null = await http.post(path, json={"model": None})
    named = await api.send("POST", SUMMARIZE, 200, params=one, body={"model": "qwen3:8b"})

    assert (without.status_code, without.json()["model_used"]) == (200, MODEL)
    assert (with_null.status_code, with_null.json()["model_used"]) == (200, MODEL)
    assert named.json()["model_used"] == OTHER
    assert [r.model for r in fake_ollama.requests[-3:]] == [MODEL, MODEL, OTHER]
    status = (await api.send("GET", STATUS, 200, params=one)).json()
    assert status["summary_model"] == OTHER


async def test_an_answer_that_does_not_fit_twice_is_a_502(
    api: Api, fake_ollama: FakeOllama
) -> None:
    one = await _conversation(api)
    fake_ollama.script(Reply(content=["not", " JSON"]), _json({"summary": 3, "topics": []}))

    refused = await api.send("POST", SUMMARIZE, 502, params=one, code="SUMMARY_INVALID")

    error = refused.json()["error"]
    assert MODEL in error["message"]
    assert error["details"]["answer"] == '{"summary": 3, "topics": []}'
    await api.send("GET", SUMMARY, 404, params=one, code="SUMMARY_NOT_FOUND")


async def test_summaries_refuse_as_documented(api: Api, fake_ollama: FakeOllama) -> None:
    unknown: Json = {"session_id": UNKNOWN_SESSION}
    await api.send("POST", SUMMARIZE, 404, params=unknown, code="SESSION_NOT_FOUND")
    await api.send("GET", SUMMARY, 404, params=unknown, code="SESSION_NOT_FOUND")
    empty = await api.create_session(system_prompt="Be brief.")
    await api.send("POST", SUMMARIZE, 400, params=empty, code="EMPTY_HISTORY")
    one = await _conversation(api)
    await api.send("GET", SUMMARY, 404, params=one, code="SUMMARY_NOT_FOUND")
    nope = {"model": "nope:1b"}
    await api.send("POST", SUMMARIZE, 404, params=one, body=nope, code="MODEL_NOT_FOUND")
    malformed: list[Any] = [{"model": 3}, {"model": ""}, {"model": ["x"]}, [], "x"]
    for body in malformed:
        await api.send("POST", SUMMARIZE, 422, params=one, body=body, code="VALIDATION_ERROR")
    fake_ollama.script(Reply(http_status=500))
    await api.send("POST", SUMMARIZE, 502, params=one, code="OLLAMA_ERROR")
    # Only the last was asked of the model: every other refusal came before it.
    assert [r.format is not None for r in fake_ollama.requests] == [False, True]
