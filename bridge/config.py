"""The bridge's settings: MOCHI_* environment variables and CLI flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VERSION = "0.1.0"


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOCHI_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    grpc_target: str | None = None
    cors_origins: list[str] = ["*"]
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    sse_ping_seconds: float = Field(default=15.0, gt=0)
    sse_send_timeout_seconds: float = Field(default=30.0, gt=0)

    @property
    def resolved_grpc_target(self) -> str:
        """The gRPC server: MOCHI_GRPC_TARGET, else the local server."""
        if self.grpc_target:
            return self.grpc_target
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{host}:{self.grpc_port}"


def parse_settings(argv: Sequence[str] | None = None) -> BridgeSettings:
    parser = argparse.ArgumentParser(
        prog="mochi-bridge", description="REST + SSE API of mochi-grpc, over its gRPC service"
    )
    parser.add_argument("--version", action="version", version=f"mochi-bridge {VERSION}")
    parser.add_argument("--host", help="address to listen on (MOCHI_HOST)")
    parser.add_argument("--port", type=int, help="HTTP port (MOCHI_PORT)")
    parser.add_argument("--grpc-target", help="the gRPC server, host:port (MOCHI_GRPC_TARGET)")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="log level (MOCHI_LOG_LEVEL)",
    )
    args = parser.parse_args(argv)
    return BridgeSettings(**{k: v for k, v in vars(args).items() if v is not None})
