"""The bridge process: `mochi-bridge` (or `python -m bridge`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import uvicorn

from bridge.app import create_app
from bridge.config import parse_settings


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse_settings(argv)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("bridge").info(
        "mochi-bridge on http://%s:%d, gRPC server at %s",
        settings.host,
        settings.port,
        settings.resolved_grpc_target,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
