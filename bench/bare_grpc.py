"""A bare grpc.aio server: ChatStream writes N small content deltas, nothing else.

It serves ``mochi.v1.ChatService/ChatStream`` with the same messages, the
same server options and the same event loop (``--loop``) as the real server,
so the same client reads both; the
request's ``message`` is the number of deltas to send. Each delta is built and
written the way the real server does (``context.write``), then one ``done``.
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


async def serve(host: str, port: int) -> None:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    pb_grpc.add_ChatServiceServicer_to_server(BareChat(), server)  # type: ignore[abstract]
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
    args = parser.parse_args(argv)
    tune_collector()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.host, args.port))
    else:
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
