"""A fast fake Ollama: just enough of its HTTP API for the benchmark.

The scenario is read from the model name, ``fast:<tokens>:<rate>`` or
``fast:<tokens>:<rate>:<first_ms>``: the reply has ``tokens`` tokens, sent as
fast as possible when ``rate`` is 0, else one every ``1/rate`` seconds with the
emission time (``time.time_ns()``) as the token's text, so a reader can tell
how long each token took to reach it; the first comes ``first_ms`` after the
request (0 unless given), as a model's first token follows its prompt.

Run it with ``python -m bench.fast_ollama --port N --model fast:5:0 ...``; the
models given are the ones /api/tags lists. ``GET /bench/stats`` tells how many
chat requests ran at once at most (``POST /bench/stats/reset`` starts over).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from runtime.collector import tune_collector

VERSION = "0.12.0"
CREATED_AT = "2025-01-01T00:00:00Z"
# Lines per write at rate 0, and the transport buffer level that pauses us.
LINES_PER_WRITE = 256
HIGH_WATER = 256 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Scenario:
    tokens: int
    rate: float
    first_ms: float = 0.0


def parse_model(name: str) -> Scenario | None:
    """``fast:<tokens>:<rate>[:<first_ms>]`` (an optional ``:latest`` is ignored)."""
    parts = name.split(":")
    if len(parts) < 3 or parts[0] != "fast":
        return None
    try:
        tokens, rate = int(parts[1]), float(parts[2])
        first_ms = float(parts[3]) if len(parts) > 3 and parts[3] != "latest" else 0.0
    except ValueError:
        return None
    if tokens < 0 or rate < 0 or first_ms < 0:
        return None
    return Scenario(tokens, rate, first_ms)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "1B",
        "quantization_level": "Q4_K_M",
    }


def _tags(models: Sequence[str]) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": m,
                "model": m,
                "modified_at": CREATED_AT,
                "size": 1_000_000,
                "digest": "0" * 64,
                "details": _details(),
            }
            for m in models
        ]
    }


def _show() -> dict[str, Any]:
    return {
        "modelfile": "",
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": _details(),
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
        "capabilities": ["completion"],
        "modified_at": CREATED_AT,
    }


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: int, reason: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _json_response(payload: Any, status: int = 200, reason: str = "OK") -> bytes:
    return _response(status, reason, _json(payload), "application/json; charset=utf-8")


NDJSON_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@dataclass
class Stats:
    """Chat requests in flight now, at most since the last reset, and in all."""

    active: int = 0
    peak: int = 0
    total: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"active": self.active, "peak": self.peak, "total": self.total}


@dataclass
class Request:
    method: str
    path: str
    body: bytes


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order."""

    def __init__(self, models: Sequence[str], stats: Stats) -> None:
        self._models = models
        self._stats = stats
        self._buffer = bytearray()
        self._requests: asyncio.Queue[Request | None] = asyncio.Queue()
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = False
        self._worker: asyncio.Task[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without deriving from it.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=HIGH_WATER)
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            request = self._parse()
            if request is None:
                return
            self._requests.put_nowait(request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._writable.set()
        self._requests.put_nowait(None)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # parsing
    def _parse(self) -> Request | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self._abort()
            return None
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            self._abort()
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = self._chunked_body(start)
            if parsed is None:
                return None
            body, consumed = parsed
        else:
            length = int(headers.get("content-length", "0") or "0")
            if length > MAX_BODY_BYTES:
                self._abort()
                return None
            if len(self._buffer) < start + length:
                return None
            body, consumed = bytes(self._buffer[start : start + length]), start + length
        del self._buffer[:consumed]
        return Request(method, target.split("?", 1)[0], body)

    def _chunked_body(self, start: int) -> tuple[bytes, int] | None:
        body = bytearray()
        pos = start
        while True:
            eol = self._buffer.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(self._buffer[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                trailer_end = self._buffer.find(b"\r\n", pos)
                if trailer_end < 0:
                    return None
                return bytes(body), trailer_end + 2
            if len(self._buffer) < pos + size + 2:
                return None
            body += self._buffer[pos : pos + size]
            pos += size + 2

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # answering
    def _write(self, data: bytes) -> None:
        if not self.closed and self._transport is not None:
            self._transport.write(data)

    async def _serve(self) -> None:
        try:
            while True:
                request = await self._requests.get()
                if request is None or self.closed:
                    return
                await self._answer(request)
        except Exception:
            self._abort()

    async def _answer(self, request: Request) -> None:
        route = (request.method, request.path)
        if route == ("GET", "/api/version"):
            self._write(_json_response({"version": VERSION}))
        elif route == ("GET", "/api/tags"):
            self._write(_json_response(_tags(self._models)))
        elif route == ("GET", "/api/ps"):
            self._write(_json_response({"models": []}))
        elif route == ("POST", "/api/show"):
            body = json.loads(request.body or b"{}")
            name = str(body.get("model") or body.get("name") or "")
            if parse_model(name) is None:
                self._write(
                    _json_response({"error": f"model '{name}' not found"}, 404, "Not Found")
                )
            else:
                self._write(_json_response(_show()))
        elif route == ("POST", "/api/chat"):
            stats = self._stats
            stats.active += 1
            stats.total += 1
            stats.peak = max(stats.peak, stats.active)
            try:
                await self._chat(json.loads(request.body or b"{}"))
            finally:
                stats.active -= 1
        elif route == ("GET", "/bench/stats"):
            self._write(_json_response(self._stats.as_dict()))
        elif route == ("POST", "/bench/stats/reset"):
            self._stats.peak = self._stats.active
            self._stats.total = 0
            self._write(_json_response(self._stats.as_dict()))
        else:
            self._write(_json_response({"error": "not found"}, 404, "Not Found"))

    async def _chat(self, body: dict[str, Any]) -> None:
        name = str(body.get("model", ""))
        scenario = parse_model(name)
        if scenario is None:
            self._write(_json_response({"error": f"model '{name}' not found"}, 404, "Not Found"))
            return
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        started = time.perf_counter_ns()
        self._write(NDJSON_HEAD)
        if scenario.rate == 0:
            sent = await self._fast(name, scenario.tokens)
        else:
            sent = await self._timed(name, scenario)
        if self.closed or sent < scenario.tokens:
            return
        took = time.perf_counter_ns() - started
        done = {
            "model": name,
            "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": took,
            "load_duration": 1_000,
            "prompt_eval_count": prompt_tokens + 1,
            "prompt_eval_duration": 1_000,
            "eval_count": scenario.tokens,
            "eval_duration": took,
        }
        self._write(_chunk(_json(done) + b"\n") + b"0\r\n\r\n")

    def _line(self, name: str, content: str) -> bytes:
        return (
            b'{"model":%s,"created_at":"%s","message":{"role":"assistant","content":"%s"},'
            b'"done":false}\n' % (_json(name), CREATED_AT.encode(), content.encode())
        )

    async def _fast(self, name: str, tokens: int) -> int:
        line = self._line(name, "tok ")
        batch = _chunk(line * LINES_PER_WRITE)
        sent = 0
        while sent < tokens:
            if self.closed:
                return sent
            n = min(LINES_PER_WRITE, tokens - sent)
            self._write(batch if n == LINES_PER_WRITE else _chunk(line * n))
            sent += n
            if not self._writable.is_set():
                await self._writable.wait()
        return sent

    async def _timed(self, name: str, scenario: Scenario) -> int:
        loop = asyncio.get_running_loop()
        start = loop.time() + scenario.first_ms / 1000
        tokens, rate = scenario.tokens, scenario.rate
        for i in range(tokens):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.closed:
                return i
            self._write(_chunk(self._line(name, f"{time.time_ns()} ")))
        return tokens


async def serve(host: str, port: int, models: Sequence[str]) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(lambda: Connection(models, stats), host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {host}:{bound}", flush=True)
    await stop.wait()
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fast-ollama", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", action="append", default=[], help="a model /api/tags lists")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args(argv)
    tune_collector()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.host, args.port, args.model))
    else:
        asyncio.run(serve(args.host, args.port, args.model))


if __name__ == "__main__":
    main()
