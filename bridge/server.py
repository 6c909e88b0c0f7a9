"""The bridge process: `mochi-bridge` (or `python -m bridge`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import uvicorn

from bridge import logs
from bridge.app import create_app
from bridge.config import BridgeSettings, parse_settings
from bridge.tracing import tracer_provider_from_env
from runtime.collector import tune_collector


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    logs.configure(settings)
    logging.getLogger("bridge").info(
        "mochi-bridge on %s://%s:%d, gRPC server at %s (%s)",
        "http" if settings.https_cert_file is None else "https",
        settings.host,
        settings.port,
        settings.resolved_grpc_target,
        _channel_security(settings),
    )
    tracing = tracer_provider_from_env()
    app = create_app(settings, tracer_provider=tracing)
    tune_collector()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.https_cert_file,
        ssl_keyfile=settings.https_key_file,
        log_level=settings.log_level.lower(),
        log_config=logs.uvicorn_log_config(settings),
        timeout_graceful_shutdown=5,
        loop="uvloop",
        http="httptools",
    )
    if tracing is not None:
        tracing.shutdown()  # sends the spans still batched


def _channel_security(settings: BridgeSettings) -> str:
    """What the channel to the server speaks, for the start-up line."""
    if settings.grpc_tls_ca_file is None:
        return "plaintext"
    return "TLS" if settings.grpc_tls_cert_file is None else "mutual TLS"


if __name__ == "__main__":
    main()
