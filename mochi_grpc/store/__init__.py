"""Session persistence: the interface and its SQLite implementation."""

from mochi_grpc.store.base import (
    IN_PROGRESS,
    INTERRUPTED,
    RUNNING,
    EventRecord,
    KeyStore,
    MessagePage,
    SessionPage,
    SessionStore,
    StoredTurn,
    TurnWrite,
)
from mochi_grpc.store.sqlite import SqliteStore

__all__ = [
    "INTERRUPTED",
    "IN_PROGRESS",
    "RUNNING",
    "EventRecord",
    "KeyStore",
    "MessagePage",
    "SessionPage",
    "SessionStore",
    "SqliteStore",
    "StoredTurn",
    "TurnWrite",
]
