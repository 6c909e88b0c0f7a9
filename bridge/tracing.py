"""The bridge's traces: a span for each HTTP request, continued into the server.

Tracing is off unless the standard variables ask for it, by the server's
rules (mochi_grpc.telemetry.tracing; the bridge imports nothing of the
server's but its stubs, so the few lines are kept here too): an exporter in
OTEL_TRACES_EXPORTER (`otlp`, `console`, ...; `none` = off) or an OTLP
endpoint (which means `otlp`); OTEL_SDK_DISABLED=true turns it off. The
service is `mochi-bridge` unless OTEL_SERVICE_NAME says otherwise. Off,
nothing of tracing is installed.

On, each request runs in a server span (continuing a `traceparent` the
caller sent), named by the route's template (`POST
/api/v1/chat/{session_id}/stream`); an event stream's span lasts until the
stream ends. The gRPC calls a request makes are client spans inside it, and
carry the trace on to the server in their metadata (W3C `traceparent`).
Neither an SSE event nor a gRPC message gets a span of its own: nothing per
token. Scrapes of /metrics are not traced (add more with
OTEL_PYTHON_STARLETTE_EXCLUDED_URLS), and the Authorization header and
cookies never show in a span, even with headers captured.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

import grpc
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import TracerProvider as AnyTracerProvider
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
    get_custom_headers,
    parse_excluded_urls,
)
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from bridge.config import VERSION

log = logging.getLogger(__name__)

SERVICE = "mochi-bridge"

_EXPORTERS_GROUP = "opentelemetry_traces_exporter"
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
# Scrapes every few seconds would bury the traces that matter.
_UNTRACED_URLS = "/metrics$"
# Headers whose values never reach a trace, even when an operator has
# headers captured (OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST).
_SECRET_HEADERS = ["authorization", "cookie", "set-cookie"]


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the variables ask for, by their installed names;
    none when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    listed = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not listed:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        listed = "otlp" if endpoint and endpoint.strip() else "none"
    names = [name.strip().lower() for name in listed.split(",") if name.strip()]
    if not names or "none" in names:
        return []
    return list(dict.fromkeys(_installed_name(name, environ) for name in names))


def _installed_name(name: str, environ: Mapping[str, str]) -> str:
    if name != "otlp":
        return name
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in _OTLP_BY_PROTOCOL:
        raise ValueError(f"OTLP protocol {protocol!r} is not supported for traces")
    return _OTLP_BY_PROTOCOL[protocol]


def _exporter(name: str) -> SpanExporter:
    found = entry_points(group=_EXPORTERS_GROUP, name=name)
    if not found:
        installed = ", ".join(sorted(each.name for each in entry_points(group=_EXPORTERS_GROUP)))
        raise ValueError(
            f"OTEL_TRACES_EXPORTER asks for {name!r}, which is not installed"
            f" (installed: otlp, {installed})"
        )
    made: SpanExporter = next(iter(found)).load()()
    return made


def _resource() -> Resource:
    resource = Resource({SERVICE_VERSION: VERSION}).merge(Resource.create())
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE}))
    return resource


def tracer_provider_from_env(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """The bridge's provider when the variables turn tracing on, else None.
    Shut it down on the way out to send the spans still batched."""
    names = exporter_names(environ)
    if not names:
        return None
    provider = TracerProvider(resource=_resource())
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    log.info("tracing on: spans go to %s", ", ".join(names))
    return provider


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


_CONVERTOR = re.compile(r"{(\w+):\w+}")


def route_template(routes: Iterable[BaseRoute], scope: Scope, prefix: str = "") -> str | None:
    """The template of the route that takes the request, through mounts
    (`/api/v1/sessions/{session_id}`); None when none does. A route that
    takes the path but not the method still names it."""
    named: str | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        path = prefix + getattr(route, "path", "")
        if isinstance(route, Mount) and route.routes:
            return route_template(route.routes, {**scope, **child}, path)
        template = _CONVERTOR.sub(r"{\1}", path + ("/{path}" if isinstance(route, Mount) else ""))
        if match is Match.FULL:
            return template
        named = named or template
    return named
