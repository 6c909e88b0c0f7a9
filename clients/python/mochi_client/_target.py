"""Where the server listens: ``host:port``, ``[ipv6]:port`` or ``unix:/path``."""

from __future__ import annotations

from dataclasses import dataclass

TARGET_ENV = "MOCHI_GRPC_TARGET"
DEFAULT_TARGET = "localhost:50051"
DEFAULT_PORT = 50051


@dataclass(frozen=True)
class Address:
    """A TCP address (host and port) or a Unix socket path."""

    host: str | None = None
    port: int | None = None
    path: str | None = None


def parse_target(target: str) -> Address:
    """Read a gRPC target; a missing port means 50051, a ``dns:///`` prefix is ignored."""
    if target.startswith("unix:"):
        return Address(path=target.removeprefix("unix:").removeprefix("//"))
    rest = target.removeprefix("dns:///")
    if rest.startswith("["):
        host, bracket, port = rest[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise ValueError(f"bad gRPC target {target!r}")
        return Address(host=host, port=_port(port.removeprefix(":"), target))
    host, _, port = rest.partition(":")
    if not host or ":" in port:
        raise ValueError(f"bad gRPC target {target!r} (write IPv6 hosts as [::1]:50051)")
    return Address(host=host, port=_port(port, target))


def _port(text: str, target: str) -> int:
    if not text:
        return DEFAULT_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port in gRPC target {target!r}")
    return int(text)
