"""Typed settings: MOCHI_* environment variables, overridden by CLI flags."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VERSION = "0.1.0"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything the server and the bridge can be told at start-up."""

    model_config = SettingsConfigDict(env_prefix="MOCHI_", extra="ignore")

    host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    port: int = Field(default=8000, ge=0, le=65535)
    grpc_target: str | None = None
    ollama_host: str = "http://localhost:11434"
    # Which model backend serves: Ollama, the embedded llama.cpp model, or
    # Ollama when it answers at start-up and the embedded model otherwise.
    backend: Literal["ollama", "embedded", "auto"] = "ollama"
    embedded_threads: int = Field(default=1, ge=1)
    data_dir: Path = Path(".")
    database_file: Path = Path("mochi.db")
    # A postgresql:// URL: the store is that PostgreSQL database, which any
    # number of server replicas may share. Unset: SQLite in data_dir.
    database_url: str | None = None
    # With PostgreSQL: a replica that stops renewing its lease (it died) has
    # its running turns marked interrupted by the others within this long.
    turn_lease_seconds: float = Field(default=15.0, ge=1)
    system_prompts_dir: Path = Path("system_prompts")
    tools_dir: Path = Path("tools")
    # One folder per agent: SKILL.md and a package exporting its tools.
    agents_dir: Path = Path("agents")
    # Model rounds an agent's work may take before it is stopped.
    max_agent_iterations: int = Field(default=50, ge=1)
    # Summarize a session in the background after each completed reply.
    summarize_automatically: bool = False
    log_level: LogLevel = "INFO"
    # "json": one JSON object per log line (with request, session, turn and
    # trace ids where known); "text": the plain lines.
    log_format: Literal["text", "json"] = "text"
    # Prometheus metrics at http://host:metrics_port/metrics (0: none).
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    max_concurrent_turns: int = Field(default=256, ge=1)
    # Turns doing their start (claim, load, store) at once; the others wait
    # in arrival order, so a burst does not slow every stream down at once.
    max_starting_turns: int = Field(default=16, ge=1)
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    tool_timeout_seconds: float = Field(default=30.0, gt=0)
    max_tool_rounds: int = Field(default=10, ge=0)
    # Merge the deltas a slow reader has not taken yet into one message.
    stream_coalesce: bool = True
    # How often the reply so far of a running turn is stored: a process that
    # dies loses at most about this much of the text being generated.
    checkpoint_interval_ms: int = Field(default=500, ge=10)
    # API keys: "required" or "off". Unset: off when the server listens on
    # loopback only (a one-command local start), required otherwise.
    auth: Literal["required", "off"] | None = None
    # Turns one key may start per minute, in one server process (0: no limit).
    rate_limit_turns_per_minute: int = Field(default=0, ge=0)
    # A turn started with continue_on_disconnect is stopped after this long.
    max_turn_seconds: float = Field(default=900.0, gt=0)
    # ... and a tool confirmation it waits for counts as denied after this long.
    confirmation_timeout_seconds: float = Field(default=300.0, gt=0)
    # TLS on the gRPC port: the server's certificate chain and private key
    # (PEM), both or neither; without them the port speaks plaintext.
    tls_cert_file: FilePath | None = None
    tls_key_file: FilePath | None = None
    # Mutual TLS: a client without a certificate signed by this CA (PEM) is
    # refused during the handshake, before any call. Needs the two above.
    tls_client_ca_file: FilePath | None = None

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "MOCHI_DATABASE_URL must be a postgresql:// URL (unset: SQLite in MOCHI_DATA_DIR)"
            )
        return url

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> Settings:
        # Half a TLS setting must stop the start: serving plaintext instead
        # would be a silent downgrade.
        if self.tls_cert_file is not None and self.tls_key_file is None:
            raise ValueError(
                "MOCHI_TLS_CERT_FILE is set but MOCHI_TLS_KEY_FILE is not: "
                "TLS on the gRPC port needs both PEM files"
            )
        if self.tls_key_file is not None and self.tls_cert_file is None:
            raise ValueError(
                "MOCHI_TLS_KEY_FILE is set but MOCHI_TLS_CERT_FILE is not: "
                "TLS on the gRPC port needs both PEM files"
            )
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(
                "MOCHI_TLS_CLIENT_CA_FILE (mutual TLS) needs MOCHI_TLS_CERT_FILE "
                "and MOCHI_TLS_KEY_FILE: the server's own certificate and key"
            )
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / self.database_file

    @property
    def database_description(self) -> str:
        """Where the data is, for log lines (a URL's password left out)."""
        if self.database_url is None:
            return str(self.database_path)
        return "PostgreSQL at " + re.sub(r"//[^@/]*@", "//", self.database_url)

    @property
    def resolved_system_prompts_dir(self) -> Path:
        return self.data_dir / self.system_prompts_dir

    @property
    def resolved_tools_dir(self) -> Path:
        return self.data_dir / self.tools_dir

    @property
    def resolved_agents_dir(self) -> Path:
        return self.data_dir / self.agents_dir

    @property
    def listens_on_loopback(self) -> bool:
        return self.host in ("localhost", "::1") or self.host.startswith("127.")

    @property
    def auth_required(self) -> bool:
        if self.auth is None:
            return not self.listens_on_loopback
        return self.auth == "required"

    @property
    def grpc_address(self) -> str:
        """Where the gRPC server listens (host:port)."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def resolved_grpc_target(self) -> str:
        """Where clients such as the bridge reach the gRPC server."""
        return self.grpc_target or f"{self.host}:{self.grpc_port}"


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Builds settings from the environment, with the given flags winning."""
    parser = argparse.ArgumentParser(
        prog="mochi-grpc", description="Chat sessions with local LLMs over gRPC"
    )
    parser.add_argument("--version", action="version", version=f"mochi-grpc {VERSION}")
    parser.add_argument("--host", help="address to listen on (MOCHI_HOST)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (MOCHI_GRPC_PORT)")
    parser.add_argument("--ollama-host", help="Ollama base URL (MOCHI_OLLAMA_HOST)")
    parser.add_argument(
        "--backend",
        choices=["ollama", "embedded", "auto"],
        help="model backend (MOCHI_BACKEND)",
    )
    parser.add_argument("--data-dir", type=Path, help="where data is kept (MOCHI_DATA_DIR)")
    parser.add_argument(
        "--database-url", help="a postgresql:// URL to keep data in (MOCHI_DATABASE_URL)"
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="log level (MOCHI_LOG_LEVEL)",
    )
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**overrides)
