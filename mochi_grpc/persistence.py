"""Where the server keeps its data, by the settings: SQLite in the data
directory for one process, or a PostgreSQL database that any number of
replicas share (the store, what the replicas coordinate through, and the
system-prompt files all in it)."""

from __future__ import annotations

from dataclasses import dataclass

from mochi_grpc.config import Settings
from mochi_grpc.coordination import Coordination, LocalCoordination, PostgresCoordination
from mochi_grpc.store import (
    PostgresPromptShelf,
    PostgresStore,
    PromptDirectory,
    PromptShelf,
    SqliteStore,
)

Store = SqliteStore | PostgresStore


def store_for(settings: Settings) -> Store:
    """The store the settings name (not opened yet)."""
    if settings.database_url is None:
        return SqliteStore(settings.database_path)
    return PostgresStore(settings.database_url, lease_seconds=settings.turn_lease_seconds)


@dataclass(frozen=True)
class Persistence:
    store: Store
    coordination: Coordination
    prompts: PromptShelf


def persistence_for(settings: Settings) -> Persistence:
    store = store_for(settings)
    if isinstance(store, PostgresStore):
        return Persistence(store, PostgresCoordination(store), PostgresPromptShelf(store.pool))
    return Persistence(
        store, LocalCoordination(store), PromptDirectory(settings.resolved_system_prompts_dir)
    )
