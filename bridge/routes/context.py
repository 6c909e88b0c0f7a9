"""What every route needs: the gRPC clients, the settings, the metrics, a
validated body."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import grpc
from starlette.requests import Request

from bridge import request_ids
from bridge.bodies import B, read_body
from bridge.caller import acting_for, metadata_of
from bridge.config import BridgeSettings
from bridge.grpc_client import Clients
from bridge.metrics import BridgeMetrics

T = TypeVar("T")


def clients(request: Request) -> Clients:
    """The gRPC clients, their calls carrying the request's Authorization and id."""
    shared: Clients = request.app.state.clients
    metadata = metadata_of(request.headers.get("authorization"), request_ids.of(request.scope))
    return acting_for(shared, metadata) if metadata else shared


def settings(request: Request) -> BridgeSettings:
    value: BridgeSettings = request.app.state.settings
    return value


def metrics(request: Request) -> BridgeMetrics:
    value: BridgeMetrics = request.app.state.metrics
    return value


async def body(request: Request, model: type[B], *, optional: bool = False) -> B:
    return await read_body(request, model, settings(request).max_body_bytes, optional=optional)


async def until_disconnect(request: Request) -> None:
    """Returns when the HTTP client goes away (the body must be read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, call: grpc.aio.UnaryUnaryCall[Any, T]) -> T:
    """Awaits a gRPC call, cancelling it if the HTTP client hangs up first, so
    that the server stops the work it started for that client."""
    watcher = asyncio.ensure_future(until_disconnect(request))

    def on_hang_up(task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            call.cancel()

    watcher.add_done_callback(on_hang_up)
    try:
        return await call
    finally:
        watcher.cancel()
