"""A bare grpc.aio server: ChatStream writes N small content deltas, nothing else.

It serves ``mochi.v1.ChatService/ChatStream`` with the same messages, the
same server options and the same event loop (``--loop``) as the real server,
so the same client reads both; the
request's ``message`` is the number of deltas to send. Each delta is built and
written the way the real server does (``context.write``), then one ``done``.

With ``--ollama HOST --model NAME`` it is a bare relay instead: each ChatStream
asks Ollama for a reply (one user message, through the server's own Ollama
client) and writes each piece of it as a content delta, then ``done``: the
least any server in front of Ollama does per turn, without a session, a store,
checks or metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import chat_service_pb2_grpc as pb_grpc
from mochi_grpc.llm.base import ChatRequest
from mochi_grpc.llm.ollama import OllamaBackend
from mochi_grpc.server import SERVER_OPTIONS
from runtime.collector import tune_collector

MAX_MESSAGES = 10_000_000


class BareChat(pb_grpc.ChatServiceServicer):
    async def ChatStream(  # type: ignore[override]
        self, request: pb.ChatStreamRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> None:
        count = min(int(request.message or "0"), MAX_MESSAGES)
        for _ in range(count):
            await context.write(
                pb.ChatEvent(content_delta=pb.ContentDelta(content="tok ", role="assistant"))
            )
        await context.write(pb.ChatEvent(done=pb.Done(session_id=request.session_id)))


class RelayChat(pb_grpc.ChatServiceServicer):
    def __init__(self, ollama: OllamaBackend, model: str) -> None:
        self._ollama = ollama
        self._model = model

    async def ChatStream(  # type: ignore[override]
        self, request: pb.ChatStreamRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> None:
        asked = ChatRequest(
            model=self._model, messages=[{"role": "user", "content": request.message}]
        )
        async for chunk in self._ollama.chat_stream(asked):
            if chunk.content:
                await context.write(
                    pb.ChatEvent(
                        content_delta=pb.ContentDelta(content=chunk.content, role="assistant")
                    )
                )
        await context.write(pb.ChatEvent(done=pb.Done(session_id=request.session_id)))


async def serve(host: str, port: int, ollama: str | None, model: str) -> None:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    servicer: pb_grpc.ChatServiceServicer = (
        RelayChat(OllamaBackend(ollama), model) if ollama else BareChat()
    )
    pb_grpc.add_ChatServiceServicer_to_server(servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1.0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bare-grpc", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--ollama", help="relay replies of the Ollama at this URL")
    parser.add_argument("--model", default="", help="the model the relay asks for")
    args = parser.parse_args(argv)
    tune_collector()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.host, args.port, args.ollama, args.model))
    else:
        asyncio.run(serve(args.host, args.port, args.ollama, args.model))


if __name__ == "__main__":
    main()
