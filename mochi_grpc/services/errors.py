"""Domain errors to gRPC status, in one place.

The status carries a google.rpc.ErrorInfo whose reason is the error's code
(domain "mochi.v1"); when one field is at fault, a google.rpc.BadRequest; and
when the error says how long to wait (a refusal for load), a
google.rpc.RetryInfo with that delay.

A status travels as trailing metadata, which a client refuses past 8 KiB
(at random) and 16 KiB (always), and then sees only RESOURCE_EXHAUSTED. The
text of an error often echoes the request (an id, a name), so it is cut to a
few hundred bytes: a huge value sent in cannot hide the error it causes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mochi_grpc import errors

log = logging.getLogger(__name__)

ERROR_DOMAIN = "mochi.v1"

_CODES: list[tuple[type[errors.MochiError], grpc.StatusCode]] = [
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PromptExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.KeyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.BackendError, grpc.StatusCode.UNAVAILABLE),
    (errors.Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
]


def status_code_of(error: errors.MochiError) -> grpc.StatusCode:
    for cls, code in _CODES:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.INTERNAL


# In UTF-8 bytes. The message goes out twice (grpc-message, percent-encoded,
# and in the details) and once more as a field violation's description.
MAX_MESSAGE_BYTES = 512
MAX_DETAIL_BYTES = 256


def bounded(text: str, limit: int) -> str:
    """`text`, or as much of it as fits in `limit` UTF-8 bytes with "..." after."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "..."


def to_status(error: errors.MochiError) -> grpc.Status:
    code = status_code_of(error)
    message = bounded(error.message, MAX_MESSAGE_BYTES)
    info = error_details_pb2.ErrorInfo(
        reason=error.code,
        domain=ERROR_DOMAIN,
        metadata={k: bounded(str(v), MAX_DETAIL_BYTES) for k, v in error.details.items()},
    )
    details = [info]
    if error.field is not None:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=error.field, description=message
                    )
                ]
            )
        )
    if error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(error.retry_after_seconds * 1_000_000_000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = status_pb2.Status(code=code.value[0], message=message, details=packed)
    return rpc_status.to_status(status)


async def abort(
    context: grpc.aio.ServicerContext[object, object], error: errors.MochiError
) -> NoReturn:
    status = to_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("abort returned")  # pragma: no cover


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def grpc_errors(handler: Handler) -> Handler:
    """Turns the domain errors a handler raises into their gRPC status."""

    @functools.wraps(handler)
    async def wrapper(
        self: object, request: object, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        try:
            return await handler(self, request, context)
        except errors.MochiError as exc:
            await abort(context, exc)
        except Exception:
            log.exception("unexpected error in %s", handler.__name__)
            await abort(context, errors.MochiError("Internal error"))

    return cast(Handler, wrapper)
