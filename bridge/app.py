"""The Starlette application of the bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount

from bridge import errors
from bridge.config import BridgeSettings
from bridge.grpc_client import Clients
from bridge.routes import chat, docs, health, models, sessions, system_prompts, tools
from bridge.routes.openapi import routes as openapi_routes

API_PREFIX = "/api/v1"


def create_app(settings: BridgeSettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One channel per process, created inside the serving event loop.
        app.state.clients = Clients.connect(settings.resolved_grpc_target, settings.grpc_tls)
        try:
            yield
        finally:
            await app.state.clients.close()

    app = Starlette(
        routes=[
            Mount(
                API_PREFIX,
                routes=[
                    *health.routes,
                    *models.routes,
                    *sessions.routes,
                    *system_prompts.routes,
                    *tools.routes,
                    *chat.routes,
                    *openapi_routes,
                    *docs.routes,
                ],
            ),
            *docs.shortcuts,
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=True,
                allow_methods=["*"],
                allow_headers=["*"],
            )
        ],
        exception_handlers={
            errors.ApiError: errors.api_error_handler,
            grpc.aio.AioRpcError: errors.rpc_error_handler,
            HTTPException: errors.http_error_handler,
            Exception: errors.unexpected_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
