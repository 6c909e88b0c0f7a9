"""Whether a process traces, where its spans go, and what it installs:
the standard OTEL_* variables, read by the rules the server and the bridge
share (observability.tracing), each process under its own name."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from starlette.types import Scope

from bridge import tracing as bridge_tracing
from bridge.app import create_app
from bridge.config import BridgeSettings
from bridge.route_templates import route_template
from mochi_grpc.telemetry import tracing as server_tracing
from mochi_grpc.telemetry.grpc_spans import server_spans
from observability.tracing import exporter, exporter_names

PROVIDERS = {
    "server": (server_tracing.tracer_provider_from_env, "mochi-grpc"),
    "bridge": (bridge_tracing.tracer_provider_from_env, "mochi-bridge"),
}
ENDPOINT = "http://collector:4318"


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "chat"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": " Console , otlp ,console"}, ["console", "otlp_proto_http"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ["otlp_proto_http"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ENDPOINT + "/v1/traces"}, ["otlp_proto_http"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, []),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, []),
        ({"OTEL_TRACES_EXPORTER": "console,none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "TRUE"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "false"}, ["console"]),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            ["otlp_proto_grpc"],
        ),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            ["otlp_proto_http"],
        ),
    ],
)
def test_the_variables_decide_the_exporters(environ: dict[str, str], exporters: list[str]) -> None:
    assert exporter_names(environ) == exporters


def test_an_otlp_protocol_without_an_exporter_is_refused() -> None:
    with pytest.raises(ValueError, match="http/json"):
        exporter_names({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


@pytest.mark.parametrize("side", PROVIDERS)
@pytest.mark.parametrize("name", ["zipkin", "otlp"])
def test_an_exporter_that_is_not_installed_stops_the_start(side: str, name: str) -> None:
    from_env, _ = PROVIDERS[side]
    # otlp over gRPC: only the HTTP/protobuf exporter is installed.
    environ = {"OTEL_TRACES_EXPORTER": name, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}

    with pytest.raises(ValueError, match="not installed"):
        from_env(environ)


@pytest.mark.parametrize("side", PROVIDERS)
def test_no_provider_when_tracing_is_off(side: str) -> None:
    from_env, _ = PROVIDERS[side]

    assert from_env({}) is None


@pytest.mark.parametrize("side", PROVIDERS)
def test_the_service_is_named_for_the_process_unless_the_variables_name_it(
    side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env, default = PROVIDERS[side]
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    unnamed = _provider(from_env({"OTEL_TRACES_EXPORTER": "console"}))
    monkeypatch.setenv("OTEL_SERVICE_NAME", "chat-edge")
    named = _provider(from_env({"OTEL_TRACES_EXPORTER": "console"}))

    assert unnamed.resource.attributes["service.name"] == default
    assert unnamed.resource.attributes["service.version"] == "0.1.0"
    assert unnamed.resource.attributes["deployment.environment"] == "staging"
    assert named.resource.attributes["service.name"] == "chat-edge"


def _provider(provider: TracerProvider | None) -> TracerProvider:
    assert provider is not None
    provider.shutdown()
    return provider


def test_exporters_are_made_by_their_installed_names() -> None:
    assert isinstance(exporter("otlp_proto_http"), OTLPSpanExporter)
    assert isinstance(exporter("console"), ConsoleSpanExporter)


def test_without_a_provider_nothing_of_tracing_is_installed() -> None:
    assert server_spans(None) == []
    assert bridge_tracing.grpc_client_spans(None) == []


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/api/v1/chat/abc123/stream", "/api/v1/chat/{session_id}/stream"),
        ("GET", "/api/v1/chat/abc123/stream", "/api/v1/chat/{session_id}/stream"),
        ("GET", "/api/v1/sessions/abc123", "/api/v1/sessions/{session_id}"),
        ("GET", "/api/v1/models/library/llama3.2:latest", "/api/v1/models/{model_name}"),
        (
            "PUT",
            "/api/v1/sessions/abc/messages/3",
            "/api/v1/sessions/{session_id}/messages/{message_index}",
        ),
        # The path is a route's, the method not: still named by the route.
        ("PUT", "/api/v1/tools/reload", "/api/v1/tools/reload"),
        ("GET", "/api/v1/no/such/thing", None),
        ("GET", "/elsewhere", None),
    ],
)
def test_requests_are_named_by_their_route_template(
    method: str, path: str, template: str | None
) -> None:
    app = create_app(BridgeSettings())

    assert route_template(app.routes, _scope(method, path)) == template
