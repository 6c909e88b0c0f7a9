"""A real HTTP server that speaks Ollama's wire protocol, scripted per test.

The product talks to Ollama over HTTP through the official client, so the only
honest way to test it without a GPU is to put a server on the other end of a
TCP socket. This module provides that server: it answers ``/api/chat`` with
replies queued by the test (streamed as NDJSON exactly like Ollama does), lists
and describes the models it was given, and records every chat request together
with what happened to it, most importantly whether the caller hung up early.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.embedded import EmbeddedServer

__all__ = [
    "DEFAULT_MODEL",
    "OLLAMA_VERSION",
    "FakeModel",
    "FakeOllama",
    "RecordedChat",
    "Reply",
    "echo_reply",
]

OLLAMA_VERSION: Final = "0.12.0"
NDJSON: Final = "application/x-ndjson"
# A fixed timestamp keeps /api/tags and /api/show byte-for-byte reproducible.
MODIFIED_AT: Final = "2025-01-01T00:00:00Z"
# Nominal model load time reported in the final chunk; the model is "always loaded".
LOAD_DURATION_NS: Final = 1_000_000

JsonObject = dict[str, Any]


@dataclass
class FakeModel:
    """A model the fake claims to have pulled; drives /api/tags, /api/show and chat lookups."""

    name: str
    family: str = "llama"
    context_length: int | None = 4096  # None: model_info carries no context_length key
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    size: int = 4_661_211_136
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"


DEFAULT_MODEL: Final = FakeModel(
    name="llama3.2:latest",
    family="llama",
    context_length=131072,
    capabilities=["completion", "tools"],
)


@dataclass
class Reply:
    """The scripted answer to one /api/chat request.

    Chunks go out in Ollama's order: thinking, then content, then one chunk per
    tool call, then the final ``done`` line. ``error_after`` and ``hang_after``
    count content chunks; when both are set the smaller wins (the error on a tie).
    """

    content: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: list[JsonObject] = field(default_factory=list)  # {"name": str, "arguments": dict}
    eval_count: int | None = None  # None: len(content) + len(thinking)
    prompt_eval_count: int | None = None  # None: characters of all message contents // 4 + 1
    done_reason: str = "stop"
    first_chunk_delay: float = 0.0
    chunk_delay: float = 0.0
    http_status: int | None = None  # answer with this status and {"error": error_message}
    error_message: str = "scripted failure"
    error_after: int | None = None  # mid-stream {"error": ...} line after this many content chunks
    hang_after: int | None = None  # go silent after this many content chunks, connection held open
    send_done: bool = True  # False: end the stream without the final done line


@dataclass
class RecordedChat:
    """One /api/chat request as received, plus what the fake did with it.

    ``chunks_sent`` counts JSON lines written (a non-streamed answer is one line).
    ``completed`` means the whole scripted response was written. ``finished``
    means the fake is done with the request for whatever reason (completed,
    caller hung up, fake stopped), so waiting for more lines is pointless.
    """

    body: JsonObject
    chunks_sent: int = 0
    completed: bool = False
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False

    @property
    def messages(self) -> list[JsonObject]:
        """The chat history the caller sent."""
        messages: list[JsonObject] = self.body.get("messages") or []
        return messages

    @property
    def options(self) -> JsonObject | None:
        """Sampling/runtime options (num_ctx, temperature, ...) if the caller sent any."""
        options: JsonObject | None = self.body.get("options")
        return options

    @property
    def model(self) -> str:
        """The model name exactly as requested."""
        return str(self.body.get("model", ""))

    @property
    def think(self) -> bool | str | None:
        """The ``think`` flag as sent (absent: None)."""
        think: bool | str | None = self.body.get("think")
        return think

    @property
    def tools(self) -> list[JsonObject]:
        """Tool definitions offered to the model."""
        tools: list[JsonObject] = self.body.get("tools") or []
        return tools

    @property
    def format(self) -> JsonObject | str | None:
        """Structured output asked for: a JSON schema, "json", or None when absent."""
        value: JsonObject | str | None = self.body.get("format")
        return value


def echo_reply(body: JsonObject) -> Reply:
    """Answer "You said: <last user message>", one word per chunk.

    Echoing makes a conversation through the fake recognisable without scripting,
    and word-sized chunks exercise the caller's stream handling.
    """
    return Reply(content=["You ", "said: ", *re.findall(r"\s*\S+|\s+", _last_user_text(body))])


def _last_user_text(body: JsonObject) -> str:
    """Content of the newest user message, or "" when there is none."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def _default_prompt_eval_count(body: JsonObject) -> int:
    """A rough token count (4 characters per token) so usage numbers look plausible."""
    messages = body.get("messages") or []
    chars = sum(
        len(m["content"])
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), str)
    )
    return chars // 4 + 1


def _now() -> str:
    """Timestamp in the RFC 3339 form Ollama puts in ``created_at``."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _canonical(name: str) -> str:
    """Ollama treats an untagged name as ``:latest``; lookups must too."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _error(status: int, message: str) -> JSONResponse:
    """Ollama reports every failure as ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status)


def _not_found(name: str) -> JSONResponse:
    """The 404 Ollama returns for a model that was never pulled."""
    return _error(404, f"model '{name}' not found")


def _details(model: FakeModel) -> JsonObject:
    """The ``details`` block shared by /api/tags and /api/show."""
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    }


def _tags_entry(model: FakeModel) -> JsonObject:
    """One model as listed by /api/tags."""
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": MODIFIED_AT,
        "size": model.size,
        "digest": hashlib.sha256(model.name.encode()).hexdigest(),
        "details": _details(model),
    }


def _show_body(model: FakeModel) -> JsonObject:
    """The /api/show answer; clients read the context window from ``model_info``."""
    info: JsonObject = {
        "general.architecture": model.family,
        "general.file_type": 15,
        "general.quantization_version": 2,
    }
    if model.context_length is not None:
        info[f"{model.family}.context_length"] = model.context_length
    return {
        "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{ .Prompt }}",
        "details": _details(model),
        "model_info": info,
        "capabilities": list(model.capabilities),
        "modified_at": MODIFIED_AT,
    }


def _message(
    content: str = "", thinking: str | None = None, tool_calls: list[JsonObject] | None = None
) -> JsonObject:
    """An assistant message fragment; optional keys appear only when used, as in Ollama."""
    message: JsonObject = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = [
            {"function": {"name": c["name"], "arguments": c["arguments"]}} for c in tool_calls
        ]
    return message


class _Signal:
    """Wakes every waiter whenever the fake's state changes.

    Waiters re-check their own condition, so one primitive serves "n requests
    arrived" and "n lines written" without polling sleeps, and ``bump`` is
    synchronous so it can be called from ``finally`` blocks.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def bump(self) -> None:
        """Wake current waiters and start a fresh generation."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate`` holds."""
        while not predicate():
            await self._event.wait()


class _OpenStreams:
    """Producers still running, so ``stop()`` can end even a stream scripted to hang."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def add(self, task: asyncio.Task[None]) -> None:
        """Track ``task``; cancel it at once when the fake is already stopping."""
        self._tasks.add(task)
        if self._closing:
            task.cancel()

    def discard(self, task: asyncio.Task[None]) -> None:
        """Forget a finished producer."""
        self._tasks.discard(task)

    def close_all(self) -> None:
        """Cancel every producer, now and from now on."""
        self._closing = True
        for task in self._tasks:
            task.cancel()

    def reopen(self) -> None:
        """Allow producers again after a restart."""
        self._closing = False


class _Writer:
    """Thin wrapper over ASGI ``send`` that remembers how far the response got."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.complete = False

    async def start(self, status: int, content_type: str) -> None:
        """Send the status line and headers (they reach the socket immediately)."""
        self.started = True
        headers = [(b"content-type", content_type.encode())]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, *, more: bool) -> None:
        """Send a piece of the body; ``more=False`` ends the response."""
        self.complete = not more
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def json(self, status: int, payload: JsonObject) -> None:
        """Send a whole JSON response."""
        await self.start(status, "application/json; charset=utf-8")
        await self.body(json.dumps(payload).encode(), more=False)

    async def end(self) -> None:
        """Close off a response cut short by ``stop()`` so the caller is not left mid-message."""
        if not self.started:
            await self.json(503, {"error": "server shutting down"})
        elif not self.complete:
            await self.body(b"", more=False)


_HANG: Final = "hang"
# A streamed line, built when it is sent so timestamps and durations are current;
# None stands for "stop talking here and hold the connection open".
_Step = Callable[[], JsonObject] | None


async def _wait_for_hangup(receive: Receive) -> None:
    """Return when the server reports the client gone (or the response complete)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _forever() -> None:
    """Block until cancelled: a model that stopped talking but kept the socket open."""
    await asyncio.Event().wait()


class _ChatRun:
    """Plays one scripted Reply onto one HTTP response while watching for a hang-up."""

    def __init__(
        self, rec: RecordedChat, reply: Reply, stream: bool, streams: _OpenStreams, signal: _Signal
    ) -> None:
        self.rec = rec
        self.reply = reply
        self.stream = stream
        self._streams = streams
        self._signal = signal
        self._model = rec.model
        self._started_ns = time.perf_counter_ns()
        self._first_line_ns: int | None = None

    async def execute(self, receive: Receive, send: Send) -> None:
        """Race the producer against the client hanging up; the first to finish decides.

        Listening on ``receive`` in parallel is what notices a hang-up while the
        producer is asleep (first_chunk_delay, hang_after) rather than writing.
        """
        writer = _Writer(send)
        producer = asyncio.ensure_future(self._produce(writer))
        hangup = asyncio.ensure_future(_wait_for_hangup(receive))
        self._streams.add(producer)
        try:
            await asyncio.wait({producer, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if hangup.done() and not self.rec.completed:
                self.rec.disconnected.set()
        finally:
            await self._cleanup(producer, hangup)
        if not self.rec.disconnected.is_set():
            await writer.end()
        failure = None if producer.cancelled() else producer.exception()
        if failure is not None:
            raise failure  # a bug in the fake: let uvicorn log it

    async def _cleanup(self, producer: asyncio.Task[None], hangup: asyncio.Future[None]) -> None:
        """Stop both halves and tell waiters this request is over."""
        producer.cancel()
        hangup.cancel()
        await asyncio.gather(producer, hangup, return_exceptions=True)
        self._streams.discard(producer)
        self.rec.finished = True
        self._signal.bump()

    async def _produce(self, writer: _Writer) -> None:
        """Write the scripted response: an HTTP error, an NDJSON stream, or one JSON body."""
        if self.reply.http_status is not None:
            await self._single(writer, self.reply.http_status, {"error": self.reply.error_message})
        elif self.stream:
            await self._stream(writer)
        else:
            await self._unstreamed(writer)

    async def _stream(self, writer: _Writer) -> None:
        """NDJSON, one line per step, each flushed as written; headers go out first."""
        await writer.start(200, NDJSON)
        for index, make_line in enumerate(self._steps()):
            await asyncio.sleep(
                self.reply.first_chunk_delay if index == 0 else self.reply.chunk_delay
            )
            if make_line is None:
                await _forever()
                return
            await writer.body(json.dumps(make_line()).encode() + b"\n", more=True)
            self._line_written()
        self.rec.completed = True
        await writer.body(b"", more=False)

    async def _unstreamed(self, writer: _Writer) -> None:
        """``stream: false``: everything in one object, or the error as an HTTP 500."""
        content, ending = self._content_and_ending()
        if ending == _HANG:
            await asyncio.sleep(self.reply.first_chunk_delay)
            await _forever()
            return
        if ending == "error":
            await self._single(writer, 500, {"error": self.reply.error_message})
            return
        message = _message("".join(content), None, self.reply.tool_calls)
        if self.reply.thinking:
            message["thinking"] = "".join(self.reply.thinking)
        await self._single(writer, 200, {**self._line(message, done=True), **self._usage()})

    async def _single(self, writer: _Writer, status: int, payload: JsonObject) -> None:
        """One JSON body after the scripted delay."""
        await asyncio.sleep(self.reply.first_chunk_delay)
        self.rec.completed = True
        await writer.json(status, payload)
        self._line_written()

    def _content_and_ending(self) -> tuple[list[str], str | None]:
        """Content chunks actually sent and how the stream stops early (error/hang/None)."""
        cuts = [
            (n, kind)
            for n, kind in ((self.reply.error_after, "error"), (self.reply.hang_after, _HANG))
            if n is not None
        ]
        if not cuts:
            return self.reply.content, None
        limit, kind = min(cuts, key=lambda cut: cut[0])
        return self.reply.content[:limit], kind

    def _steps(self) -> Iterator[_Step]:
        """The streamed lines in Ollama's order, ending in done, an error line, or a hang."""
        chunk = self._chunk
        yield from (functools.partial(chunk, thinking=text) for text in self.reply.thinking)
        content, ending = self._content_and_ending()
        yield from (functools.partial(chunk, content=text) for text in content)
        if ending == "error":
            yield self._error_line
        elif ending == _HANG:
            yield None
        else:
            yield from (
                functools.partial(chunk, tool_calls=[call]) for call in self.reply.tool_calls
            )
            if self.reply.send_done:
                yield self._final_line

    def _chunk(
        self,
        content: str = "",
        thinking: str | None = None,
        tool_calls: list[JsonObject] | None = None,
    ) -> JsonObject:
        """A ``done: false`` line carrying one message fragment."""
        return self._line(_message(content, thinking, tool_calls))

    def _error_line(self) -> JsonObject:
        """Ollama's way of failing after the 200 headers went out."""
        return {"error": self.reply.error_message}

    def _line(self, message: JsonObject, *, done: bool = False) -> JsonObject:
        """The envelope every chat chunk shares."""
        line: JsonObject = {
            "model": self._model,
            "created_at": _now(),
            "message": message,
            "done": done,
        }
        if done:
            line["done_reason"] = self.reply.done_reason
        return line

    def _final_line(self) -> JsonObject:
        """The closing ``done: true`` line with usage figures."""
        return {**self._line(_message(), done=True), **self._usage()}

    def _usage(self) -> JsonObject:
        """Token counts as scripted (or derived) and durations from the real elapsed time."""
        now = time.perf_counter_ns()
        first = self._first_line_ns or now
        prompt_ns = max(1, first - self._started_ns)
        eval_ns = max(1, now - first)
        reply = self.reply
        eval_count = (
            reply.eval_count
            if reply.eval_count is not None
            else len(reply.content) + len(reply.thinking)
        )
        prompt_count = reply.prompt_eval_count
        return {
            "total_duration": LOAD_DURATION_NS + prompt_ns + eval_ns,
            "load_duration": LOAD_DURATION_NS,
            "prompt_eval_count": prompt_count
            if prompt_count is not None
            else _default_prompt_eval_count(self.rec.body),
            "prompt_eval_duration": prompt_ns,
            "eval_count": eval_count,
            "eval_duration": eval_ns,
        }

    def _line_written(self) -> None:
        """Count a line and wake anyone waiting for it."""
        if self._first_line_ns is None:
            self._first_line_ns = time.perf_counter_ns()
        self.rec.chunks_sent += 1
        self._signal.bump()


class _ChatResponse(Response):
    """Hands the raw ASGI channel to a _ChatRun.

    Starlette's StreamingResponse notices a hang-up only to cancel its own
    iterator; the fake has to record that it happened, including before the
    first byte of the body, hence a response that owns ``receive``.
    """

    def __init__(self, run: _ChatRun) -> None:
        super().__init__()
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._run.execute(receive, send)


class FakeOllama:
    """An Ollama stand-in on 127.0.0.1 for tests and manual runs.

    Queue replies with :meth:`script`; unscripted requests get ``default_reply``
    (an echo). Every chat request lands in :attr:`requests`.
    """

    def __init__(
        self, models: Iterable[FakeModel] | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._models: dict[str, FakeModel] = {}
        for model in [DEFAULT_MODEL] if models is None else models:
            self.add_model(model)
        self._host = host
        self._port = port
        self._replies: deque[Reply] = deque()
        self._signal = _Signal()
        self._streams = _OpenStreams()
        self._server: EmbeddedServer | None = None
        self.url = ""
        self.requests: list[RecordedChat] = []
        self.default_reply: Callable[[JsonObject], Reply] = echo_reply
        self._app = Starlette(
            routes=[
                Route("/", self._root, methods=["GET", "HEAD"]),
                Route("/api/version", self._version, methods=["GET"]),
                Route("/api/tags", self._tags, methods=["GET"]),
                Route("/api/show", self._show, methods=["POST"]),
                Route("/api/chat", self._chat, methods=["POST"]),
            ]
        )

    # -- scripting ---------------------------------------------------------

    def add_model(self, model: FakeModel) -> None:
        """Make ``model`` available (replacing one with the same name)."""
        self._models[_canonical(model.name)] = model

    def remove_model(self, name: str) -> None:
        """Forget a model, as if it was deleted; unknown names raise KeyError to catch typos."""
        del self._models[_canonical(name)]

    def script(self, *replies: Reply) -> None:
        """Queue replies; each /api/chat call for a known model takes the next one."""
        self._replies.extend(replies)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> FakeOllama:
        """Bind and serve in the current event loop; return once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("FakeOllama is already running")
        self._streams.reopen()
        self._server = await EmbeddedServer.start(self._app, host=self._host, port=self._port)
        self.url = self._server.url
        return self

    async def stop(self) -> None:
        """Shut down promptly even with streams hanging; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._streams.close_all()
        await server.stop()

    async def __aenter__(self) -> FakeOllama:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- observation -------------------------------------------------------

    async def wait_for_request(self, n: int = 1) -> RecordedChat:
        """Wait until at least ``n`` chat requests arrived; return the n-th (1-based)."""
        await self._signal.wait_until(lambda: len(self.requests) >= n)
        return self.requests[n - 1]

    async def wait_for_chunks(self, rec: RecordedChat, n: int) -> None:
        """Wait until ``n`` lines were written to ``rec``.

        Raises AssertionError if the response ended with fewer, instead of
        leaving the test to hang.
        """
        await self._signal.wait_until(lambda: rec.chunks_sent >= n or rec.finished)
        if rec.chunks_sent < n:
            raise AssertionError(
                f"response ended after {rec.chunks_sent} lines, expected at least {n}"
            )

    async def wait_for_end(self, rec: RecordedChat) -> None:
        """Wait until the fake is done with ``rec``: written whole, or the caller hung up."""
        await self._signal.wait_until(lambda: rec.finished)

    # -- endpoints ---------------------------------------------------------

    async def _root(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def _version(self, request: Request) -> Response:
        return JSONResponse({"version": OLLAMA_VERSION})

    async def _tags(self, request: Request) -> Response:
        return JSONResponse({"models": [_tags_entry(m) for m in self._models.values()]})

    async def _show(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _error(400, "invalid request body")
        name = str(body.get("model") or body.get("name") or "")
        model = self._models.get(_canonical(name))
        return _not_found(name) if model is None else JSONResponse(_show_body(model))

    async def _chat(self, request: Request) -> Response:
        """Record the request, then answer it from the script (or with Ollama's errors)."""
        body = await _json_body(request)
        if body is None:
            return _error(400, "invalid request body")
        rec = RecordedChat(body=body)
        self.requests.append(rec)
        self._signal.bump()
        if not rec.model:
            return self._refuse(rec, _error(400, "model is required"))
        if _canonical(rec.model) not in self._models:
            return self._refuse(rec, _not_found(rec.model))
        reply = self._replies.popleft() if self._replies else self.default_reply(body)
        stream = body.get("stream") is not False  # Ollama streams unless told otherwise
        return _ChatResponse(_ChatRun(rec, reply, stream, self._streams, self._signal))

    def _refuse(self, rec: RecordedChat, response: JSONResponse) -> JSONResponse:
        """Mark a request answered by an immediate error; no scripted reply is consumed."""
        rec.completed = rec.finished = True
        self._signal.bump()
        return response


async def _json_body(request: Request) -> JsonObject | None:
    """The request body as a JSON object, or None when it is anything else."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
