"""The /api/v1/sessions/{session_id}/summar* endpoints: a session's summary,
written by a model on request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge import payloads
from bridge.bodies import SummarizeBody
from bridge.routes.context import body, clients, unless_disconnected
from mochi_grpc._gen.mochi.v1 import summary_service_pb2 as pb


async def summarize_session(request: Request) -> JSONResponse:
    data = await body(request, SummarizeBody, optional=True)
    message = pb.SummarizeSessionRequest(session_id=request.path_params["session_id"])
    if data.model is not None:
        message.model = data.model
    # The model may take a while: a client that hangs up stops it.
    summarized = await unless_disconnected(
        request, clients(request).summaries.SummarizeSession(message)
    )
    return JSONResponse(payloads.session_summary(summarized))


async def get_session_summary(request: Request) -> JSONResponse:
    got = await clients(request).summaries.GetSessionSummary(
        pb.GetSessionSummaryRequest(session_id=request.path_params["session_id"])
    )
    return JSONResponse(payloads.session_summary(got))


routes = [
    Route("/sessions/{session_id}/summarize", summarize_session, methods=["POST"]),
    Route("/sessions/{session_id}/summary", get_session_summary, methods=["GET"]),
]
