"""The embedded store: one SQLite file, used from one worker thread.

Every public method runs a whole transaction inside that thread, so
concurrent coroutines never interleave statements and the event loop never
waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mochi_grpc.entities import ApiKey, Message, Session, Summary, utc_now
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
from mochi_grpc.store.paging import (
    DEFAULT_SESSION_PAGE,
    decode_token,
    encode_token,
    page_size_of,
    require_id,
)
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

T = TypeVar("T")

# Each entry moves the schema one version up; PRAGMA user_version records where
# a database file stands. Never edit an entry once released: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sessions (
        session_id     TEXT PRIMARY KEY,
        model          TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL,
        message_count  INTEGER NOT NULL DEFAULT 0,
        tool_settings  TEXT NOT NULL,
        agent_settings TEXT NOT NULL,
        context_window TEXT NOT NULL,
        summary        TEXT,
        summary_model  TEXT
    );
    CREATE INDEX sessions_by_update ON sessions (updated_at DESC, session_id DESC);
    CREATE TABLE messages (
        session_id        TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
        position          INTEGER NOT NULL,
        message_id        TEXT NOT NULL,
        role              TEXT NOT NULL,
        content           TEXT NOT NULL,
        timestamp         TEXT NOT NULL,
        thinking          TEXT,
        model             TEXT,
        eval_count        INTEGER,
        prompt_eval_count INTEGER,
        tool_calls        TEXT,
        source_file       TEXT,
        tool_name         TEXT,
        partial_reason    TEXT,
        PRIMARY KEY (session_id, position)
    ) WITHOUT ROWID;
    """,
    """
    ALTER TABLE sessions ADD COLUMN active_turn_id TEXT;
    CREATE TABLE turns (
        turn_id       TEXT PRIMARY KEY,
        session_id    TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
        started_at    TEXT NOT NULL,
        status        TEXT NOT NULL,
        last_position INTEGER NOT NULL DEFAULT 0,
        writes        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX turns_by_session ON turns (session_id, started_at DESC, turn_id DESC);
    CREATE INDEX turns_running ON turns (status) WHERE status = 'running';
    CREATE TABLE turn_events (
        turn_id  TEXT NOT NULL REFERENCES turns (turn_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        payload  TEXT NOT NULL,
        PRIMARY KEY (turn_id, position)
    ) WITHOUT ROWID;
    """,
    """
    ALTER TABLE sessions ADD COLUMN owner TEXT;
    CREATE INDEX sessions_by_owner ON sessions (owner, updated_at DESC, session_id DESC);
    CREATE TABLE api_keys (
        name         TEXT PRIMARY KEY,
        token_hash   TEXT NOT NULL UNIQUE,
        admin        INTEGER NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT
    );
    """,
    # Agents' own conversations: lists of either kind, and of an owner's
    # sessions of either kind, each read from a partial index in list order.
    """
    ALTER TABLE sessions ADD COLUMN agent_name TEXT;
    DROP INDEX sessions_by_update;
    DROP INDEX sessions_by_owner;
    CREATE INDEX sessions_of_users ON sessions (updated_at DESC, session_id DESC)
        WHERE agent_name IS NULL;
    CREATE INDEX sessions_of_agents ON sessions (updated_at DESC, session_id DESC)
        WHERE agent_name IS NOT NULL;
    CREATE INDEX sessions_of_users_by_owner ON sessions (owner, updated_at DESC, session_id DESC)
        WHERE agent_name IS NULL;
    CREATE INDEX sessions_of_agents_by_owner ON sessions (owner, updated_at DESC, session_id DESC)
        WHERE agent_name IS NOT NULL;
    """,
]

# The turns of a session whose events are kept for replay: the latest ones.
KEPT_TURNS = 5


def _check_session(conn: sqlite3.Connection, session_id: str) -> None:
    if (
        conn.execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        is None
    ):
        raise SessionNotFound(session_id)


def _update_session(conn: sqlite3.Connection, columns: dict[str, Any]) -> None:
    assignments = ", ".join(f"{n} = :{n}" for n in columns if n != "session_id")
    cursor = conn.execute(
        f"UPDATE sessions SET {assignments} WHERE session_id = :session_id", columns
    )
    if cursor.rowcount == 0:
        raise SessionNotFound(columns["session_id"])


def _insert(conn: sqlite3.Connection, table: str, columns: dict[str, Any]) -> None:
    names = ", ".join(columns)
    marks = ", ".join(f":{n}" for n in columns)
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", columns)


def _replace_tail(
    conn: sqlite3.Connection, session_id: str, keep: int, messages: Sequence[Message]
) -> None:
    conn.execute("DELETE FROM messages WHERE session_id = ? AND position >= ?", (session_id, keep))
    for offset, message in enumerate(messages):
        _insert(conn, "messages", message_columns(session_id, keep + offset, message))


def _write_turn(conn: sqlite3.Connection, write: TurnWrite, columns: dict[str, Any]) -> None:
    sid, tid = write.session.session_id, write.turn_id
    if write.whole_session:
        _update_session(conn, columns)
    else:
        conn.execute(
            "UPDATE sessions SET message_count = ?, updated_at = ? WHERE session_id = ?",
            (columns["message_count"], columns["updated_at"], sid),
        )
    if write.begin:
        conn.execute(
            "DELETE FROM turns WHERE session_id = ? AND turn_id NOT IN (SELECT turn_id FROM"
            " turns WHERE session_id = ? ORDER BY started_at DESC, turn_id DESC LIMIT ?)",
            (sid, sid, KEPT_TURNS - 1),
        )
        conn.execute(
            "INSERT INTO turns (turn_id, session_id, started_at, status) VALUES (?, ?, ?, ?)",
            (tid, sid, format_time(utc_now()), write.status),
        )
    if write.messages is not None:
        _replace_tail(conn, sid, write.keep, write.messages)
    conn.executemany(
        "INSERT INTO turn_events (turn_id, position, kind, payload) VALUES (?, ?, ?, ?)",
        [(tid, e.position, e.kind, e.payload) for e in write.events],
    )
    last = write.events[-1].position if write.events else 0
    conn.execute(
        "UPDATE turns SET status = ?, last_position = max(last_position, ?),"
        " writes = writes + 1 WHERE turn_id = ?",
        (write.status, last, tid),
    )


class SqliteStore:
    """SessionStore on a SQLite file (created, and migrated, on open)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mochi-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, conn)

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript commits first, so the script carries its own transaction.
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        return conn

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, self._connect)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, work: Callable[[], None]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            work()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def create_session(self, session: Session, messages: Sequence[Message]) -> None:
        session.message_count = len(messages)

        def work(conn: sqlite3.Connection) -> None:
            def body() -> None:
                _insert(conn, "sessions", session_columns(session))
                for position, message in enumerate(messages):
                    _insert(
                        conn, "messages", message_columns(session.session_id, position, message)
                    )

            self._transaction(conn, body)

        await self._run(work)

    async def get_session(self, session_id: str) -> Session:
        require_id(session_id)

        def work(conn: sqlite3.Connection) -> Session:
            row = conn.execute(SESSION_SELECT + " WHERE s.session_id = ?", (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(session_id)
            return session_from_row(dict(row))

        return await self._run(work)

    async def get_conversation(self, session_id: str) -> tuple[Session, list[Message]]:
        require_id(session_id)

        def work(conn: sqlite3.Connection) -> tuple[Session, list[Message]]:
            conn.execute("BEGIN")  # one snapshot for both reads
            try:
                row = conn.execute(
                    SESSION_SELECT + " WHERE s.session_id = ?", (session_id,)
                ).fetchone()
                if row is None:
                    raise SessionNotFound(session_id)
                rows = conn.execute(
                    "SELECT * FROM messages WHERE session_id = ? ORDER BY position", (session_id,)
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            return session_from_row(dict(row)), [message_from_row(dict(r)) for r in rows]

        return await self._run(work)

    async def list_sessions(
        self, page_size: int, page_token: str, owner: str | None = None, agents: bool = False
    ) -> SessionPage:
        size = page_size_of(page_size, DEFAULT_SESSION_PAGE)
        query, params = list_query(page_token, owner, agents, size, "?")

        def work(conn: sqlite3.Connection) -> SessionPage:
            read = [dict(r) for r in conn.execute(query, params)]
            rows, token = page_of(read, size)
            return SessionPage([session_from_row(r) for r in rows], token)

        return await self._run(work)

    async def update_session(self, session: Session) -> None:
        columns = metadata_columns(session)

        await self._run(lambda conn: _update_session(conn, columns))

    async def set_summary(self, session_id: str, summary: Summary, model: str) -> None:
        require_id(session_id)
        columns = summary_columns(session_id, summary, model)

        await self._run(lambda conn: _update_session(conn, columns))

    async def delete_session(self, session_id: str) -> None:
        require_id(session_id)

        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            if cursor.rowcount == 0:
                raise SessionNotFound(session_id)

        await self._run(work)

    async def list_messages(
        self, session_id: str, page_size: int | None = None, page_token: str = ""
    ) -> MessagePage:
        require_id(session_id)
        start = decode_token(page_token) if page_token else 0
        if not isinstance(start, int) or not 0 <= start < 2**31:
            raise InvalidRequest("page_token is not valid", field="page_token")
        size = page_size_of(page_size, -1) if page_size is not None else -1

        def work(conn: sqlite3.Connection) -> MessagePage:
            _check_session(conn, session_id)
            limit = size + 1 if size > 0 else -1
            rows = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND position >= ?"
                " ORDER BY position LIMIT ?",
                (session_id, start, limit),
            ).fetchall()
            token = ""
            if size > 0 and len(rows) > size:
                rows = rows[:size]
                token = encode_token(start + size)
            return MessagePage([message_from_row(dict(r)) for r in rows], token)

        return await self._run(work)

    async def get_message(self, session_id: str, position: int) -> Message | None:
        def work(conn: sqlite3.Connection) -> Message | None:
            row = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND position = ?",
                (session_id, position),
            ).fetchone()
            return None if row is None else message_from_row(dict(row))

        return await self._run(work)

    async def splice(
        self, session: Session, start: int, remove: int, new_messages: Sequence[Message]
    ) -> None:
        shift = len(new_messages) - remove
        session.message_count += shift
        columns = metadata_columns(session)
        sid = session.session_id

        def work(conn: sqlite3.Connection) -> None:
            def body() -> None:
                _update_session(conn, columns)
                conn.execute(
                    "DELETE FROM messages WHERE session_id = ? AND position >= ? AND position < ?",
                    (sid, start, start + remove),
                )
                if shift:
                    # Through negative positions, so no two rows ever share one.
                    conn.execute(
                        "UPDATE messages SET position = -(position + ?) - 1"
                        " WHERE session_id = ? AND position >= ?",
                        (shift, sid, start + remove),
                    )
                    conn.execute(
                        "UPDATE messages SET position = -position - 1"
                        " WHERE session_id = ? AND position < 0",
                        (sid,),
                    )
                for offset, message in enumerate(new_messages):
                    _insert(conn, "messages", message_columns(sid, start + offset, message))

            self._transaction(conn, body)

        await self._run(work)

    async def replace_tail(
        self, session: Session, keep: int, new_messages: Sequence[Message]
    ) -> None:
        session.message_count = keep + len(new_messages)
        columns = metadata_columns(session)

        def work(conn: sqlite3.Connection) -> None:
            def body() -> None:
                _update_session(conn, columns)
                _replace_tail(conn, session.session_id, keep, new_messages)

            self._transaction(conn, body)

        await self._run(work)

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

        def work(conn: sqlite3.Connection) -> None:
            def body() -> None:
                for write, columns in batch:
                    _write_turn(conn, write, columns)

            self._transaction(conn, body)

        await self._run(work)

    async def get_turn(self, session_id: str, turn_id: str | None) -> StoredTurn | None:
        require_id(session_id)

        def work(conn: sqlite3.Connection) -> StoredTurn | None:
            conn.execute("BEGIN")  # one snapshot for the turn and its events
            try:
                _check_session(conn, session_id)
                sql = "SELECT turn_id, status FROM turns WHERE session_id = ?"
                params: tuple[str, ...] = (session_id,)
                if turn_id is not None:
                    sql, params = sql + " AND turn_id = ?", (session_id, turn_id)
                row = conn.execute(
                    sql + " ORDER BY started_at DESC, turn_id DESC LIMIT 1", params
                ).fetchone()
                if row is None:
                    return None
                events = [
                    EventRecord(r["position"], r["kind"], r["payload"])
                    for r in conn.execute(
                        "SELECT position, kind, payload FROM turn_events WHERE turn_id = ?"
                        " ORDER BY position",
                        (row["turn_id"],),
                    )
                ]
                return StoredTurn(row["turn_id"], row["status"], events)
            finally:
                conn.execute("COMMIT")

        return await self._run(work)

    async def interrupt_running_turns(self, kind: str, payload: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            ended: list[str] = []

            def body() -> None:
                running = conn.execute(
                    "SELECT turn_id, session_id, last_position FROM turns WHERE status = ?",
                    (RUNNING,),
                ).fetchall()
                for row in running:
                    position = row["last_position"] + 1
                    conn.execute(
                        "INSERT INTO turn_events (turn_id, position, kind, payload)"
                        " VALUES (?, ?, ?, ?)",
                        (row["turn_id"], position, kind, payload),
                    )
                    conn.execute(
                        "UPDATE turns SET status = ?, last_position = ? WHERE turn_id = ?",
                        (INTERRUPTED, position, row["turn_id"]),
                    )
                    conn.execute(
                        "UPDATE messages SET partial_reason = ?"
                        " WHERE session_id = ? AND partial_reason = ?",
                        (INTERRUPTED, row["session_id"], IN_PROGRESS),
                    )
                    ended.append(row["turn_id"])
                # One process owns this file: no turn survives its restart.
                conn.execute(
                    "UPDATE sessions SET active_turn_id = NULL WHERE active_turn_id IS NOT NULL"
                )

            self._transaction(conn, body)
            return ended

        return await self._run(work)

    async def add_key(self, key: ApiKey) -> None:
        columns = key_columns(key)

        def work(conn: sqlite3.Connection) -> None:
            try:
                _insert(conn, "api_keys", columns)
            except sqlite3.IntegrityError as exc:
                raise KeyExists(
                    f"A key named '{key.name}' exists already", details={"name": key.name}
                ) from exc

        await self._run(work)

    async def list_keys(self) -> list[ApiKey]:
        def work(conn: sqlite3.Connection) -> list[ApiKey]:
            rows = conn.execute("SELECT * FROM api_keys ORDER BY name").fetchall()
            return [key_from_row(dict(r)) for r in rows]

        return await self._run(work)

    async def remove_key(self, name: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount > 0

        return await self._run(work)

    async def find_key(self, token_hash: str) -> ApiKey | None:
        def work(conn: sqlite3.Connection) -> ApiKey | None:
            row = conn.execute(
                "SELECT * FROM api_keys WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return None if row is None else key_from_row(dict(row))

        return await self._run(work)

    async def key_used(self, name: str, when: datetime) -> None:
        stamp = format_time(when)
        await self._run(
            lambda conn: conn.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE name = ?", (stamp, name)
            )
        )
