"""GET /api/v1/health."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.routes.context import clients
from mochi_grpc._gen.mochi.v1 import server_service_pb2 as pb


async def health(request: Request) -> JSONResponse:
    info = await clients(request).server.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
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
