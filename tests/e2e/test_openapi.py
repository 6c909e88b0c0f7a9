"""The bridge answers as its OpenAPI document says.

Requests go over real HTTP to the bridge on uvicorn, in front of the real
gRPC server and the fake Ollama. schemathesis validates every response
against bridge.openapi.document(): the status is documented, so is the
content type, and the body (or each event of an SSE stream) matches its
schema. Error answers must also carry a code the document lists for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from openapi_spec_validator import validate
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sse_starlette import ServerSentEvent
from starlette.routing import BaseRoute, Mount, Route

from bridge import sse
from bridge.app import API_PREFIX, create_app
from bridge.config import BridgeSettings
from bridge.openapi import document
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer
from tests.e2e.sse_support import open_stream, read_until
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.support import runs
from tests.tools_fixture import write_tools

Json = dict[str, Any]
Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]
# method, path template, path parameters, body (None: no body)
Call = tuple[str, str, Json, Json | None]

MODEL: Final = "llama3.2:latest"
UNKNOWN_SESSION: Final = "0123456789"
# Small enough that an oversized request arrives in one read, so the bridge's
# early 413 cannot race the client still writing its body.
TIGHT_BODY_LIMIT: Final = 64
# Generated requests per operation and mode; enough to reach every kind of
# answer while keeping the file fast.
CASES_PER_OPERATION: Final = 3

CHECKS: Final[list[CheckFunction]] = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
HTTP_METHODS: Final = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

SESSION: Final = "/sessions/{session_id}"
MESSAGES: Final = "/sessions/{session_id}/messages"
MESSAGE: Final = "/sessions/{session_id}/messages/{message_index}"
STATUS: Final = "/sessions/{session_id}/status"
SYSTEM_PROMPT: Final = "/sessions/{session_id}/system-prompt"
PROMPTS: Final = "/system-prompts"
PROMPT: Final = "/system-prompts/{filename}"
CHAT: Final = "/chat/{session_id}"
STREAM: Final = "/chat/{session_id}/stream"
MODEL_PATH: Final = "/models/{model_name}"
TOOLS: Final = "/tools"
TOOL: Final = "/tools/{tool_name}"
RELOAD: Final = "/tools/reload"
CONFIRM: Final = "/chat/{session_id}/confirm-tool"
SUMMARIZE: Final = "/sessions/{session_id}/summarize"
SUMMARY: Final = "/sessions/{session_id}/summary"
# A call of one of the tools of tests.tools_fixture.
MULTIPLY: Final = {"name": "multiply_numbers", "arguments": {"a": 6, "b": 7}}


@cache
def api_schema() -> BaseSchema:
    return schemathesis.openapi.from_dict(document())


def operation(method: str, path: str) -> Operation:
    """The operation at `path`, a template under the API prefix."""
    return api_schema()[API_PREFIX + path][method]


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, full path) of every operation, in the document's order."""
    return [
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


def documented_codes(method: str, path: str, status: int) -> list[str]:
    responses = document()["paths"][API_PREFIX + path][method.lower()]["responses"]
    codes: list[str] = responses[str(status)].get("x-error-codes", [])
    return codes


@dataclass(frozen=True)
class Api:
    """Sends schemathesis cases over HTTP and validates every response."""

    http: httpx.AsyncClient
    origin: str

    async def send_case(self, case: AnyCase) -> httpx.Response:
        sent = case.as_transport_kwargs(base_url=self.origin)
        response = await self.http.request(
            sent["method"],
            sent["url"],
            params=sent["params"],
            headers=sent["headers"],
            json=sent.get("json"),
            content=sent.get("data"),
        )
        case.validate_response(response, checks=CHECKS)
        return response

    async def send(
        self,
        method: str,
        path: str,
        status: int,
        *,
        params: Mapping[str, Any] | None = None,
        query: Json | None = None,
        body: Any = None,
        code: str | None = None,
    ) -> httpx.Response:
        """Sends and validates; the answer must have `status` and, for an
        error, the `code`, which the document must list for that status."""
        extra = {} if body is None else {"body": body}
        case = operation(method, path).Case(
            path_parameters=dict(params or {}), query=query, **extra
        )
        response = await self.send_case(case)
        assert response.status_code == status, response.text
        if code is not None:
            assert response.json()["error"]["code"] == code
            assert code in documented_codes(method, path, status)
        return response

    async def create_session(self, **body: Any) -> Json:
        """A new session, as path parameters."""
        response = await self.send("POST", "/sessions", 201, body={"model": MODEL, **body})
        return {"session_id": response.json()["session_id"]}


@pytest.fixture
def api(http: httpx.AsyncClient, bridge_url: str) -> Api:
    return Api(http, bridge_url)


@pytest.fixture
async def tight_api(server: RunningServer) -> AsyncIterator[Api]:
    """A second bridge over the same server, with a tiny body limit."""
    settings = BridgeSettings(
        grpc_target=f"127.0.0.1:{server.port}", max_body_bytes=TIGHT_BODY_LIMIT
    )
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    async with httpx.AsyncClient(timeout=10) as client:
        yield Api(client, bridge.url)
    await bridge.stop()


async def load_test_tools(api: Api, tools_dir: Path) -> Json:
    """Writes the test tools and loads them with a documented reload."""
    write_tools(tools_dir)
    reloaded: Json = (await api.send("POST", RELOAD, 200)).json()
    return reloaded


@pytest.fixture
async def tools_api(api: Api, settings: Settings) -> Api:
    """The api, with the test tools loaded."""
    await load_test_tools(api, settings.resolved_tools_dir)
    return api


def sse_events(response: httpx.Response) -> list[tuple[str, Json]]:
    """(name, data) of each event of a whole stream."""
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def names(events: Iterable[tuple[str, Json]]) -> list[str]:
    return [name for name, _ in events]


def with_content(response: httpx.Response, content: bytes) -> httpx.Response:
    """The response with another body, as if the bridge had sent that."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    changed = httpx.Response(
        response.status_code, headers=headers, content=content, request=response.request
    )
    changed.elapsed = timedelta(0)  # schemathesis reads it; only a client sets it
    return changed


# -- the document itself ------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    validate(document())
    assert document()["openapi"].startswith("3.1.")


def _openapi_path(starlette_path: str) -> str:
    """/models/{model_name:path} -> /models/{model_name}."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", starlette_path)


# Pages for people (the chat page, the interactive docs and its shortcut),
# not API operations: their routes say include_in_schema=False.
PAGES: Final = {("GET", "/"), ("GET", "/docs"), ("GET", API_PREFIX + "/docs")}


def _app_operations(
    routes: Iterable[BaseRoute], prefix: str = "", *, in_schema: bool = True
) -> Iterator[tuple[str, str]]:
    """(METHOD, path) of the app's routes that are (or, with in_schema=False,
    are not) API operations. A mounted app (static files) has no operation."""
    for route in routes:
        if isinstance(route, Mount):
            yield from _app_operations(route.routes, prefix + route.path, in_schema=in_schema)
        elif isinstance(route, Route):
            if route.include_in_schema != in_schema:
                continue
            # Starlette answers HEAD on every GET route by itself; not an operation.
            for method in (route.methods or set()) - {"HEAD"}:
                yield method, prefix + _openapi_path(route.path)
        else:
            raise AssertionError(f"a kind of route the document cannot list: {route!r}")


def test_document_lists_exactly_the_routes_of_the_app() -> None:
    app = create_app(BridgeSettings())
    assert set(documented_operations()) == set(_app_operations(app.routes))
    # Only pages for people are left out.
    assert set(_app_operations(app.routes, in_schema=False)) == PAGES


def _stream_media_type() -> Json:
    stream = document()["paths"][API_PREFIX + STREAM]["post"]
    media_type: Json = stream["responses"]["200"]["content"]["text/event-stream"]
    return media_type


def test_document_names_every_chat_event() -> None:
    oneof = pb.ChatEvent.DESCRIPTOR.oneofs_by_name["event"]
    assert set(_stream_media_type()["x-sse-events"]) == {f.name for f in oneof.fields}


def _every_kind_of_event() -> Iterator[tuple[str, str]]:
    """One ChatEvent of each kind, turned into SSE by the bridge's encoder."""
    for field in pb.ChatEvent.DESCRIPTOR.oneofs_by_name["event"].fields:
        event = pb.ChatEvent()
        getattr(event, field.name).SetInParent()
        yield sse.event(event)
    yield sse.error_event("INTERNAL_ERROR", "Internal error")


def test_every_event_the_bridge_can_send_matches_the_document() -> None:
    # Agent events cannot be produced through the fake Ollama, so every kind
    # comes from the bridge's own encoder rather than from a live stream.
    body = b"".join(
        ServerSentEvent(data, event=name).encode() for name, data in _every_kind_of_event()
    )
    url = f"http://bridge{API_PREFIX}/chat/{UNKNOWN_SESSION}/stream"
    response = with_content(
        httpx.Response(
            200,
            headers={"content-type": "text/event-stream; charset=utf-8"},
            request=httpx.Request("POST", url),
        ),
        body,
    )
    case = operation("POST", STREAM).Case(path_parameters={"session_id": UNKNOWN_SESSION}, body={})
    case.validate_response(response, checks=CHECKS)


async def test_the_served_document_is_the_document(api: Api) -> None:
    response = await api.send("GET", "/openapi.json", 200)
    assert response.json() == document()


# -- health and models --------------------------------------------------------


async def test_health_and_models_answer_as_documented(api: Api) -> None:
    assert (await api.send("GET", "/health", 200)).json()["ollama_connected"] is True
    models = (await api.send("GET", "/models", 200)).json()["models"]
    assert [m["name"] for m in models] == [MODEL]
    await api.send("GET", MODEL_PATH, 200, params={"model_name": MODEL})
    await api.send("GET", MODEL_PATH, 404, params={"model_name": "nope:1b"}, code="MODEL_NOT_FOUND")


# -- sessions -----------------------------------------------------------------


async def test_session_routes_answer_as_documented(api: Api) -> None:
    one = await api.create_session(
        system_prompt="Be brief.",
        system_prompt_source_file="brief.md",
        tool_settings={"tools": ["clock"], "tool_policies": {"clock": "never_confirm"}},
        agent_settings={"enabled_agents": ["researcher"]},
    )
    await api.create_session()

    first_page = await api.send("GET", "/sessions", 200, query={"page_size": 1})
    token = first_page.json()["next_page_token"]
    assert isinstance(token, str)
    last_page = await api.send("GET", "/sessions", 200, query={"page_size": 1, "page_token": token})
    assert last_page.json()["next_page_token"] is None
    await api.send("GET", SESSION, 200, params=one)
    await api.send("GET", STATUS, 200, params=one)
    await api.send("GET", MESSAGES, 200, params=one, query={"page_size": 1})
    await api.send("PATCH", SESSION, 200, params=one, body={"tool_settings": {"tools": []}})
    window = {"current_window": 16384, "manual_override": True}
    await api.send("PATCH", SESSION, 200, params=one, body={"context_window": window})
    await api.send("DELETE", SESSION, 204, params=one)


async def test_session_routes_refuse_as_documented(api: Api) -> None:
    invalid = "VALIDATION_ERROR"
    await api.send("POST", "/sessions", 404, body={"model": "nope:1b"}, code="MODEL_NOT_FOUND")
    await api.send("POST", "/sessions", 422, body={"system_prompt": "x"}, code=invalid)
    await api.send("GET", "/sessions", 422, query={"page_size": 0}, code=invalid)
    await api.send("GET", "/sessions", 422, query={"page_token": "!"}, code=invalid)
    unknown: Json = {"session_id": UNKNOWN_SESSION}
    calls: list[Call] = [
        ("GET", SESSION, unknown, None),
        ("PATCH", SESSION, unknown, {}),
        ("DELETE", SESSION, unknown, None),
        ("GET", MESSAGES, unknown, None),
        ("GET", STATUS, unknown, None),
    ]
    for method, path, params, body in calls:
        await api.send(method, path, 404, params=params, body=body, code="SESSION_NOT_FOUND")
    one = await api.create_session()
    patch = {"model": "nope:1b"}
    await api.send("PATCH", SESSION, 404, params=one, body=patch, code="MODEL_NOT_FOUND")
    await api.send("PATCH", SESSION, 422, params=one, body={"model": 3}, code=invalid)
    window = {"context_window": {"current_window": 0, "manual_override": True}}
    await api.send("PATCH", SESSION, 422, params=one, body=window, code=invalid)
    await api.send("GET", MESSAGES, 422, params=one, query={"page_size": 1001}, code=invalid)


async def test_edit_message_answers_as_documented(api: Api) -> None:
    one = await api.create_session(system_prompt="Be brief.")
    await api.send("POST", CHAT, 200, params=one, body={"message": "Hi"})

    def at(index: int) -> dict[str, Any]:
        return {**one, "message_index": index}

    edited = await api.send("PUT", MESSAGE, 200, params=at(1), body={"content": "Hello"})
    assert edited.json()["message_count"] == 2
    bad_index = "INVALID_MESSAGE_INDEX"
    await api.send("PUT", MESSAGE, 400, params=at(0), body={"content": "x"}, code=bad_index)
    await api.send("PUT", MESSAGE, 400, params=at(2**31), body={"content": "x"}, code=bad_index)
    await api.send("PUT", MESSAGE, 422, params=at(1), body={"text": "x"}, code="VALIDATION_ERROR")
    await api.send(
        "PUT",
        MESSAGE,
        404,
        params={"session_id": UNKNOWN_SESSION, "message_index": 1},
        body={"content": "x"},
        code="SESSION_NOT_FOUND",
    )


# -- system prompts -----------------------------------------------------------


async def test_session_system_prompt_routes_answer_as_documented(api: Api) -> None:
    one = await api.create_session()
    await api.send("POST", PROMPTS, 201, body={"filename": "brief.md", "content": "Be brief."})
    from_file = await api.send(
        "PUT", SYSTEM_PROMPT, 200, params=one, body={"source_file": "brief.md"}
    )
    assert from_file.json()["source_file"] == "brief.md"
    text = await api.send("PUT", SYSTEM_PROMPT, 200, params=one, body={"content": "Be kind."})
    assert text.json()["source_file"] is None
    await api.send("DELETE", SYSTEM_PROMPT, 204, params=one)


async def test_session_system_prompt_routes_refuse_as_documented(api: Api) -> None:
    one = await api.create_session()
    missing = {"source_file": "missing.md"}
    await api.send("PUT", SYSTEM_PROMPT, 404, params=one, body=missing, code="PROMPT_NOT_FOUND")
    await api.send("PUT", SYSTEM_PROMPT, 422, params=one, body={}, code="VALIDATION_ERROR")
    await api.send("DELETE", SYSTEM_PROMPT, 404, params=one, code="NO_SYSTEM_PROMPT")


async def test_prompt_file_routes_answer_as_documented(api: Api) -> None:
    await api.send("POST", PROMPTS, 201, body={"filename": "brief.md", "content": "Be brief."})
    listed = await api.send("GET", PROMPTS, 200)
    assert [p["filename"] for p in listed.json()["prompts"]] == ["brief.md"]
    brief = {"filename": "brief.md"}
    await api.send("GET", PROMPT, 200, params=brief)
    await api.send("PUT", PROMPT, 200, params=brief, body={"content": "Be briefer."})
    await api.send("DELETE", PROMPT, 204, params=brief)


async def test_prompt_file_routes_refuse_as_documented(api: Api) -> None:
    brief = {"filename": "brief.md", "content": "Be brief."}
    await api.send("POST", PROMPTS, 201, body=brief)
    await api.send("POST", PROMPTS, 409, body=brief, code="PROMPT_EXISTS")
    bad_name = {"filename": "../brief.md", "content": "x"}
    await api.send("POST", PROMPTS, 422, body=bad_name, code="VALIDATION_ERROR")
    missing = {"filename": "missing.md"}
    calls: list[Call] = [
        ("GET", PROMPT, missing, None),
        ("PUT", PROMPT, missing, {"content": "x"}),
        ("DELETE", PROMPT, missing, None),
    ]
    for method, path, params, body in calls:
        await api.send(method, path, 404, params=params, body=body, code="PROMPT_NOT_FOUND")
    for method, path, _, body in calls:
        hidden = {"filename": ".brief.md"}
        await api.send(method, path, 422, params=hidden, body=body, code="VALIDATION_ERROR")
        slash = {"filename": "a/brief.md"}
        await api.send(method, path, 404, params=slash, body=body, code="NOT_FOUND")


# -- chat ---------------------------------------------------------------------


async def test_chat_answers_as_documented(tools_api: Api, fake_ollama: FakeOllama) -> None:
    api = tools_api
    one = await api.create_session(
        system_prompt="Be brief.",
        system_prompt_source_file="b.md",
        tool_settings={"tools": ["multiply_numbers"], "execution_policy": "never_confirm"},
    )
    fake_ollama.script(
        Reply(thinking=["Multiply"], tool_calls=[MULTIPLY]),
        Reply(content=["Hi", " there"], thinking=["Greet", " back"]),
    )
    body = {"message": "Hi", "think": True}
    turn = (await api.send("POST", CHAT, 200, params=one, body=body)).json()
    assert turn["message"]["thinking"] == "Greet back"
    assert turn["tool_calls_executed"] == [{**MULTIPLY, "success": True}]
    # The optional keys of the stored messages are set, so their schemas are exercised.
    history = (await api.send("GET", SESSION, 200, params=one)).json()["messages"]
    assert history[0]["source_file"] == "b.md"
    assert history[2]["tool_calls"] == [{"function": MULTIPLY}]
    assert history[3]["tool_name"] == "multiply_numbers"
    await api.send("POST", CHAT, 200, params=one, body={})


async def test_chat_refuses_as_documented(tools_api: Api, fake_ollama: FakeOllama) -> None:
    api = tools_api
    hi = {"message": "Hi"}
    unknown = {"session_id": UNKNOWN_SESSION}
    await api.send("POST", CHAT, 404, params=unknown, body=hi, code="SESSION_NOT_FOUND")
    one = await api.create_session()
    await api.send("POST", CHAT, 400, params=one, body={}, code="EMPTY_HISTORY")
    await api.send("POST", CHAT, 422, params=one, body={"think": "yes"}, code="VALIDATION_ERROR")
    confirming = await api.create_session(tool_settings={"tools": ["multiply_numbers"]})
    fake_ollama.script(Reply(tool_calls=[MULTIPLY]))
    needs_stream = "CONFIRMATION_REQUIRES_STREAMING"
    await api.send("POST", CHAT, 400, params=confirming, body=hi, code=needs_stream)
    fake_ollama.script(Reply(http_status=500))
    await api.send("POST", CHAT, 502, params=one, body=hi, code="OLLAMA_ERROR")
    fake_ollama.remove_model(MODEL)
    await api.send("POST", CHAT, 404, params=one, body=hi, code="MODEL_NOT_FOUND")


async def test_chat_stream_answers_as_documented(api: Api, fake_ollama: FakeOllama) -> None:
    one = await api.create_session()
    fake_ollama.script(Reply(content=["Hi", " there"], thinking=["Greet"]))
    body = {"message": "Hi", "think": True}
    events = sse_events(await api.send("POST", STREAM, 200, params=one, body=body))
    assert runs(names(events)) == [
        "thinking_delta",
        "content_delta",
        "message_complete",
        "done",
    ]

    # A failure once the stream has started is an event; the partial reply is stored.
    fake_ollama.script(Reply(content=["Hi", " there"], error_after=1))
    events = sse_events(await api.send("POST", STREAM, 200, params=one, body={}))
    assert names(events) == ["content_delta", "error"]
    assert events[-1][1]["code"] == "OLLAMA_ERROR"
    messages = (await api.send("GET", MESSAGES, 200, params=one)).json()["messages"]
    assert messages[-1]["partial_reason"] == "ollama_error"


async def test_chat_stream_with_tool_calls_answers_as_documented(
    tools_api: Api, fake_ollama: FakeOllama
) -> None:
    tool_settings = {"tools": ["explode", "multiply_numbers"], "execution_policy": "never_confirm"}
    one = await tools_api.create_session(tool_settings=tool_settings)
    explode = {"name": "explode", "arguments": {"reason": "test"}}
    fake_ollama.script(Reply(tool_calls=[MULTIPLY, explode]), Reply(content=["Done"]))
    body = {"message": "Go"}
    events = sse_events(await tools_api.send("POST", STREAM, 200, params=one, body=body))
    assert runs(names(events)) == [
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "tool_continuation_start",
        "content_delta",
        "message_complete",
        "done",
    ]
    # A result with and one without an error, so both forms are exercised.
    results = [data for name, data in events if name == "tool_result"]
    assert [r["error"] is None for r in results] == [True, False]


async def test_chat_stream_refuses_as_documented(api: Api) -> None:
    hi = {"message": "Hi"}
    unknown = {"session_id": UNKNOWN_SESSION}
    await api.send("POST", STREAM, 404, params=unknown, body=hi, code="SESSION_NOT_FOUND")
    one = await api.create_session()
    await api.send("POST", STREAM, 400, params=one, body={}, code="EMPTY_HISTORY")
    await api.send("POST", STREAM, 422, params=one, body=[], code="VALIDATION_ERROR")


async def test_a_busy_session_refuses_as_documented(api: Api, fake_ollama: FakeOllama) -> None:
    one = await api.create_session()
    fake_ollama.script(Reply(content=["Hi", " there"], hang_after=1))
    path = f"/chat/{one['session_id']}/stream"
    async with api.http.stream("POST", path, json={"message": "Hi"}) as turn:
        # The turn holds the session from before its headers until it ends.
        assert turn.status_code == 200
        calls: list[Call] = [
            ("POST", CHAT, one, {"message": "Again"}),
            ("POST", STREAM, one, {"message": "Again"}),
            ("PATCH", SESSION, one, {}),
            ("DELETE", SESSION, one, None),
            ("PUT", MESSAGE, {**one, "message_index": 0}, {"content": "x"}),
            ("PUT", SYSTEM_PROMPT, one, {"content": "x"}),
            ("DELETE", SYSTEM_PROMPT, one, None),
        ]
        for method, path, params, body in calls:
            await api.send(method, path, 409, params=params, body=body, code="SESSION_BUSY")


async def test_too_large_bodies_are_refused_as_documented(tight_api: Api) -> None:
    one = {"session_id": UNKNOWN_SESSION}
    big = "x" * TIGHT_BODY_LIMIT
    calls: list[Call] = [
        ("POST", "/sessions", {}, {"model": big}),
        ("PATCH", SESSION, one, {"model": big}),
        ("PUT", MESSAGE, {**one, "message_index": 0}, {"content": big}),
        ("POST", CHAT, one, {"message": big}),
        ("POST", STREAM, one, {"message": big}),
        ("PUT", SYSTEM_PROMPT, one, {"content": big}),
        ("POST", PROMPTS, {}, {"filename": "big.md", "content": big}),
        ("PUT", PROMPT, {"filename": "big.md"}, {"content": big}),
        ("POST", CONFIRM, one, {"confirmation_id": big, "approved": True}),
        ("POST", SUMMARIZE, one, {"model": big}),
    ]
    for method, path, params, body in calls:
        await tight_api.send(method, path, 413, params=params, body=body, code="PAYLOAD_TOO_LARGE")


# -- tools --------------------------------------------------------------------


async def test_tool_routes_answer_as_documented(api: Api, settings: Settings) -> None:
    none = await api.send("GET", TOOLS, 200)
    assert none.json() == {"tools": {}, "load_errors": []}
    reloaded = await load_test_tools(api, settings.resolved_tools_dir)
    listed = (await api.send("GET", TOOLS, 200)).json()
    assert len(listed["tools"]) == reloaded["tools_count"] > 0
    assert listed["load_errors"] == reloaded["load_errors"] != []
    await api.send("GET", TOOL, 200, params={"tool_name": "multiply_numbers"})


async def test_tool_routes_refuse_as_documented(api: Api) -> None:
    for name in ("missing", "reload"):
        await api.send("GET", TOOL, 404, params={"tool_name": name}, code="TOOL_NOT_FOUND")


async def test_confirm_tool_answers_as_documented(tools_api: Api, fake_ollama: FakeOllama) -> None:
    one = await tools_api.create_session(tool_settings={"tools": ["multiply_numbers"]})
    fake_ollama.script(Reply(tool_calls=[MULTIPLY]), Reply(content=["42"]))
    stream = f"/chat/{one['session_id']}/stream"
    async with open_stream(tools_api.http, stream, {"message": "Go"}) as events:
        asked = await read_until(events, "tool_call_confirmation_required")
        answer = {"confirmation_id": asked[-1].data["confirmation_id"], "approved": True}
        await tools_api.send("POST", CONFIRM, 200, params=one, body=answer)
        rest = [event.name async for event in events]
    assert rest[0] == "tool_result"
    assert rest[-1] == "done"


async def test_confirm_tool_refuses_as_documented(api: Api) -> None:
    one = await api.create_session()
    unknown = {"confirmation_id": "conf_000000000000", "approved": True}
    await api.send("POST", CONFIRM, 404, params=one, body=unknown, code="CONFIRMATION_NOT_FOUND")
    malformed: list[Json] = [
        {"confirmation_id": "conf_000000000000"},
        {"confirmation_id": "conf_000000000000", "approved": "yes"},
        {"confirmation_id": 1, "approved": True},
    ]
    for body in malformed:
        await api.send("POST", CONFIRM, 422, params=one, body=body, code="VALIDATION_ERROR")


# -- when what is behind the bridge fails -------------------------------------


async def test_an_unreachable_ollama_is_answered_as_documented(
    api: Api, fake_ollama: FakeOllama
) -> None:
    one = await api.create_session()
    await fake_ollama.stop()
    down = "OLLAMA_UNREACHABLE"
    hi = {"message": "Hi"}
    await api.send("GET", "/models", 502, code=down)
    await api.send("GET", MODEL_PATH, 502, params={"model_name": MODEL}, code=down)
    await api.send("POST", "/sessions", 502, body={"model": MODEL}, code=down)
    await api.send("PATCH", SESSION, 502, params=one, body={"model": "other:1b"}, code=down)
    await api.send("POST", CHAT, 502, params=one, body=hi, code=down)
    events = sse_events(await api.send("POST", STREAM, 200, params=one, body=hi))
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == down
    health = await api.send("GET", "/health", 200)
    assert health.json()["ollama_connected"] is False
    status = await api.send("GET", STATUS, 200, params=one)
    assert status.json()["context_window"]["model_max_context"] is None


async def test_an_unreachable_grpc_server_is_answered_as_documented(
    api: Api, server: RunningServer
) -> None:
    await server.stop(0)
    one = {"session_id": UNKNOWN_SESSION}
    calls: list[Call] = [
        ("GET", "/health", {}, None),
        ("GET", "/models", {}, None),
        ("GET", MODEL_PATH, {"model_name": MODEL}, None),
        ("POST", "/sessions", {}, {"model": MODEL}),
        ("GET", "/sessions", {}, None),
        ("GET", SESSION, one, None),
        ("PATCH", SESSION, one, {}),
        ("DELETE", SESSION, one, None),
        ("GET", MESSAGES, one, None),
        ("PUT", MESSAGE, {**one, "message_index": 0}, {"content": "x"}),
        ("GET", STATUS, one, None),
        ("PUT", SYSTEM_PROMPT, one, {"content": "x"}),
        ("DELETE", SYSTEM_PROMPT, one, None),
        ("GET", PROMPTS, {}, None),
        ("POST", PROMPTS, {}, {"filename": "x.md", "content": "x"}),
        ("GET", PROMPT, {"filename": "x.md"}, None),
        ("PUT", PROMPT, {"filename": "x.md"}, {"content": "x"}),
        ("DELETE", PROMPT, {"filename": "x.md"}, None),
        ("POST", CHAT, one, {"message": "Hi"}),
        ("POST", STREAM, one, {"message": "Hi"}),
        ("POST", CONFIRM, one, {"confirmation_id": "conf_000000000000", "approved": True}),
        ("GET", TOOLS, {}, None),
        ("GET", TOOL, {"tool_name": "multiply_numbers"}, None),
        ("POST", SUMMARIZE, one, None),
        ("GET", SUMMARY, one, None),
        ("POST", RELOAD, {}, None),
    ]
    for method, path, params, body in calls:
        await api.send(method, path, 503, params=params, body=body, code="SERVICE_UNAVAILABLE")


# -- generated requests -------------------------------------------------------


def _generate(strategy: SearchStrategy[AnyCase], count: int) -> list[AnyCase]:
    """`count` cases, the same ones on every run."""
    cases: list[AnyCase] = []

    @hypothesis.settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: AnyCase) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:
        return []  # nothing in this operation can be made invalid
    return cases


def generated_cases(session: Json) -> Iterator[AnyCase]:
    """Valid and invalid requests for every operation, aimed at a real
    session; deleting it comes last so that the others still find it."""
    for method, path in sorted(documented_operations(), key=lambda op: op[0] == "DELETE"):
        op = api_schema()[path][method]
        fixed = session if "{session_id}" in path else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = op.as_strategy(generation_mode=mode, path_parameters=fixed)
            yield from _generate(strategy, CASES_PER_OPERATION)


async def test_generated_requests_get_documented_answers(api: Api) -> None:
    one = await api.create_session(system_prompt="Be brief.")
    await api.send("POST", CHAT, 200, params=one, body={"message": "Hi"})
    statuses = {(await api.send_case(case)).status_code for case in generated_cases(one)}
    # Both accepted and refused requests were among them.
    assert {200, 204, 422} <= statuses


# -- the checks reject what the document forbids ------------------------------


async def test_a_json_body_missing_a_documented_key_fails_validation(api: Api) -> None:
    one = await api.create_session()
    await api.send("POST", CHAT, 200, params=one, body={"message": "Hi"})
    case = operation("GET", SESSION).Case(path_parameters=one)
    got = await api.send_case(case)
    body = got.json()
    del body["messages"][-1]["partial_reason"]
    with pytest.raises(FailureGroup):
        case.validate_response(with_content(got, json.dumps(body).encode()), checks=CHECKS)


async def test_an_error_body_missing_a_documented_key_fails_validation(api: Api) -> None:
    case = operation("GET", SESSION).Case(path_parameters={"session_id": UNKNOWN_SESSION})
    missing = await api.send_case(case)
    body = missing.json()
    del body["error"]["details"]
    with pytest.raises(FailureGroup):
        case.validate_response(with_content(missing, json.dumps(body).encode()), checks=CHECKS)


async def test_an_event_missing_a_documented_key_fails_validation(api: Api) -> None:
    one = await api.create_session()
    case = operation("POST", STREAM).Case(path_parameters=one, body={"message": "Hi"})
    streamed = await api.send_case(case)
    role = b'"role":"assistant"'
    assert role in streamed.content
    changed = streamed.content.replace(role, b'"author":"assistant"', 1)
    with pytest.raises(FailureGroup):
        case.validate_response(with_content(streamed, changed), checks=CHECKS)
