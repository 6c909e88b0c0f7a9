"""The store with every operation timed (mochi_store_operation_seconds).

One wrapper for every store: each coroutine method of the SessionStore and
KeyStore protocols is timed under its own name, whether it returns or
raises; anything else passes through untouched. The names of the protocols'
methods are the only label values.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import wraps
from time import perf_counter
from typing import Any, TypeVar, cast

from prometheus_client import Histogram

from mochi_grpc.store import KeyStore, SessionStore
from mochi_grpc.telemetry.metrics import STORE_SECONDS

S = TypeVar("S")

# The operations timed: the coroutine methods the domain calls through the protocols.
OPERATIONS = frozenset(
    name
    for protocol in (SessionStore, KeyStore)
    for name, member in vars(protocol).items()
    if inspect.iscoroutinefunction(member)
)


def _timing(operation: Callable[..., Awaitable[Any]], seconds: Histogram) -> Callable[..., Any]:
    @wraps(operation)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        began = perf_counter()
        try:
            return await operation(*args, **kwargs)
        finally:
            seconds.observe(perf_counter() - began)

    return timed


class _TimedStore:
    def __init__(self, store: object) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name in OPERATIONS:
            attribute = _timing(attribute, STORE_SECONDS.labels(name))
            setattr(self, name, attribute)  # found here from now on, without __getattr__
        return attribute


def timed(store: S) -> S:
    """`store`, its SessionStore and KeyStore operations timed."""
    return cast(S, _TimedStore(store))
