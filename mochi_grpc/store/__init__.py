"""Session persistence: the interface and its SQLite and PostgreSQL implementations."""

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
from mochi_grpc.store.postgres import PostgresStore
from mochi_grpc.store.postgres_prompts import PostgresPromptShelf
from mochi_grpc.store.prompt_shelves import PromptDirectory, PromptShelf
from mochi_grpc.store.sqlite import SqliteStore

__all__ = [
    "INTERRUPTED",
    "IN_PROGRESS",
    "RUNNING",
    "EventRecord",
    "KeyStore",
    "MessagePage",
    "PostgresPromptShelf",
    "PostgresStore",
    "PromptDirectory",
    "PromptShelf",
    "SessionPage",
    "SessionStore",
    "SqliteStore",
    "StoredTurn",
    "TurnWrite",
]
