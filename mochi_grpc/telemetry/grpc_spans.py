"""The server span of every gRPC call, continuing the caller's trace.

opentelemetry-instrumentation-grpc's aio interceptor reads the W3C trace
context from the call's metadata and runs the method inside a server span
(named `/mochi.v1.ChatService/ChatStream`, rpc.* attributes, the gRPC status).
It expects a method with a streamed response to be an async generator; ours
(ChatStream, WatchTurn) write their responses with context.write() and
return, which it cannot run (open-telemetry/opentelemetry-python-contrib#3066).
Such a method is handed to it as a generator that yields nothing and awaits
the method inside, so a cancelled call still cancels the method at once.

Health checks get no span: probes every few seconds would bury the traces
that matter.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters
from opentelemetry.trace import TracerProvider

from mochi_grpc.grpc_handlers import Behavior, Handler


def server_spans(tracer_provider: TracerProvider | None) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors that trace each call (none without a provider);
    install them first, so that everything else a call does is inside its span."""
    if tracer_provider is None:
        return []
    spans: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider, filter_=filters.negate(filters.health_check())
    )
    return [spans, WrittenStreamsAsGenerators()]


def _as_generator(behavior: Behavior) -> Behavior:
    async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
        await behavior(request, context)
        return
        yield  # makes this an async generator with nothing to yield

    return streaming


class WrittenStreamsAsGenerators(grpc.aio.ServerInterceptor):
    """Streamed-response methods that write (coroutines) are handed on as
    async generators; those that yield pass unchanged."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or not handler.response_streaming:
            return handler
        if inspect.iscoroutinefunction(handler.unary_stream):
            return grpc.unary_stream_rpc_method_handler(
                _as_generator(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if inspect.iscoroutinefunction(handler.stream_stream):
            return grpc.stream_stream_rpc_method_handler(
                _as_generator(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler
