"""gRPC status to HTTP error, in one place.

Every error body is {"error": {"code", "message", "details"}}; the code is the
google.rpc.ErrorInfo reason the server sent, or one derived from the status.
A google.rpc.RetryInfo the server sent (it refused for load) becomes a
Retry-After header: whole seconds, rounded up, at least 1.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import grpc
from google.rpc import error_details_pb2, status_pb2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge import logs, request_ids

log = logging.getLogger(__name__)

HTTP_STATUS = {
    "SESSION_NOT_FOUND": 404,
    "MODEL_NOT_FOUND": 404,
    "PROMPT_NOT_FOUND": 404,
    "TOOL_NOT_FOUND": 404,
    "AGENT_NOT_FOUND": 404,
    "CONFIRMATION_NOT_FOUND": 404,
    "NO_SYSTEM_PROMPT": 404,
    "NOT_FOUND": 404,
    "SUMMARY_NOT_FOUND": 404,
    "AGENT_INVALID": 422,
    "AGENTS_UNSUPPORTED": 400,
    "VALIDATION_ERROR": 422,
    "INVALID_MESSAGE_INDEX": 400,
    "EMPTY_HISTORY": 400,
    "CONFIRMATION_REQUIRES_STREAMING": 400,
    "PROMPT_EXISTS": 409,
    "SESSION_BUSY": 409,
    "TURN_NOT_FOUND": 404,
    "PAYLOAD_TOO_LARGE": 413,
    "METHOD_NOT_ALLOWED": 405,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "TOOL_EXECUTION_DENIED": 403,
    "OLLAMA_UNREACHABLE": 502,
    "OLLAMA_ERROR": 502,
    "SUMMARY_INVALID": 502,
    "TOOL_EXECUTION_FAILED": 500,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
    "RATE_LIMITED": 429,
    "GATEWAY_TIMEOUT": 504,
}

# When the server sent no reason (e.g. it could not be reached at all).
_FALLBACK = {
    grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "GATEWAY_TIMEOUT",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.INVALID_ARGUMENT: "VALIDATION_ERROR",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.PERMISSION_DENIED: "PERMISSION_DENIED",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "SERVICE_UNAVAILABLE",
}


# The Retry-After when the gRPC server cannot be reached. The cause is mostly
# passing (a restart, a replica going away) and how long it lasts is unknown
# here; gRPC's first reconnection attempt comes after about a second, and a
# call fails at once while the channel is down, so asking clients back that
# soon costs the bridge nothing.
UNREACHABLE_RETRY_AFTER_SECONDS: Final = 1


class ApiError(Exception):
    """An error answered with the SPEC's body (and a Retry-After header when
    `retry_after` says how many seconds to wait)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Strings only, like the details the server sends.
        self.details: dict[str, str] = {k: str(v) for k, v in (details or {}).items()}
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def response(self) -> JSONResponse:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(
            {"error": self.body()}, status_code=self.status, headers=headers or None
        )


def _detail(status: Any, kind: Any) -> Any:
    """The first detail of the status of type `kind`, or None."""
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            return message
    return None


def _from_status(status: Any) -> ApiError | None:
    """The error the server described with an ErrorInfo (and a BadRequest
    naming the field at fault), if it did."""
    info = _detail(status, error_details_pb2.ErrorInfo)
    if info is None:
        return None
    details = dict(info.metadata)
    bad = _detail(status, error_details_pb2.BadRequest)
    if bad is not None and bad.field_violations:
        details.setdefault("field", bad.field_violations[0].field)
    return ApiError(info.reason, status.message, details)


def _retry_after(status: Any) -> int | None:
    """The RetryInfo delay of the status in whole seconds, rounded up, at least 1."""
    info = _detail(status, error_details_pb2.RetryInfo)
    if info is None or not info.HasField("retry_delay"):
        return None
    nanoseconds: int = info.retry_delay.ToNanoseconds()
    return max(1, -(-nanoseconds // 1_000_000_000))


def from_rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    """The HTTP error of a failed gRPC call."""
    raw = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
    status = status_pb2.Status.FromString(raw) if isinstance(raw, bytes) else None
    described = _from_status(status) if status is not None else None
    if described is not None:
        described.retry_after = _retry_after(status)
        return described
    code = _FALLBACK.get(exc.code(), "INTERNAL_ERROR")
    if code == "SERVICE_UNAVAILABLE" and exc.code() is grpc.StatusCode.UNAVAILABLE:
        return ApiError(
            code,
            "The mochi-grpc server cannot be reached",
            {"grpc_status": "UNAVAILABLE"},
            retry_after=UNREACHABLE_RETRY_AFTER_SECONDS,
        )
    return ApiError(
        code,
        exc.details() or code,
        {"grpc_status": exc.code().name},
        retry_after=_retry_after(status) if status is not None else None,
    )


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def rpc_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.aio.AioRpcError)
    return from_rpc_error(exc).response()


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError("NOT_FOUND", f"No route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = ApiError(
            "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}"
        )
    else:
        error = ApiError(
            "INTERNAL_ERROR" if exc.status_code >= 500 else "VALIDATION_ERROR", str(exc.detail)
        )
        return JSONResponse(
            {"error": error.body()}, status_code=exc.status_code, headers=exc.headers
        )
    return JSONResponse({"error": error.body()}, status_code=error.status, headers=exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # Starlette runs this outside every middleware, after the request's own
    # handling ended: its id is added here, to the log line and the answer.
    with logs.about(request.scope):
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    response = ApiError("INTERNAL_ERROR", "Internal error").response()
    request_id = request_ids.of(request.scope)
    if request_id is not None:
        response.headers[request_ids.HEADER] = request_id
    return response
