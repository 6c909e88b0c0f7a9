"""A private PostgreSQL for the store and replica scenarios.

pgserver (a PyPI package) brings a PostgreSQL of its own: started on a data
directory in about a second, reached on a Unix socket, also under root. It is
not a child of the driver (pg_ctl starts it as a daemon), so it is stopped
here, and its CPU time is read from the postmaster and its backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


def _start(data_dir: Path) -> PostgresServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under root).
        warnings.simplefilter("ignore")
        # Imported here: only these scenarios need it.
        from pgserver.postgres_server import get_server

        return get_server(data_dir, cleanup_mode="delete")


@contextlib.asynccontextmanager
async def postgres_server(data_dir: Path) -> AsyncIterator[PostgresServer]:
    """A private PostgreSQL server on `data_dir`, stopped and removed after."""
    server = await asyncio.to_thread(_start, data_dir)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)


def _create_database(server: PostgresServer, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.get_uri(name)


async def create_database(server: PostgresServer, prefix: str) -> str:
    """A new, empty database on `server`; returns its URL."""
    return await asyncio.to_thread(_create_database, server, prefix)


def cpu_seconds(server: PostgresServer) -> float:
    """CPU time of the whole PostgreSQL: the postmaster, its live processes
    (backends, background workers) and the ones that already exited."""
    pid = server.get_pid()
    if pid is None:
        return float("nan")
    try:
        postmaster = psutil.Process(pid)
        own = postmaster.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in postmaster.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                t = child.cpu_times()
                total += t.user + t.system
    except psutil.Error:
        return float("nan")
    return float(total)
