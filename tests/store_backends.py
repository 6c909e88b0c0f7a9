"""Both stores for the contract tests: SQLite on a file, PostgreSQL on a
private server (pgserver: a PostgreSQL 16 of its own, on a Unix socket, that
starts in about a second and also runs as root).

One server serves the whole test session; each test gets a database of its
own, so tests stay independent.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import psycopg

from mochi_grpc.store import PostgresStore, SqliteStore

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

Store: TypeAlias = SqliteStore | PostgresStore

STORE_KINDS = ["sqlite", "postgres"]


@contextmanager
def postgres_server(data_dir: Path) -> Iterator[PostgresServer]:
    """A private PostgreSQL server on `data_dir`, stopped and removed after."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under root here).
        warnings.simplefilter("ignore")
        # Imported here: only the postgres tests need it.
        from pgserver.postgres_server import get_server

        server = get_server(data_dir, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


@contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """A new, empty database on `server`; yields its URL and drops it after."""
    name = f"test_{uuid.uuid4().hex}"
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        yield server.get_uri(name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)
                )
            )


def reopened(store: Store) -> Store:
    """Another store on the same database (a process started after `store`'s)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store._path)
    return PostgresStore(store.conninfo)


async def rows_written(store: Store, session_id: str, write: Callable[[], Awaitable[None]]) -> int:
    """How many rows `write` inserted, changed or deleted in the session and
    its messages (SQLite counts changes; PostgreSQL shows a new row version)."""
    if isinstance(store, SqliteStore):
        changes_before = await store._run(lambda conn: conn.total_changes)
        await write()
        return await store._run(lambda conn: conn.total_changes) - changes_before

    async def versions() -> dict[str, str]:
        async with store._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT 'message ' || position AS row, xmin::text AS version FROM messages"
                " WHERE session_id = %s"
                " UNION ALL SELECT 'session', xmin::text FROM sessions WHERE session_id = %s",
                (session_id, session_id),
            )
            return {r["row"]: r["version"] for r in await cursor.fetchall()}

    before = await versions()
    await write()
    after = await versions()
    changed = [row for row, version in after.items() if before.get(row) != version]
    return len(changed) + len(before.keys() - after.keys())
