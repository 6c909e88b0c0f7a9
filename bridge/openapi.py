"""The OpenAPI 3.1 document of the bridge."""

from __future__ import annotations

from functools import cache
from typing import Any

from bridge.config import VERSION


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "mochi-grpc HTTP API", "version": VERSION},
        "paths": {},
    }
