"""The bridge's traces: a span for each HTTP request, continued into the server.

Tracing is off unless the standard variables ask for it, by the rules the
server reads them by too (observability.tracing): an exporter in
OTEL_TRACES_EXPORTER (`otlp`, `console`, ...; `none` = off) or an OTLP
endpoint (which means `otlp`); OTEL_SDK_DISABLED=true turns it off. The
service is `mochi-bridge` unless OTEL_SERVICE_NAME says otherwise. Off,
nothing of tracing is installed.

On, each request runs in a server span (continuing a `traceparent` the
caller sent), named by the route's template (see route_templates; `POST
/api/v1/chat/{session_id}/stream`); an event stream's span lasts until the
stream ends. The gRPC calls a request makes are client spans inside it, and
carry the trace on to the server in their metadata (W3C `traceparent`).
Neither an SSE event nor a gRPC message gets a span of its own: nothing per
token. Scrapes of /metrics are not traced (add more with
OTEL_PYTHON_STARLETTE_EXCLUDED_URLS), and the Authorization header and
cookies never show in a span, even with headers captured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import grpc
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import TracerProvider as AnyTracerProvider
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
    get_custom_headers,
    parse_excluded_urls,
)
from starlette.applications import Starlette
from starlette.types import Scope

from bridge.config import VERSION
from bridge.route_templates import route_template
from observability import tracing

SERVICE = "mochi-bridge"

# Scrapes every few seconds would bury the traces that matter.
_UNTRACED_URLS = "/metrics$"
# Headers whose values never reach a trace, even when an operator has
# headers captured (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST).
_SECRET_HEADERS = ["authorization", "cookie", "set-cookie"]


def tracer_provider_from_env(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """The bridge's provider when the variables turn tracing on, else None.
    Shut it down on the way out to send the spans still batched."""
    return tracing.tracer_provider_from_env(SERVICE, VERSION, environ)


def grpc_client_spans(
    tracer_provider: AnyTracerProvider | None,
) -> list[grpc.aio.ClientInterceptor]:
    """The channel's interceptors: a client span per call, its trace context
    sent along (none without a provider)."""
    if tracer_provider is None:
        return []
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider
    )
    return interceptors


def trace_requests(app: Starlette, tracer_provider: AnyTracerProvider) -> None:
    """Runs every request to `app` in a server span (outside all other middleware)."""
    listed = os.environ.get(
        "OTEL_PYTHON_STARLETTE_EXCLUDED_URLS", os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", "")
    )

    def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
        method = str(scope.get("method", "HTTP"))
        route = route_template(app.routes, scope)
        if route is None:
            return method, {}
        return f"{method} {route}", {HTTP_ROUTE: route}

    app.add_middleware(
        OpenTelemetryMiddleware,
        tracer_provider=tracer_provider,
        default_span_details=span_details,
        excluded_urls=parse_excluded_urls(",".join(filter(None, [_UNTRACED_URLS, listed]))),
        http_capture_headers_sanitize_fields=[
            *get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS),
            *_SECRET_HEADERS,
        ],
        # A span per message sent would be a span per token of a stream.
        exclude_spans=["receive", "send"],
    )
