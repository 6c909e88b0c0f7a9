"""A bare Starlette + sse-starlette app on uvicorn, run like the bridge
(the event loop and HTTP implementation are flags: the bridge's).

- ``POST /sse/{n}``: n content_delta events made on the spot, then ``done``.
- ``POST /pass/{n}``: a ChatStream of the bare gRPC server (``--grpc-target``),
  each message forwarded as one SSE event.

Both send the event names and JSON payloads the bridge sends, so the same
client reads all three.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb
from mochi_grpc.stubs import ChatStub
from runtime.collector import tune_collector

MAX_EVENTS = 10_000_000


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _count(request: Request) -> int:
    return min(int(request.path_params["n"]), MAX_EVENTS)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def local_events(count: int) -> AsyncIterator[ServerSentEvent]:
    for _ in range(count):
        yield ServerSentEvent(
            data=_dumps({"content": "tok ", "role": "assistant"}), event="content_delta"
        )
    yield ServerSentEvent(data=_dumps({"session_id": "bare"}), event="done")


async def sse(request: Request) -> EventSourceResponse:
    return EventSourceResponse(local_events(_count(request)))


async def forwarded(
    call: grpc.aio.UnaryStreamCall[pb.ChatStreamRequest, pb.ChatEvent],
) -> AsyncIterator[ServerSentEvent]:
    try:
        async for event in call:
            name = event.WhichOneof("event")
            if name == "content_delta":
                delta = event.content_delta
                data = _dumps({"content": delta.content, "role": delta.role or "assistant"})
            else:
                data = _dumps({"session_id": event.done.session_id})
            yield ServerSentEvent(data=data, event=name)
    finally:
        call.cancel()


async def passthrough(request: Request) -> EventSourceResponse:
    stub: ChatStub = request.app.state.stub
    call = stub.ChatStream(pb.ChatStreamRequest(session_id="bare", message=str(_count(request))))
    return EventSourceResponse(forwarded(call))


def create_app(grpc_target: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        channel = grpc.aio.insecure_channel(grpc_target)
        app.state.stub = ChatStub(channel)
        try:
            yield
        finally:
            await channel.close()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/sse/{n:int}", sse, methods=["POST"]),
            Route("/pass/{n:int}", passthrough, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bare-http", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--grpc-target", required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--http", choices=["h11", "httptools"], default="h11")
    args = parser.parse_args(argv)
    tune_collector()
    uvicorn.run(
        create_app(args.grpc_target),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
        loop=args.loop,
        http=args.http,
    )


if __name__ == "__main__":
    main()
