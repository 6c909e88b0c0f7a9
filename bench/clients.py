"""The benchmark's readers: one stream through each path, timed.

Tokens are counted from the text received (every token ends with a space), not
from events: a server may merge several tokens into one event when its reader
lags. With ``timed`` the tokens carry their emission time in nanoseconds
(see fast_ollama), and each one's delay to arrival here is recorded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import grpc
import httpx
import ollama

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb
from mochi_grpc.stubs import ChatStub

PROMPT = "go"
MAX_EVENT_BYTES = 1 << 20


@dataclass
class StreamResult:
    """What one reader saw."""

    tokens: int = 0
    content_events: int = 0
    events: int = 0
    first_token_s: float | None = None
    elapsed_s: float = 0.0
    error: str | None = None
    completed: bool = False
    # Timed streams only: per-token delay (ms) and gaps between arrivals (ms).
    delays_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    # Emission time (ns, wall clock) of each token in delays_ms, in the same order.
    emitted_ns: list[int] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0


class TokenCounter:
    """Counts tokens in content deltas; for timed streams, measures delays."""

    def __init__(self, result: StreamResult, started: float, timed: bool) -> None:
        self._result = result
        self._started = started
        self._timed = timed
        self._partial = ""
        self._last_arrival_ns: int | None = None

    def content(self, text: str) -> None:
        result = self._result
        result.content_events += 1
        if not text:
            return
        if result.first_token_s is None:
            result.first_token_s = time.perf_counter() - self._started
        if not self._timed:
            result.tokens += text.count(" ")
            return
        arrival = time.time_ns()
        pieces = (self._partial + text).split(" ")
        self._partial = pieces.pop()
        for piece in pieces:
            if not piece:
                continue
            result.tokens += 1
            result.delays_ms.append((arrival - int(piece)) / 1e6)
            result.emitted_ns.append(int(piece))
        if self._last_arrival_ns is not None:
            result.gaps_ms.append((arrival - self._last_arrival_ns) / 1e6)
        self._last_arrival_ns = arrival


async def direct_stream(
    client: ollama.AsyncClient, model: str, *, timed: bool = False
) -> StreamResult:
    """Straight from the (fake) Ollama with the official client."""
    result = StreamResult()
    started = time.perf_counter()
    counter = TokenCounter(result, started, timed)
    try:
        stream = await client.chat(
            model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        async for part in stream:
            result.events += 1
            counter.content(part.message.content or "")
            if part.done:
                result.completed = True
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.elapsed_s = time.perf_counter() - started
    return result


async def grpc_stream(
    stub: ChatStub,
    session_id: str,
    *,
    message: str = PROMPT,
    timed: bool = False,
    rpc_timeout: float = 120.0,
) -> StreamResult:
    """mochi.v1.ChatService/ChatStream with a grpc.aio client."""
    result = StreamResult()
    started = time.perf_counter()
    counter = TokenCounter(result, started, timed)
    call = stub.ChatStream(
        chat_pb.ChatStreamRequest(session_id=session_id, message=message), timeout=rpc_timeout
    )
    try:
        async for event in call:
            result.events += 1
            kind = event.WhichOneof("event")
            if kind == "content_delta":
                counter.content(event.content_delta.content)
            elif kind == "done":
                result.completed = True
            elif kind == "error":
                result.error = f"{event.error.code}: {event.error.message}"
    except grpc.aio.AioRpcError as exc:
        result.error = f"{exc.code().name}: {exc.details()}"
    finally:
        call.cancel()
    result.elapsed_s = time.perf_counter() - started
    return result


def _events(buffer: bytearray) -> tuple[list[bytes], bytearray]:
    """Splits complete SSE events off the buffer (either line ending)."""
    text = bytes(buffer)
    if b"\r" in text:
        keep_cr = text.endswith(b"\r")
        text = text[:-1] if keep_cr else text
        text = text.replace(b"\r\n", b"\n")
        tail = b"\r" if keep_cr else b""
    else:
        tail = b""
    parts = text.split(b"\n\n")
    rest = bytearray(parts.pop() + tail)
    if len(rest) > MAX_EVENT_BYTES:
        raise ValueError("SSE event too large")
    return parts, rest


async def sse_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    message: str | None = PROMPT,
    timed: bool = False,
) -> StreamResult:
    """An SSE stream read with httpx, parsed here (event and data lines)."""
    result = StreamResult()
    started = time.perf_counter()
    counter = TokenCounter(result, started, timed)
    body = {} if message is None else {"message": message}
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                result.error = f"HTTP {response.status_code}: {response.text[:200]}"
            else:
                buffer = bytearray()
                async for chunk in response.aiter_raw():
                    buffer += chunk
                    events, buffer = _events(buffer)
                    for raw in events:
                        _sse_event(raw, result, counter)
    except (httpx.HTTPError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.elapsed_s = time.perf_counter() - started
    return result


def _sse_event(raw: bytes, result: StreamResult, counter: TokenCounter) -> None:
    name = b""
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    if not data:
        return  # a comment (ping)
    result.events += 1
    if name == b"content_delta":
        counter.content(json.loads(b"\n".join(data))["content"])
    elif name == b"done":
        result.completed = True
    elif name == b"error":
        payload = json.loads(b"\n".join(data))
        result.error = f"{payload.get('code')}: {payload.get('message')}"
