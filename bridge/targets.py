"""MOCHI_GRPC_TARGET as the target of a gRPC channel: one server or several replicas.

gRPC balances calls over the addresses its resolver returns, so several
replicas must reach it as one target URI: `ipv4:`/`ipv6:` for a list of
addresses, `dns:///name:port` for a name with several records. A value that
already has a gRPC scheme is gRPC's to read. A plain `host:port` is kept as
it is; a plain comma-separated list becomes an `ipv4:` or `ipv6:` URI, which
only holds IP addresses (`localhost` is 127.0.0.1), so a list naming other
hosts is refused rather than guessed at.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# The schemes of gRPC's own resolvers; a value starting with one of them, or
# with any `scheme://`, goes to gRPC unchanged.
GRPC_SCHEMES = frozenset(
    {"dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock", "xds", "google-c2p"}
)
LOCALHOST = "localhost"
LOCALHOST_IPV4 = "127.0.0.1"


class TargetError(ValueError):
    """A MOCHI_GRPC_TARGET that names no server gRPC can reach."""


@dataclass(frozen=True)
class Endpoint:
    """One `host:port` of a plain target; `host` without IPv6 brackets."""

    host: str
    port: int


def channel_target(value: str) -> str:
    """The gRPC target for a MOCHI_GRPC_TARGET value; raises TargetError for
    a value that names no server or several that gRPC cannot balance over."""
    value = value.strip()
    if has_scheme(value):
        return value
    endpoints = [parse_endpoint(entry, value) for entry in value.split(",")]
    if len(endpoints) == 1:
        return value
    return _address_list(endpoints, value)


def lists_addresses(target: str) -> bool:
    """Whether the gRPC `target` is a list of several IP addresses: it then
    names no host that a server's TLS certificate could be checked for."""
    scheme, _, addresses = target.partition(":")
    return scheme.lower() in ("ipv4", "ipv6") and "," in addresses


def has_scheme(value: str) -> bool:
    """Whether `value` is a gRPC target URI rather than plain `host:port` entries."""
    scheme, colon, _ = value.partition(":")
    return "://" in value or (bool(colon) and scheme.lower() in GRPC_SCHEMES)


def parse_endpoint(entry: str, value: str) -> Endpoint:
    """One `host:port` or `[ipv6]:port` entry of the plain target `value`."""
    entry = entry.strip()
    if not entry:
        raise TargetError(f"MOCHI_GRPC_TARGET {value!r} has an empty entry")
    if entry.startswith("["):
        host, bracket, port = entry[1:].partition("]")
        if not bracket or not port.startswith(":"):
            raise TargetError(_bad(entry, value, "write it as [ipv6]:port"))
        port = port[1:]
    else:
        host, colon, port = entry.rpartition(":")
        if not colon:
            raise TargetError(_bad(entry, value, "it has no port: write host:port"))
        if ":" in host:
            raise TargetError(_bad(entry, value, "write an IPv6 address as [ipv6]:port"))
    if not host:
        raise TargetError(_bad(entry, value, "it has no host: write host:port"))
    return Endpoint(host, _port(port, entry, value))


def _port(text: str, entry: str, value: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise TargetError(_bad(entry, value, "it needs a port from 1 to 65535"))
    return int(text)


def _bad(entry: str, value: str, why: str) -> str:
    return f"MOCHI_GRPC_TARGET {value!r}: {entry!r} is not a server address ({why})"


def _address_list(endpoints: list[Endpoint], value: str) -> str:
    """`ipv4:a:p,b:q` or `ipv6:[a]:p,[b]:q` for several IP addresses of one family."""
    addresses = [(_ip_address(e.host, value), e.port) for e in endpoints]
    versions = {address.version for address, _ in addresses}
    if versions == {4}:
        return "ipv4:" + ",".join(f"{address}:{port}" for address, port in addresses)
    if versions == {6}:
        return "ipv6:" + ",".join(f"[{address}]:{port}" for address, port in addresses)
    raise TargetError(
        f"MOCHI_GRPC_TARGET {value!r} mixes IPv4 and IPv6 addresses, which one gRPC "
        "target cannot hold: list one family, or name them all as dns:///name:port"
    )


def _ip_address(host: str, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(LOCALHOST_IPV4 if host.lower() == LOCALHOST else host)
    except ValueError:
        raise TargetError(
            f"MOCHI_GRPC_TARGET {value!r} lists the host name {host!r}: a list of "
            "servers can only hold IP addresses (and localhost); for replicas behind "
            "one name write dns:///name:port, which balances over all its addresses"
        ) from None
