"""System-prompt files in the shared PostgreSQL database (table `prompt_files`).

One statement per operation, so each is atomic on its own and what one
replica writes every replica reads at once: `add` inserts unless the name is
taken, `replace` and `remove` touch the row if it is there; the row count
says whether it was. Names use the "C" collation, so the list is in byte
order, which for UTF-8 is the code point order `PromptDirectory` sorts by.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from mochi_grpc.entities import utc_now
from mochi_grpc.store.postgres import Connection
from mochi_grpc.store.rows import format_time


class PostgresPromptShelf:
    """A PromptShelf over the pool of a (migrated) PostgresStore."""

    def __init__(self, pool: AsyncConnectionPool[Connection]) -> None:
        self._pool = pool

    async def list_all(self) -> list[tuple[str, str]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT filename, content FROM prompt_files ORDER BY filename"
            )
            return [(row["filename"], row["content"]) for row in await cursor.fetchall()]

    async def get(self, filename: str) -> str | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT content FROM prompt_files WHERE filename = %s", (filename,)
            )
            row = await cursor.fetchone()
        return None if row is None else str(row["content"])

    async def add(self, filename: str, content: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO prompt_files (filename, content, updated_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (filename) DO NOTHING",
                (filename, content, format_time(utc_now())),
            )
            return cursor.rowcount == 1

    async def replace(self, filename: str, content: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE prompt_files SET content = %s, updated_at = %s WHERE filename = %s",
                (content, format_time(utc_now()), filename),
            )
            return cursor.rowcount == 1

    async def remove(self, filename: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("DELETE FROM prompt_files WHERE filename = %s", (filename,))
            return cursor.rowcount == 1
