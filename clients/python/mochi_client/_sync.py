"""A grpcio channel for the sync stubs of ``mochi_client.v1``, with the same
target, API key and TLS settings (and defaults) as MochiClient."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import grpc

from ._credentials import (
    AUTHORIZATION_METADATA,
    SERVER_NAME_ENV,
    Setting,
    Tls,
    resolve_api_key,
    tls_settings,
)
from ._target import DEFAULT_TARGET, TARGET_ENV, parse_target

Request = TypeVar("Request")

SERVICE_CONFIG = "grpc.service_config"
# Calls go in turn to each address the target resolves to (several replicas
# in an ipv4:/ipv6: list or behind a dns:/// name), skipping one that is down.
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
# Targets listing several addresses: grpcio reads them, MochiClient cannot.
ADDRESS_LIST_SCHEMES = ("ipv4:", "ipv6:")


def sync_channel(
    target: str | None = None,
    *,
    api_key: str | None = None,
    ca_file: Setting = None,
    cert_file: Setting = None,
    key_file: Setting = None,
    server_name: str | None = None,
    ssl: bool | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.Channel:
    """A grpcio channel to the server, for the ``...SyncStub`` classes.

    The arguments, their environment defaults and ``ssl`` (True, False or
    None) mean what they mean for MochiClient: the key goes with every call,
    a CA file makes the channel TLS. ``options`` are grpcio channel options.
    Close it (``with sync_channel() as channel:``) when done.

    Besides MochiClient's targets it takes grpcio's lists of replicas
    (``ipv4:10.0.0.1:50051,10.0.0.2:50051``, ``ipv6:[...]:port,...``). Calls
    are balanced round-robin over the target's addresses (a ``dns:///``
    name's too), unless ``options`` carry a ``grpc.service_config``.
    """
    target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
    if not target.startswith(ADDRESS_LIST_SCHEMES):
        parse_target(target)  # the same targets as MochiClient, refused the same way
    token = resolve_api_key(api_key)
    tls = tls_settings(ssl, ca_file, cert_file, key_file, server_name)
    if tls is not None and tls.server_name is None and _lists_addresses(target):
        raise ValueError(
            f"the target {target!r} lists several addresses, which name no host to check "
            f"the server's certificate for: give server_name ({SERVER_NAME_ENV})"
        )
    options = _balanced(options)
    if tls is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        if tls.server_name is not None:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
        channel = grpc.secure_channel(target, _credentials(tls), options=options)
    if token is None:
        return channel
    return grpc.intercept_channel(channel, _Authorization(f"Bearer {token}"))


def _balanced(options: list[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    """The channel options, round-robin unless they carry a service config."""
    options = list(options or ())
    if all(name != SERVICE_CONFIG for name, _ in options):
        options.append((SERVICE_CONFIG, ROUND_ROBIN))
    return options


def _lists_addresses(target: str) -> bool:
    return target.startswith(ADDRESS_LIST_SCHEMES) and "," in target


def _credentials(tls: Tls) -> grpc.ChannelCredentials:
    def read(path: str | None, what: str) -> bytes | None:
        try:
            return Path(path).read_bytes() if path is not None else None
        except OSError as error:
            raise ValueError(f"cannot read the {what} {path!r}: {error}") from error

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls.ca_file, "CA file"),
        private_key=read(tls.key_file, "client key"),
        certificate_chain=read(tls.cert_file, "client certificate"),
    )


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _Details(_CallDetails, grpc.ClientCallDetails):
    """ClientCallDetails with other metadata (grpcio offers no constructor)."""


class _Authorization(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization`` to the metadata of every call (over TLS and plaintext alike)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), (AUTHORIZATION_METADATA, self._value)]
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Request], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Request,
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Request], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Request,
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Iterator[Request]], Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Request],
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Iterator[Request]], Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Request],
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)
