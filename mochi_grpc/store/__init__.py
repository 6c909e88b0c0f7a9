"""Session persistence: the interface and its SQLite implementation."""

from mochi_grpc.store.base import MessagePage, SessionPage, SessionStore
from mochi_grpc.store.sqlite import SqliteStore

__all__ = ["MessagePage", "SessionPage", "SessionStore", "SqliteStore"]
