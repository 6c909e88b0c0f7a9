"""The shared store: one PostgreSQL database, reached through a connection pool.

It keeps SqliteStore's contract to the letter, so the same tests hold both:
every write is one transaction, a message is addressed by (session, position)
so appending costs the same at message 10 and 10,000, and the columns come
from `rows` (times as the same ISO text, so lists order and page tokens read
exactly as SQLite's). Text that is compared or ordered uses the "C" collation:
byte order, as in SQLite, whatever the database's locale.

Several replicas may open the same database together: migrations run under a
transaction-scoped advisory lock, so one applies them and the others wait and
find the work done.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from mochi_grpc.entities import ApiKey, Message, Session, Summary, new_id, utc_now
from mochi_grpc.errors import InvalidRequest, KeyExists, SessionNotFound
from mochi_grpc.store.base import (
    IN_PROGRESS,
    INTERRUPTED,
    RUNNING,
    EventRecord,
    MessagePage,
    SessionPage,
    StoredTurn,
    TurnWrite,
)

# Page tokens and sizes must read the same on both stores: SQLite's own rules.
from mochi_grpc.store.paging import (
    DEFAULT_SESSION_PAGE,
    decode_token,
    encode_token,
    page_size_of,
    require_id,
)
from mochi_grpc.store.postgres_schema import migrate
from mochi_grpc.store.rows import (
    format_time,
    key_columns,
    key_from_row,
    message_columns,
    message_from_row,
    metadata_columns,
    session_columns,
    session_from_row,
    summary_columns,
)
from mochi_grpc.store.session_queries import SESSION_SELECT, list_query, page_of

Connection = AsyncConnection[DictRow]

# The turns of a session whose events are kept for replay: the latest ones.
KEPT_TURNS = 5


async def _check_session(conn: Connection, session_id: str) -> None:
    cursor = await conn.execute("SELECT 1 FROM sessions WHERE session_id = %s", (session_id,))
    if await cursor.fetchone() is None:
        raise SessionNotFound(session_id)


async def _update_session(conn: Connection, columns: dict[str, Any]) -> None:
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder(n))
        for n in columns
        if n != "session_id"
    )
    cursor = await conn.execute(
        sql.SQL("UPDATE sessions SET {} WHERE session_id = %(session_id)s").format(assignments),
        columns,
    )
    if cursor.rowcount == 0:
        raise SessionNotFound(columns["session_id"])


def _insert_sql(table: str, columns: dict[str, Any]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(map(sql.Placeholder, columns)),
    )


async def _insert_all(conn: Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        async with conn.cursor() as cursor:
            await cursor.executemany(_insert_sql(table, rows[0]), rows)


async def _replace_tail(
    conn: Connection, session_id: str, keep: int, messages: Sequence[Message]
) -> None:
    await conn.execute(
        "DELETE FROM messages WHERE session_id = %s AND position >= %s", (session_id, keep)
    )
    await _insert_all(
        conn,
        "messages",
        [message_columns(session_id, keep + i, m) for i, m in enumerate(messages)],
    )


RENEWALS_PER_LEASE = 6

# True when the replica named by {owner} holds a lease that has not run out.
_LEASE_HELD = (
    "EXISTS (SELECT 1 FROM replicas r WHERE r.replica_id = {owner} AND r.lease_expires_at >= now())"
)


class TurnTakenOver(Exception):
    """A replica wrote a turn it no longer runs: its lease had run out and
    another replica ended the turn as interrupted."""

    def __init__(self, turn_id: str) -> None:
        super().__init__(f"turn {turn_id} was ended by another replica (this one's lease ran out)")


async def _interrupt(conn: Connection, row: DictRow, kind: str, payload: str) -> None:
    """Ends one running turn as interrupted: its event, its reply, its session."""
    position = row["last_position"] + 1
    await conn.execute(
        "INSERT INTO turn_events (turn_id, position, kind, payload) VALUES (%s, %s, %s, %s)",
        (row["turn_id"], position, kind, payload),
    )
    await conn.execute(
        "UPDATE turns SET status = %s, last_position = %s WHERE turn_id = %s",
        (INTERRUPTED, position, row["turn_id"]),
    )
    await conn.execute(
        "UPDATE messages SET partial_reason = %s WHERE session_id = %s AND partial_reason = %s",
        (INTERRUPTED, row["session_id"], IN_PROGRESS),
    )
    await conn.execute(
        "UPDATE sessions SET active_turn_id = NULL WHERE session_id = %s AND active_turn_id = %s",
        (row["session_id"], row["turn_id"]),
    )


async def _write_turn(
    conn: Connection, write: TurnWrite, columns: dict[str, Any], replica_id: str
) -> None:
    sid, tid = write.session.session_id, write.turn_id
    if write.whole_session:
        await _update_session(conn, columns)
    else:
        await conn.execute(
            "UPDATE sessions SET message_count = %s, updated_at = %s WHERE session_id = %s",
            (columns["message_count"], columns["updated_at"], sid),
        )
    if write.begin:
        await conn.execute(
            "DELETE FROM turns WHERE session_id = %s AND turn_id NOT IN (SELECT turn_id FROM"
            " turns WHERE session_id = %s ORDER BY started_at DESC, turn_id DESC LIMIT %s)",
            (sid, sid, KEPT_TURNS - 1),
        )
        await conn.execute(
            "INSERT INTO turns (turn_id, session_id, started_at, status, replica_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            (tid, sid, format_time(utc_now()), write.status, replica_id),
        )
    if write.messages is not None:
        await _replace_tail(conn, sid, write.keep, write.messages)
    if write.events:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO turn_events (turn_id, position, kind, payload)"
                " VALUES (%s, %s, %s, %s)",
                [(tid, e.position, e.kind, e.payload) for e in write.events],
            )
    last = write.events[-1].position if write.events else 0
    # Only the replica running the turn writes it, and only while it runs: a
    # replica taken for dead (its turn interrupted by another) stores nothing more.
    cursor = await conn.execute(
        "UPDATE turns SET status = %s, last_position = greatest(last_position, %s),"
        " writes = writes + 1 WHERE turn_id = %s AND replica_id = %s AND status = %s",
        (write.status, last, tid, replica_id, RUNNING),
    )
    if cursor.rowcount == 0:
        raise TurnTakenOver(tid)


class PostgresStore:
    """SessionStore and KeyStore on a PostgreSQL database (migrated on open).

    `conninfo` is a libpq URL or key=value string
    (postgresql://user:pass@host/db, or ?host=/socket/dir for a Unix socket).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        replica_id: str | None = None,
        lease_seconds: float = 15.0,
        min_size: int = 1,
        max_size: int = 10,
    ) -> None:
        self.conninfo = conninfo
        # This process among the replicas sharing the database.
        self.replica_id = replica_id or new_id()
        # The lease is renewed every `renew_seconds` and runs that much short
        # of lease_seconds, so that a replica that dies is found out (by a
        # sweep, as often as renewals) within lease_seconds of its death.
        self.renew_seconds = lease_seconds / RENEWALS_PER_LEASE
        self._lease_window = lease_seconds - self.renew_seconds
        self._pool = AsyncConnectionPool[Connection](
            conninfo,
            connection_class=AsyncConnection[DictRow],
            # Autocommit: a statement alone commits; several go in conn.transaction().
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=min_size,
            max_size=max_size,
            open=False,
            # A connection the server dropped (restart, failover) is replaced, not lent.
            check=AsyncConnectionPool.check_connection,
        )

    async def open(self) -> None:
        """Migrates the schema and takes this replica's lease."""
        await self._pool.open(wait=True)
        async with self._pool.connection() as conn:
            await migrate(conn)
        await self.renew_lease()

    async def close(self) -> None:
        """Gives up the lease (what the replica ran is stored by now: any turn
        still marked running is ended by the next sweep), then disconnects."""
        if self._pool.closed:
            return
        try:
            async with self._pool.connection() as conn:
                await conn.execute("DELETE FROM replicas WHERE replica_id = %s", (self.replica_id,))
        finally:
            await self._pool.close()

    async def renew_lease(self) -> bool:
        """Extends this replica's lease from the database's clock; False when
        the lease had to be taken anew (it had run out and another replica
        ended this one's turns)."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE replicas SET lease_expires_at = now() + make_interval(secs => %s)"
                " WHERE replica_id = %s",
                (self._lease_window, self.replica_id),
            )
            if cursor.rowcount:
                return True
            await conn.execute(
                "INSERT INTO replicas (replica_id, started_at, lease_expires_at)"
                " VALUES (%s, %s, now() + make_interval(secs => %s))",
                (self.replica_id, format_time(utc_now()), self._lease_window),
            )
        return False

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        """The connections, for what replicas coordinate through the database."""
        return self._pool

    async def create_session(self, session: Session, messages: Sequence[Message]) -> None:
        session.message_count = len(messages)
        columns = session_columns(session)
        rows = [message_columns(session.session_id, i, m) for i, m in enumerate(messages)]
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_insert_sql("sessions", columns), columns)
            await _insert_all(conn, "messages", rows)

    async def get_session(self, session_id: str) -> Session:
        require_id(session_id)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(SESSION_SELECT + " WHERE s.session_id = %s", (session_id,))
            row = await cursor.fetchone()
        if row is None:
            raise SessionNotFound(session_id)
        return session_from_row(row)

    async def get_conversation(self, session_id: str) -> tuple[Session, list[Message]]:
        require_id(session_id)
        async with self._pool.connection() as conn, conn.transaction():
            # One snapshot for both reads.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor = await conn.execute(SESSION_SELECT + " WHERE s.session_id = %s", (session_id,))
            row = await cursor.fetchone()
            if row is None:
                raise SessionNotFound(session_id)
            cursor = await conn.execute(
                "SELECT * FROM messages WHERE session_id = %s ORDER BY position", (session_id,)
            )
            rows = await cursor.fetchall()
        return session_from_row(row), [message_from_row(r) for r in rows]

    async def list_sessions(
        self, page_size: int, page_token: str, owner: str | None = None, agents: bool = False
    ) -> SessionPage:
        size = page_size_of(page_size, DEFAULT_SESSION_PAGE)
        query, params = list_query(page_token, owner, agents, size, "%s")
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            rows, token = page_of(await cursor.fetchall(), size)
        return SessionPage([session_from_row(r) for r in rows], token)

    async def update_session(self, session: Session) -> None:
        columns = metadata_columns(session)
        async with self._pool.connection() as conn:
            await _update_session(conn, columns)

    async def set_summary(self, session_id: str, summary: Summary, model: str) -> None:
        require_id(session_id)
        columns = summary_columns(session_id, summary, model)
        async with self._pool.connection() as conn:
            await _update_session(conn, columns)

    async def delete_session(self, session_id: str) -> None:
        require_id(session_id)
        async with self._pool.connection() as conn:
            cursor = await conn.execute("DELETE FROM sessions WHERE session_id = %s", (session_id,))
        if cursor.rowcount == 0:
            raise SessionNotFound(session_id)

    async def list_messages(
        self, session_id: str, page_size: int | None = None, page_token: str = ""
    ) -> MessagePage:
        require_id(session_id)
        start = decode_token(page_token) if page_token else 0
        if not isinstance(start, int) or not 0 <= start < 2**31:
            raise InvalidRequest("page_token is not valid", field="page_token")
        size = page_size_of(page_size, -1) if page_size is not None else -1
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await _check_session(conn, session_id)
            cursor = await conn.execute(
                "SELECT * FROM messages WHERE session_id = %s AND position >= %s"
                " ORDER BY position LIMIT %s",  # LIMIT NULL: all
                (session_id, start, size + 1 if size > 0 else None),
            )
            rows = await cursor.fetchall()
        token = ""
        if size > 0 and len(rows) > size:
            rows = rows[:size]
            token = encode_token(start + size)
        return MessagePage([message_from_row(r) for r in rows], token)

    async def get_message(self, session_id: str, position: int) -> Message | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM messages WHERE session_id = %s AND position = %s",
                (session_id, position),
            )
            row = await cursor.fetchone()
        return None if row is None else message_from_row(row)

    async def splice(
        self, session: Session, start: int, remove: int, new_messages: Sequence[Message]
    ) -> None:
        shift = len(new_messages) - remove
        session.message_count += shift
        columns = metadata_columns(session)
        sid = session.session_id
        rows = [message_columns(sid, start + i, m) for i, m in enumerate(new_messages)]
        async with self._pool.connection() as conn, conn.transaction():
            await _update_session(conn, columns)
            await conn.execute(
                "DELETE FROM messages WHERE session_id = %s AND position >= %s AND position < %s",
                (sid, start, start + remove),
            )
            if shift:
                # Through negative positions, so no two rows ever share one.
                await conn.execute(
                    "UPDATE messages SET position = -(position + %s) - 1"
                    " WHERE session_id = %s AND position >= %s",
                    (shift, sid, start + remove),
                )
                await conn.execute(
                    "UPDATE messages SET position = -position - 1"
                    " WHERE session_id = %s AND position < 0",
                    (sid,),
                )
            await _insert_all(conn, "messages", rows)

    async def replace_tail(
        self, session: Session, keep: int, new_messages: Sequence[Message]
    ) -> None:
        session.message_count = keep + len(new_messages)
        columns = metadata_columns(session)
        # Converted before the transaction: a message that cannot be stored
        # fails here, having written nothing.
        rows = [
            message_columns(session.session_id, keep + i, m) for i, m in enumerate(new_messages)
        ]
        async with self._pool.connection() as conn, conn.transaction():
            await _update_session(conn, columns)
            await conn.execute(
                "DELETE FROM messages WHERE session_id = %s AND position >= %s",
                (session.session_id, keep),
            )
            await _insert_all(conn, "messages", rows)

    async def write_turns(self, writes: Sequence[TurnWrite]) -> None:
        for write in writes:
            if write.messages is not None:
                write.session.message_count = write.keep + len(write.messages)
        batch = [
            (
                write,
                metadata_columns(write.session)
                if write.whole_session
                else {
                    "message_count": write.session.message_count,
                    "updated_at": format_time(write.session.updated_at),
                },
            )
            for write in writes
        ]
        async with self._pool.connection() as conn, conn.transaction():
            for write, columns in batch:
                await _write_turn(conn, write, columns, self.replica_id)

    async def get_turn(self, session_id: str, turn_id: str | None) -> StoredTurn | None:
        require_id(session_id)
        query = "SELECT turn_id, status FROM turns WHERE session_id = %s"
        params: tuple[str, ...] = (session_id,)
        if turn_id is not None:
            query, params = query + " AND turn_id = %s", (session_id, turn_id)
        query += " ORDER BY started_at DESC, turn_id DESC LIMIT 1"
        async with self._pool.connection() as conn, conn.transaction():
            # One snapshot for the turn and its events.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await _check_session(conn, session_id)
            row = await (await conn.execute(query, params)).fetchone()
            if row is None:
                return None
            cursor = await conn.execute(
                "SELECT position, kind, payload FROM turn_events WHERE turn_id = %s"
                " ORDER BY position",
                (row["turn_id"],),
            )
            events = [
                EventRecord(r["position"], r["kind"], r["payload"]) for r in await cursor.fetchall()
            ]
        return StoredTurn(row["turn_id"], row["status"], events)

    async def interrupt_running_turns(self, kind: str, payload: str) -> list[str]:
        """Ends what replicas whose lease ran out left behind (a replica that
        stopped cleanly gave its lease up): their running turns are
        interrupted, their claims on sessions and their confirmations go."""
        ended: list[str] = []
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT turn_id, session_id, last_position FROM turns t WHERE status = %s"
                f" AND NOT ({_LEASE_HELD.format(owner='t.replica_id')})"
                " ORDER BY turn_id FOR UPDATE SKIP LOCKED",
                (RUNNING,),
            )
            for row in await cursor.fetchall():
                await _interrupt(conn, row, kind, payload)
                ended.append(row["turn_id"])
            for table in ("session_claims", "confirmations"):
                await conn.execute(
                    sql.SQL("DELETE FROM {} c WHERE NOT ({})").format(
                        sql.Identifier(table), sql.SQL(_LEASE_HELD.format(owner="c.replica_id"))
                    )
                )
            await conn.execute("DELETE FROM replicas WHERE lease_expires_at < now()")
        return ended

    async def add_key(self, key: ApiKey) -> None:
        columns = key_columns(key)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(_insert_sql("api_keys", columns), columns)
        except UniqueViolation as exc:
            raise KeyExists(
                f"A key named '{key.name}' exists already", details={"name": key.name}
            ) from exc

    async def list_keys(self) -> list[ApiKey]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT * FROM api_keys ORDER BY name")
            rows = await cursor.fetchall()
        return [key_from_row(r) for r in rows]

    async def remove_key(self, name: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("DELETE FROM api_keys WHERE name = %s", (name,))
        return cursor.rowcount > 0

    async def find_key(self, token_hash: str) -> ApiKey | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM api_keys WHERE token_hash = %s", (token_hash,)
            )
            row = await cursor.fetchone()
        return None if row is None else key_from_row(row)

    async def key_used(self, name: str, when: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE api_keys SET last_used_at = %s WHERE name = %s", (format_time(when), name)
            )
