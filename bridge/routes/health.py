"""GET /api/v1/health."""

from __future__ import annotations

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.config import VERSION
from bridge.routes.context import clients
from mochi_grpc._gen.mochi.v1 import server_service_pb2 as pb


async def health(request: Request) -> JSONResponse:
    """Open to all: without a valid key (when keys are required) it says only
    that the bridge and the server answer."""
    try:
        info = await clients(request).server.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.UNAUTHENTICATED:
            raise
        # The server answered: it is up; what is behind it is for key holders.
        return JSONResponse(
            {
                "status": "ok",
                "version": VERSION,
                "ollama_connected": None,
                "ollama_host": None,
                "backend": None,
            }
        )
    return JSONResponse(
        {
            "status": "ok",
            "version": info.version,
            "ollama_connected": info.ollama_connected,
            "ollama_host": info.ollama_host,
            "backend": info.backend,
        }
    )


routes = [Route("/health", health, methods=["GET"])]
