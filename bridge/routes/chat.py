"""POST /api/v1/chat/{session_id}, its streaming twin /stream, the resumption
of a stream (GET /stream), stopping a turn (/cancel), and the answer to a tool
call waiting for confirmation (/confirm-tool)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge import payloads, sse
from bridge.bodies import CancelTurnBody, ChatBody, ChatStreamBody, ConfirmToolBody
from bridge.errors import from_rpc_error
from bridge.grpc_client import TURN_STARTED, WATCH
from bridge.metrics import EventStream
from bridge.routes.context import body, clients, metrics, settings, unless_disconnected
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb

log = logging.getLogger(__name__)

EventCall = grpc.aio.UnaryStreamCall[Any, pb.ChatEvent]

# How long a browser's EventSource waits before it reconnects (sent once).
RECONNECT_MS = 1000


async def chat(request: Request) -> JSONResponse:
    data = await body(request, ChatBody)
    message = pb.ChatRequest(session_id=request.path_params["session_id"], think=data.think)
    if data.message is not None:
        message.message = data.message
    response = await unless_disconnected(request, clients(request).chat.Chat(message))
    return JSONResponse(payloads.chat_response(response))


async def chat_stream(request: Request) -> EventSourceResponse:
    data = await body(request, ChatStreamBody)
    message = pb.ChatStreamRequest(
        session_id=request.path_params["session_id"],
        think=data.think,
        continue_on_disconnect=data.continue_on_disconnect,
    )
    if data.message is not None:
        message.message = data.message
    call = clients(request).chat.ChatStream(message)
    # A refused turn (unknown session, nothing to answer, busy) is a plain
    # HTTP error; the server announces an accepted turn in its headers, long
    # before the first token.
    if TURN_STARTED not in await _metadata(call):
        await _raise_error_of(call)
    return _event_stream(request, call)


async def watch_turn(request: Request) -> Response:
    """WatchTurn as an event stream a browser's EventSource can follow: on
    reconnecting, it sends the last id it saw as Last-Event-ID."""
    query = request.query_params
    call = clients(request).chat.WatchTurn(
        pb.WatchTurnRequest(
            session_id=request.path_params["session_id"],
            turn_id=query.get("turn_id", ""),
            after_event_id=request.headers.get("last-event-id") or query.get("last_event_id", ""),
        )
    )
    watching = dict(await _metadata(call)).get(WATCH)
    if watching is None:
        await _raise_error_of(call)
    if watching == "none":
        # Nothing is left to send: 204 tells EventSource to stop reconnecting.
        await _read_to_end(call)
        return Response(status_code=204)
    return _event_stream(request, call)


async def _metadata(call: EventCall) -> list[tuple[str, str | bytes]]:
    return list(await call.initial_metadata() or ())


async def _raise_error_of(call: EventCall) -> None:
    await call.read()  # raises the call's error
    raise RuntimeError("the call neither started nor failed")  # pragma: no cover


async def _read_to_end(call: EventCall) -> None:
    """Reads a call the server has nothing more to send on to its end (at
    once), rather than cancelling it unread: only a call read to its end ends
    its client span. An error ending it is on that span; it changes nothing
    for the caller."""
    with contextlib.suppress(grpc.aio.AioRpcError):
        async for _ in call:
            pass


def _event_stream(request: Request, call: EventCall) -> EventSourceResponse:
    config = settings(request)
    stream = metrics(request).stream()
    return EventSourceResponse(
        _events(call, stream),
        ping=config.sse_ping_seconds,
        send_timeout=config.sse_send_timeout_seconds,
        headers={"Cache-Control": "no-store"},
        client_close_handler_callable=stream.client_left,
    )


async def _events(call: EventCall, stream: EventStream) -> AsyncIterator[ServerSentEvent]:
    """One SSE event per ChatEvent, with its id, sent as it arrives. When the
    HTTP client goes away this generator is cancelled, and so is the gRPC call."""
    retry: int | None = RECONNECT_MS
    # Events written: the generator resumes after a yield once its event is sent.
    sent = 0
    stream.opened()
    try:
        async for event in call:
            name, data = sse.event(event)
            yield ServerSentEvent(data=data, event=name, id=event.event_id, retry=retry)
            sent += 1
            retry = None
        stream.ended()
    except grpc.aio.AioRpcError as exc:
        error = from_rpc_error(exc)
        log.warning("stream ended by the server: %s", error.message)
        name, data = sse.error_event(error.code, error.message, error.details)
        yield ServerSentEvent(data=data, event=name)
        sent += 1
        stream.ended()
    finally:
        call.cancel()
        stream.closed(sent)


async def cancel_turn(request: Request) -> JSONResponse:
    data = await body(request, CancelTurnBody, optional=True)
    response = await clients(request).chat.CancelTurn(
        pb.CancelTurnRequest(session_id=request.path_params["session_id"], turn_id=data.turn_id)
    )
    return JSONResponse(payloads.cancelled_turn(response))


async def confirm_tool(request: Request) -> JSONResponse:
    data = await body(request, ConfirmToolBody)
    answered = await clients(request).chat.ConfirmToolCall(
        pb.ConfirmToolCallRequest(
            session_id=request.path_params["session_id"],
            confirmation_id=data.confirmation_id,
            approved=data.approved,
        )
    )
    return JSONResponse(payloads.tool_confirmation(answered))


routes = [
    Route("/chat/{session_id}", chat, methods=["POST"]),
    Route("/chat/{session_id}/stream", chat_stream, methods=["POST"]),
    Route("/chat/{session_id}/stream", watch_turn, methods=["GET"]),
    Route("/chat/{session_id}/cancel", cancel_turn, methods=["POST"]),
    Route("/chat/{session_id}/confirm-tool", confirm_tool, methods=["POST"]),
]
