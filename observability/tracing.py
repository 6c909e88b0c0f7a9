"""Whether a process traces, and where its spans go: the standard variables.

Tracing is off unless asked for, and off costs nothing: no provider, so the
process installs nothing of tracing. It is asked for by OTEL_TRACES_EXPORTER
(`otlp`, `console`, any installed span exporter's name; several
comma-separated; `none` = off) or, without it, by an OTLP endpoint
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), which
means `otlp`. OTEL_SDK_DISABLED=true turns it off whatever else is set.

Everything else is the SDK's own reading of the standard variables: the
service name (OTEL_SERVICE_NAME, or service.name in OTEL_RESOURCE_ATTRIBUTES;
the process's own name otherwise), the sampler (OTEL_TRACES_SAMPLER), the
batching (OTEL_BSP_*) and the OTLP endpoint, headers and timeout. `otlp` is
OTLP over HTTP/protobuf unless OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL says
`grpc`; only the HTTP/protobuf exporter is installed with the project.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from importlib.metadata import entry_points

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

log = logging.getLogger(__name__)

# Where installed span exporters name themselves (`console`, `otlp_proto_http`, ...).
_EXPORTERS_GROUP = "opentelemetry_traces_exporter"
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


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


def exporter(name: str) -> SpanExporter:
    """The installed span exporter of that name, configured by its variables."""
    found = entry_points(group=_EXPORTERS_GROUP, name=name)
    if not found:
        installed = ", ".join(sorted(each.name for each in entry_points(group=_EXPORTERS_GROUP)))
        raise ValueError(
            f"OTEL_TRACES_EXPORTER asks for {name!r}, which is not installed"
            f" (installed: otlp, {installed})"
        )
    made: SpanExporter = next(iter(found)).load()()
    return made


def resource(service: str, version: str) -> Resource:
    """The process as the standard variables describe it; its own name and
    version fill in what they leave out."""
    resource = Resource({SERVICE_VERSION: version}).merge(Resource.create())
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    return resource


def tracer_provider_from_env(
    service: str, version: str, environ: Mapping[str, str] = os.environ
) -> TracerProvider | None:
    """The process's provider when the variables turn tracing on, else None:
    spans batched to each exporter (exported off the event loop, in the
    processor's thread). Shut it down on the way out to send the last ones."""
    names = exporter_names(environ)
    if not names:
        return None
    exporters = [exporter(name) for name in names]
    provider = TracerProvider(resource=resource(service, version))
    for each in exporters:
        provider.add_span_processor(BatchSpanProcessor(each))
    log.info("tracing on: spans go to %s", ", ".join(names))
    return provider
