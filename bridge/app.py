"""The Starlette application of the bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount

from bridge import errors, request_ids
from bridge.config import BridgeSettings
from bridge.grpc_client import Clients
from bridge.metrics import BridgeMetrics
from bridge.observing import ObservedRequests
from bridge.routes import (
    agents,
    chat,
    docs,
    health,
    metrics,
    models,
    sessions,
    summaries,
    system_prompts,
    tools,
    web,
)
from bridge.routes.openapi import routes as openapi_routes
from bridge.tracing import grpc_client_spans, trace_requests

API_PREFIX = "/api/v1"


def create_app(
    settings: BridgeSettings, *, tracer_provider: TracerProvider | None = None
) -> Starlette:
    """The bridge; with a tracer provider, its requests and their gRPC calls
    are traced to it (without, nothing of tracing is installed)."""
    app_metrics = BridgeMetrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One channel per process, created inside the serving event loop.
        app.state.clients = Clients.connect(
            settings.resolved_grpc_target, settings.grpc_tls, grpc_client_spans(tracer_provider)
        )
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
                    *summaries.routes,
                    *system_prompts.routes,
                    *tools.routes,
                    *agents.routes,
                    *chat.routes,
                    *openapi_routes,
                    *docs.routes,
                ],
            ),
            *docs.shortcuts,
            *metrics.routes,
            # Last: the chat page at / and its files under /web.
            *web.routes,
        ],
        middleware=[
            # First, so that it sees every answer (CORS refusals too).
            Middleware(ObservedRequests, metrics=app_metrics),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=True,
                allow_methods=["*"],
                allow_headers=["*"],
                # So that a page on another origin can read its request's id.
                expose_headers=[request_ids.HEADER],
            ),
        ],
        exception_handlers={
            errors.ApiError: errors.api_error_handler,
            grpc.aio.AioRpcError: errors.rpc_error_handler,
            HTTPException: errors.http_error_handler,
            Exception: errors.unexpected_error_handler,
        },
        lifespan=lifespan,
    )
    if tracer_provider is not None:
        trace_requests(app, tracer_provider)
    app.state.settings = settings
    app.state.metrics = app_metrics
    return app
