"""Pages and ids as every store takes them: page tokens are opaque to
clients (base64 of JSON), sizes are bounded, an empty session id is refused."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mochi_grpc.errors import InvalidRequest

MAX_PAGE_SIZE = 1000
DEFAULT_SESSION_PAGE = 50


def encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    # A forged token can nest deeper than the parser's stack (RecursionError).
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise InvalidRequest("page_token is not valid", field="page_token") from exc


def require_id(session_id: str) -> None:
    if not session_id:
        raise InvalidRequest("session_id is required", field="session_id")


def page_size_of(requested: int | None, default: int) -> int:
    if requested is None or requested == 0:
        return default
    if requested < 0:
        raise InvalidRequest("page_size must not be negative", field="page_size")
    return min(requested, MAX_PAGE_SIZE)
