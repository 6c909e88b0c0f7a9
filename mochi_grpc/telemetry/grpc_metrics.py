"""The grpc_server_* series, named and labelled as the gRPC Prometheus
middleware (go-grpc-prometheus, py-grpc-prometheus) names them, so existing
dashboards work: started and handled calls by grpc_type, grpc_service,
grpc_method (and grpc_code when handled), and how long they took.

Installed first among the interceptors, it sees each call as the client
does: a call that a later interceptor refuses (no valid API key:
UNAUTHENTICATED) or a servicer aborts is counted with that code. A call is
started when its method runs and handled when it ends: a stream after its
last message, or when the client hangs up (CANCELLED) or its deadline passes
(DEADLINE_EXCEEDED). Codes are spelled as grpc.StatusCode names (OK,
CANCELLED, ...), as py-grpc-prometheus spells them.

Not counted: calls of methods the server lacks (their names come from the
client, an unbounded label), and stream messages (grpc_server_msg_*_total),
which would add work per token on the streaming path.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from mochi_grpc.grpc_handlers import Behavior, Context, Handler, rewrapped
from mochi_grpc.telemetry.metrics import GRPC_HANDLED, GRPC_HANDLING_SECONDS, GRPC_STARTED

# gRPC cancels a handler whose deadline passed a few milliseconds before the
# handler's own clock reaches that deadline.
_DEADLINE_SLACK_SECONDS = 0.1
_CODES_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class _MethodSeries:
    """The series of one method, looked up once."""

    labels: tuple[str, str, str]
    started: Counter
    seconds: Histogram

    def handled(self, code: grpc.StatusCode, began: float) -> None:
        GRPC_HANDLED.labels(*self.labels, code.name).inc()
        self.seconds.observe(perf_counter() - began)


def _grpc_type(handler: Handler) -> str:
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _set_code(context: Context) -> grpc.StatusCode | None:
    """The code an abort or set_code gave the call (None: none yet)."""
    code: object = context.code()
    if isinstance(code, int):
        return _CODES_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN)
    return code if isinstance(code, grpc.StatusCode) else None


def _code_after(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status the call ends with, from how its method ended."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= _DEADLINE_SLACK_SECONDS:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    code = _set_code(context)
    if error is None:
        return code or grpc.StatusCode.OK
    # An abort set its code; grpc.aio answers any other exception with the
    # code set before it, or UNKNOWN.
    return code if code not in (None, grpc.StatusCode.OK) else grpc.StatusCode.UNKNOWN


def _observed(behavior: Behavior, series: _MethodSeries) -> Behavior:
    """The method, counted and timed; of the same kind (grpc.aio calls a
    coroutine function and iterates an async generator function)."""
    if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
        return behavior  # a synchronous method runs in a thread: left as it is
    if inspect.isasyncgenfunction(behavior):

        async def streaming(request: Any, context: Context) -> Any:
            series.started.inc()
            began, error = perf_counter(), None
            try:
                async with aclosing(behavior(request, context)) as responses:
                    async for response in responses:
                        yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                series.handled(_code_after(context, error), began)

        return streaming

    async def coroutine(request: Any, context: Context) -> Any:
        series.started.inc()
        began, error = perf_counter(), None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            series.handled(_code_after(context, error), began)

    return coroutine


class GrpcMetrics(grpc.aio.ServerInterceptor):
    """Counts and times every call of a method the server has."""

    def __init__(self) -> None:
        self._series: dict[str, _MethodSeries] = {}

    def _series_of(self, method: str, handler: Handler) -> _MethodSeries:
        series = self._series.get(method)
        if series is None:
            service, _, name = method.lstrip("/").rpartition("/")
            labels = (_grpc_type(handler), service, name)
            series = _MethodSeries(
                labels, GRPC_STARTED.labels(*labels), GRPC_HANDLING_SECONDS.labels(*labels)
            )
            self._series[method] = series
        return series

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        series = self._series_of(details.method, handler)
        return rewrapped(handler, lambda behavior: _observed(behavior, series))
