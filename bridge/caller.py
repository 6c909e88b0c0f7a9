"""What a request's gRPC calls carry: the caller's credentials and the request's id.

The bridge holds no credentials of its own: the HTTP `Authorization` header
of a request goes as it is, as the `authorization` metadata, with each gRPC
call made for that request; the server decides. The request's id (see
request_ids) goes with them as `x-request-id`, so that the server's log lines
about the call name the same request as the bridge's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bridge import request_ids
from bridge.grpc_client import Clients

Metadata = tuple[tuple[str, str], ...]


class _Passing:
    """A stub whose calls carry the caller's metadata."""

    def __init__(self, stub: Any, metadata: Metadata) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        def call(request: Any, **options: Any) -> Any:
            options["metadata"] = (*(options.get("metadata") or ()), *self._metadata)
            return method(request, **options)

        return call


def metadata_of(authorization: str | None, request_id: str | None) -> Metadata:
    """The metadata of a request's calls: what of the two it has."""
    metadata: list[tuple[str, str]] = []
    if authorization is not None:
        metadata.append(("authorization", authorization))
    if request_id is not None:
        metadata.append((request_ids.METADATA_KEY, request_id))
    return tuple(metadata)


def acting_for(clients: Clients, metadata: Metadata) -> Clients:
    """The same clients, each call carrying `metadata`."""
    stubs: dict[str, Any] = {
        field.name: _Passing(getattr(clients, field.name), metadata)
        for field in dataclasses.fields(clients)
        if field.name != "channel"
    }
    return dataclasses.replace(clients, **stubs)
