"""A gRPC proxy that passes every call on unchanged and notes its metadata.

It stands between a client under test (the bridge) and the real server, so a
test can see what the client sent on the wire without changing the server:
messages go through as bytes, and the server's headers, trailers and status
come back as they were.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

# Set by gRPC itself on each hop, not by the caller.
_TRANSPORT_KEYS = frozenset({"user-agent"})


@dataclass(frozen=True)
class Call:
    method: str
    metadata: dict[str, str | bytes]


@dataclass
class _Forwarding(grpc.GenericRpcHandler):
    channel: grpc.aio.Channel
    calls: list[Call] = field(default_factory=list)

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        method = details.method
        metadata = tuple(
            (key, value)
            for key, value in details.invocation_metadata or ()
            if key not in _TRANSPORT_KEYS and not key.startswith("grpc-")
        )
        self.calls.append(Call(method, dict(metadata)))
        # Without (de)serializers, messages pass as the bytes they are; any
        # kind of method works as a stream of requests and one of responses.
        upstream: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = self.channel.stream_stream(
            method
        )

        async def forward(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
        ) -> AsyncIterator[bytes]:
            call: Any = upstream(requests, metadata=metadata, timeout=context.time_remaining())
            try:
                await context.send_initial_metadata(tuple(await call.initial_metadata() or ()))
                async for response in call:
                    yield response
                context.set_trailing_metadata(tuple(await call.trailing_metadata() or ()))
            except grpc.aio.AioRpcError as exc:
                trailers = tuple(exc.trailing_metadata() or ())
                await context.abort(exc.code(), exc.details() or "", trailers)
            finally:
                call.cancel()

        return grpc.stream_stream_rpc_method_handler(forward)


@dataclass(frozen=True)
class RecordingProxy:
    target: str
    calls: list[Call]

    def of_method(self, name: str) -> list[Call]:
        """The calls of the method `name` (e.g. "ChatStream"), in order."""
        return [c for c in self.calls if c.method.rsplit("/", 1)[-1] == name]


@asynccontextmanager
async def recording_proxy(upstream: str) -> AsyncIterator[RecordingProxy]:
    """A proxy on a free loopback port in front of the server at `upstream`."""
    async with grpc.aio.insecure_channel(upstream) as channel:
        handler = _Forwarding(channel)
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield RecordingProxy(f"127.0.0.1:{port}", handler.calls)
        finally:
            await server.stop(0)
