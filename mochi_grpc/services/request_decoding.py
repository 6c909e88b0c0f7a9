"""A request that does not parse is INVALID_ARGUMENT, like any other bad request.

grpc.aio parses a request with the method's deserializer before the method
runs, and answers a failure (bytes that are no such message, a string field
that is not UTF-8, nesting past the parser's limit) with UNKNOWN,
"Unexpected DecodeError", and no details. This interceptor gives the method
the raw bytes and parses them inside it instead, where a failure is refused
with INVALID_ARGUMENT and the ErrorInfo of every other refusal (reason
VALIDATION_ERROR, domain "mochi.v1").

A request that parses but carries text with the NUL character (U+0000), in
any string field at any depth, is refused the same way, with a
google.rpc.BadRequest naming the field (see text_checks): no store can be
asked to keep what one of them (PostgreSQL) cannot hold.

Install it inside (after) the API-key interceptor, so that a caller without
a valid key is refused before its request is read.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from mochi_grpc.errors import InvalidRequest
from mochi_grpc.grpc_handlers import Behavior, Context, Handler, rewrapped
from mochi_grpc.services.errors import MAX_DETAIL_BYTES, abort, bounded
from mochi_grpc.services.text_checks import nul_field


def _parsing(behavior: Behavior, parse: Callable[[bytes], Any]) -> Behavior:
    """The method, taking the raw request and parsing and checking it first."""

    async def request_of(raw: bytes, context: Context) -> Any:
        try:
            request = parse(raw)
        except Exception as exc:  # a DecodeError, from the generated FromString
            why = f": {exc}" if str(exc) else ""
            await abort(context, InvalidRequest(f"The request does not parse{why}"))
        # A NUL in a string is a zero byte on the wire, which most requests
        # lack: they skip the walk.
        if b"\x00" in raw and (field := nul_field(request)) is not None:
            await abort(context, _nul_refusal(field))
        return request

    if inspect.isasyncgenfunction(behavior):

        async def streaming(raw: bytes, context: Context) -> Any:
            async for response in behavior(await request_of(raw, context), context):
                yield response

        return streaming

    async def unary(raw: bytes, context: Context) -> Any:
        result = behavior(await request_of(raw, context), context)
        return await result if inspect.isawaitable(result) else result

    return unary


def _nul_refusal(field: str) -> InvalidRequest:
    # Deep nesting (a Struct in a Struct ...) makes a long path, and the path
    # travels in the status's trailing metadata, which has a size limit.
    field = bounded(field, MAX_DETAIL_BYTES)
    return InvalidRequest(
        f"Text may not contain the NUL character (U+0000); {field} does", field=field
    )


class RequestDecoding(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        # Streamed requests are parsed message by message inside the method's
        # own iteration; none of ours take one.
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer
        return rewrapped(handler, lambda behavior: _parsing(behavior, parse), raw_requests=True)
