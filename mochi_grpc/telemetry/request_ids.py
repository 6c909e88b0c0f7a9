"""The request id a client sends (`x-request-id` metadata), on the call's logs.

The HTTP bridge passes on the `X-Request-Id` of each HTTP request (its own
when the client sent none); any other client may send one too. For the
duration of the call, streaming calls included, the id and the session the
request names are the log context (see log_context), and a turn the call
starts carries them into its own task. An id that is too long or not plain
printable ASCII is ignored: it comes from outside and ends up in log lines.

Install it after the interceptor that parses requests (RequestDecoding), so
that it sees the request as a message and can read its `session_id`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc

from mochi_grpc.grpc_handlers import Behavior, Handler, rewrapped
from mochi_grpc.telemetry.log_context import current_request_id, current_session_id, plain_id

REQUEST_ID_KEY: Final = "x-request-id"


def request_id_of(metadata: Any) -> str | None:
    """The usable `x-request-id` of the call's metadata, if any."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            return plain_id(value)
    return None


def _in_context(behavior: Behavior, request_id: str | None) -> Behavior:
    """The method, run with the call's ids as the log context."""

    def enter(request: Any) -> tuple[Any, Any]:
        session = plain_id(getattr(request, "session_id", None))
        return current_request_id.set(request_id), current_session_id.set(session)

    def leave(tokens: tuple[Any, Any]) -> None:
        current_session_id.reset(tokens[1])
        current_request_id.reset(tokens[0])

    if inspect.isasyncgenfunction(behavior):

        async def streaming(request: Any, context: Any) -> AsyncIterator[Any]:
            tokens = enter(request)
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                leave(tokens)

        return streaming

    async def unary(request: Any, context: Any) -> Any:
        tokens = enter(request)
        try:
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result
        finally:
            leave(tokens)

    return unary


class RequestIds(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        # Streamed requests have no single request to read a session from;
        # none of ours but reflection's take one, and it logs nothing.
        if handler is None or handler.request_streaming:
            return handler
        request_id = request_id_of(details.invocation_metadata)
        return rewrapped(handler, lambda behavior: _in_context(behavior, request_id))
