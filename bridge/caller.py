"""The caller's credentials, passed on with every gRPC call it causes.

The bridge holds no credentials of its own: the HTTP `Authorization` header
of a request goes as it is, as the `authorization` metadata, with each gRPC
call made for that request; the server decides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

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


def acting_for(clients: Clients, authorization: str) -> Clients:
    """The same clients, each call carrying `authorization`."""
    metadata: Metadata = (("authorization", authorization),)
    stubs: dict[str, Any] = {
        field.name: _Passing(getattr(clients, field.name), metadata)
        for field in dataclasses.fields(clients)
        if field.name != "channel"
    }
    return dataclasses.replace(clients, **stubs)
