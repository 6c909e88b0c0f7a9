"""The bridge's settings: MOCHI_* environment variables and CLI flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.targets import channel_target, lists_addresses

VERSION = "0.1.0"


@dataclass(frozen=True)
class GrpcTls:
    """TLS on the channel to the server: which CA vouches for the server, the
    bridge's own certificate and key when the server asks for one, and the
    name to expect in the server's certificate instead of the target's host."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOCHI_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    # The server, or several replicas to balance calls over round-robin: one
    # host:port, a comma-separated list of IP:port (made an ipv4:/ipv6: target),
    # or any gRPC target URI (ipv4:..., dns:///name:port, unix:...).
    grpc_target: str | None = None
    cors_origins: list[str] = ["*"]
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # text: lines for a person; json: one object per line for a log collector,
    # with the request id (see bridge.logs).
    log_format: Literal["text", "json"] = "text"
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    sse_ping_seconds: float = Field(default=15.0, gt=0)
    sse_send_timeout_seconds: float = Field(default=30.0, gt=0)
    # TLS to the gRPC server: its certificate must be signed by this CA (PEM).
    # Set, the channel is TLS; unset, it is plaintext.
    grpc_tls_ca_file: FilePath | None = None
    # The bridge's own certificate chain and key (PEM), for a server that
    # requires one (mutual TLS): both or neither, and only with the CA above.
    grpc_tls_cert_file: FilePath | None = None
    grpc_tls_key_file: FilePath | None = None
    # The name the server's certificate must carry, when the target does not
    # say it: e.g. the target is 127.0.0.1, or a list of replicas' addresses,
    # and the certificate names the host.
    grpc_tls_server_name: str | None = None
    # HTTPS on the bridge's own port: its certificate chain and private key
    # (PEM), both or neither; without them the bridge serves plain HTTP.
    https_cert_file: FilePath | None = None
    https_key_file: FilePath | None = None

    @field_validator("grpc_target")
    @classmethod
    def _grpc_target_names_servers(cls, value: str | None) -> str | None:
        # A target gRPC cannot resolve would only show as UNAVAILABLE on
        # every call; refused here, the start says what is wrong.
        return channel_target(value) if value and value.strip() else None

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> BridgeSettings:
        # Half a TLS setting must stop the start: plaintext instead would be
        # a silent downgrade.
        _both_or_neither(
            "MOCHI_GRPC_TLS_CERT_FILE",
            self.grpc_tls_cert_file,
            "MOCHI_GRPC_TLS_KEY_FILE",
            self.grpc_tls_key_file,
        )
        _both_or_neither(
            "MOCHI_HTTPS_CERT_FILE",
            self.https_cert_file,
            "MOCHI_HTTPS_KEY_FILE",
            self.https_key_file,
        )
        if self.grpc_tls_ca_file is not None:
            return self
        for name, value in (
            ("MOCHI_GRPC_TLS_CERT_FILE", self.grpc_tls_cert_file),
            ("MOCHI_GRPC_TLS_SERVER_NAME", self.grpc_tls_server_name),
        ):
            if value is not None:
                raise ValueError(
                    f"{name} needs MOCHI_GRPC_TLS_CA_FILE, the CA that signed the "
                    "server's certificate: without it the channel is plaintext"
                )
        return self

    @model_validator(mode="after")
    def _tls_to_addresses_names_the_host(self) -> BridgeSettings:
        # gRPC would check the certificate for the list of addresses itself
        # and fail every call; refused here, the start says what is missing.
        if (
            self.grpc_tls_ca_file is not None
            and self.grpc_tls_server_name is None
            and lists_addresses(self.resolved_grpc_target)
        ):
            raise ValueError(
                "MOCHI_GRPC_TARGET lists several addresses, which name no host to check "
                "the servers' TLS certificate for: set MOCHI_GRPC_TLS_SERVER_NAME to it"
            )
        return self

    @property
    def grpc_tls(self) -> GrpcTls | None:
        """TLS for the channel to the server; None: plaintext."""
        if self.grpc_tls_ca_file is None:
            return None
        return GrpcTls(
            self.grpc_tls_ca_file,
            self.grpc_tls_cert_file,
            self.grpc_tls_key_file,
            self.grpc_tls_server_name,
        )

    @property
    def resolved_grpc_target(self) -> str:
        """The gRPC target of the server or its replicas: MOCHI_GRPC_TARGET,
        else the local server."""
        if self.grpc_target:
            return self.grpc_target
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{host}:{self.grpc_port}"


def _both_or_neither(name: str, value: Path | None, other: str, other_value: Path | None) -> None:
    if (value is None) != (other_value is None):
        given, missing = (name, other) if other_value is None else (other, name)
        raise ValueError(f"{given} is set but {missing} is not: TLS needs both PEM files")


def parse_settings(argv: Sequence[str] | None = None) -> BridgeSettings:
    parser = argparse.ArgumentParser(
        prog="mochi-bridge", description="REST + SSE API of mochi-grpc, over its gRPC service"
    )
    parser.add_argument("--version", action="version", version=f"mochi-bridge {VERSION}")
    parser.add_argument("--host", help="address to listen on (MOCHI_HOST)")
    parser.add_argument("--port", type=int, help="HTTP port (MOCHI_PORT)")
    parser.add_argument(
        "--grpc-target",
        help=(
            "the gRPC server: host:port, or several replicas to balance calls over "
            "round-robin, as IP:port,IP:port (localhost counts as 127.0.0.1) or any "
            "gRPC target (ipv4:IP:port,IP:port, dns:///name:port); over TLS to a list "
            "of IP addresses, MOCHI_GRPC_TLS_SERVER_NAME names the certificate's host "
            "(MOCHI_GRPC_TARGET)"
        ),
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="log level (MOCHI_LOG_LEVEL)",
    )
    args = parser.parse_args(argv)
    return BridgeSettings(**{k: v for k, v in vars(args).items() if v is not None})
