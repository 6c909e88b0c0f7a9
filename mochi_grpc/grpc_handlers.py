"""What the server's grpc.aio interceptors share: a method handler with its
behaviour wrapped, of the same kind and with the same (de)serializers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler  # not subscriptable at run time

Behavior = Callable[..., Any]
Context = grpc.aio.ServicerContext[Any, Any]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]

_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


def rewrapped(
    handler: Handler, wrap: Callable[[Behavior], Behavior], *, raw_requests: bool = False
) -> Handler:
    """The handler with its behaviour wrapped; with `raw_requests` the
    wrapped behaviour gets the request's bytes (it parses them itself)."""
    for kind, factory in _KINDS:
        behavior = getattr(handler, kind)
        if behavior is not None:
            return factory(
                wrap(behavior),
                request_deserializer=None if raw_requests else handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler
