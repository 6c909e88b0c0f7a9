"""POST /api/v1/chat/{session_id}, its streaming twin /stream, and the answer to a
tool call waiting for confirmation, /confirm-tool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge import payloads, sse
from bridge.bodies import ChatBody, ConfirmToolBody
from bridge.errors import from_rpc_error
from bridge.grpc_client import TURN_STARTED
from bridge.routes.context import body, clients, settings, unless_disconnected
from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb

log = logging.getLogger(__name__)


async def chat(request: Request) -> JSONResponse:
    data = await body(request, ChatBody)
    message = pb.ChatRequest(session_id=request.path_params["session_id"], think=data.think)
    if data.message is not None:
        message.message = data.message
    response = await unless_disconnected(request, clients(request).chat.Chat(message))
    return JSONResponse(payloads.chat_response(response))


async def chat_stream(request: Request) -> EventSourceResponse:
    data = await body(request, ChatBody)
    message = pb.ChatStreamRequest(session_id=request.path_params["session_id"], think=data.think)
    if data.message is not None:
        message.message = data.message
    call = clients(request).chat.ChatStream(message)
    # A refused turn (unknown session, nothing to answer, busy) is a plain
    # HTTP error; the server announces an accepted turn in its headers, long
    # before the first token.
    if TURN_STARTED not in list(await call.initial_metadata() or ()):
        await call.read()  # raises the call's error
        raise RuntimeError("ChatStream neither started nor failed")  # pragma: no cover
    config = settings(request)
    return EventSourceResponse(
        _events(call),
        ping=config.sse_ping_seconds,
        send_timeout=config.sse_send_timeout_seconds,
        headers={"Cache-Control": "no-store"},
    )


async def _events(
    call: grpc.aio.UnaryStreamCall[pb.ChatStreamRequest, pb.ChatEvent],
) -> AsyncIterator[ServerSentEvent]:
    """One SSE event per ChatEvent, sent as it arrives. When the HTTP client
    goes away this generator is cancelled, and so is the gRPC call."""
    try:
        async for event in call:
            name, data = sse.event(event)
            yield ServerSentEvent(data=data, event=name)
    except grpc.aio.AioRpcError as exc:
        error = from_rpc_error(exc)
        log.warning("stream ended by the server: %s", error.message)
        name, data = sse.error_event(error.code, error.message, error.details)
        yield ServerSentEvent(data=data, event=name)
    finally:
        call.cancel()


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
    Route("/chat/{session_id}/confirm-tool", confirm_tool, methods=["POST"]),
]
