"""The id of each HTTP request: the client's `X-Request-Id`, or one of ours.

A client's id is kept when it is plain (1 to 128 of `A-Z a-z 0-9 . _ : -`),
so that one id can follow a request through a client's own logs, the
bridge's and the server's; anything else is replaced by a new id, since it
comes from outside and ends up in log lines and gRPC metadata. The id goes
back on the response (every one, errors and event streams included), with
every gRPC call made for the request as `x-request-id` metadata, and on the
bridge's log lines written while the request is handled.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from starlette.types import Scope

HEADER: Final = "X-Request-Id"
# The gRPC metadata key the server reads it from.
METADATA_KEY: Final = "x-request-id"
MAX_LENGTH: Final = 128

_PLAIN: Final = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")
# Where a request's id is kept in its ASGI scope.
_SCOPE_KEY: Final = "mochi.request_id"


def new() -> str:
    return uuid.uuid4().hex


def accepted(sent: str | None) -> str:
    """The client's id when it is plain, else a new one."""
    if sent is not None and _PLAIN.fullmatch(sent):
        return sent
    return new()


def give(scope: Scope, request_id: str) -> None:
    """Keeps the id in the request's scope, for `of`."""
    scope[_SCOPE_KEY] = request_id


def of(scope: Scope) -> str | None:
    """The id given to the request of this scope (None: it was given none)."""
    value = scope.get(_SCOPE_KEY)
    return value if isinstance(value, str) else None
