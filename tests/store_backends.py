"""Both stores for the contract tests: SQLite on a file, PostgreSQL on a
private server (pgserver: a PostgreSQL 16 of its own, on a Unix socket, that
starts in about a second and also runs as root).

One server serves the whole test session; each test gets a database of its
own, so tests stay independent.
"""

from __future__ import annotations

import sqlite3
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import psycopg
from psycopg import sql

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


def insert_row(store: Store, table: str, columns: dict[str, Any]) -> None:
    """Inserts a row into the store's database by hand, past the store (for
    a row as an earlier version of the store wrote it)."""
    if isinstance(store, SqliteStore):
        names, marks = ", ".join(columns), ", ".join(f":{n}" for n in columns)
        with closing(sqlite3.connect(store._path)) as conn, conn:
            conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", columns)
        return
    with psycopg.connect(store.conninfo) as pg:
        pg.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(map(sql.Placeholder, columns)),
            ),
            columns,
        )


def query_plan(store: Store, query: str, params: tuple[Any, ...]) -> str:
    """How the store's database runs a query of the store's. PostgreSQL is
    told to avoid whole-table scans, which a test's tiny tables make the
    cheapest: the plan shows what a large table gets."""
    if isinstance(store, SqliteStore):
        with closing(sqlite3.connect(store._path)) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {query}", params).fetchall()
            return "\n".join(row[3] for row in rows)
    with psycopg.connect(store.conninfo) as pg:
        pg.execute("SET enable_seqscan = off")
        return "\n".join(row[0] for row in pg.execute(f"EXPLAIN {query}", params))
