"""The PostgreSQL schema, as numbered migrations applied at start-up.

Migration 2 adds what replicas share besides the data: each replica's lease
(`replicas`), the turn a replica runs (`turns.replica_id`), which sessions are
being changed (`session_claims`), tool confirmations a turn waits for
(`confirmations`) and the system-prompt files (`prompt_files`).

Migration 3 adds the agents' own conversations (`sessions.agent_name`, NULL
for a user's session): lists of either kind, and of an owner's sessions of
either kind, each read from a partial index in list order.
"""

from __future__ import annotations

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

Connection = AsyncConnection[DictRow]

# Each entry moves the schema one version up; the schema_version table records
# where a database stands. Never edit an entry once released: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sessions (
        session_id     TEXT COLLATE "C" PRIMARY KEY,
        model          TEXT NOT NULL,
        created_at     TEXT COLLATE "C" NOT NULL,
        updated_at     TEXT COLLATE "C" NOT NULL,
        message_count  INTEGER NOT NULL DEFAULT 0,
        tool_settings  TEXT NOT NULL,
        agent_settings TEXT NOT NULL,
        context_window TEXT NOT NULL,
        summary        TEXT,
        summary_model  TEXT,
        active_turn_id TEXT,
        owner          TEXT COLLATE "C"
    );
    CREATE INDEX sessions_by_update ON sessions (updated_at DESC, session_id DESC);
    CREATE INDEX sessions_by_owner ON sessions (owner, updated_at DESC, session_id DESC);
    CREATE TABLE messages (
        session_id        TEXT COLLATE "C" NOT NULL
                          REFERENCES sessions (session_id) ON DELETE CASCADE,
        position          INTEGER NOT NULL,
        message_id        TEXT NOT NULL,
        role              TEXT NOT NULL,
        content           TEXT NOT NULL,
        timestamp         TEXT NOT NULL,
        thinking          TEXT,
        model             TEXT,
        eval_count        BIGINT,
        prompt_eval_count BIGINT,
        tool_calls        TEXT,
        source_file       TEXT,
        tool_name         TEXT,
        partial_reason    TEXT,
        PRIMARY KEY (session_id, position)
    );
    CREATE TABLE turns (
        turn_id       TEXT COLLATE "C" PRIMARY KEY,
        session_id    TEXT COLLATE "C" NOT NULL
                      REFERENCES sessions (session_id) ON DELETE CASCADE,
        started_at    TEXT COLLATE "C" NOT NULL,
        status        TEXT NOT NULL,
        last_position INTEGER NOT NULL DEFAULT 0,
        writes        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX turns_by_session ON turns (session_id, started_at DESC, turn_id DESC);
    CREATE INDEX turns_running ON turns (status) WHERE status = 'running';
    CREATE TABLE turn_events (
        turn_id  TEXT COLLATE "C" NOT NULL REFERENCES turns (turn_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        payload  TEXT NOT NULL,
        PRIMARY KEY (turn_id, position)
    );
    CREATE TABLE api_keys (
        name         TEXT COLLATE "C" PRIMARY KEY,
        token_hash   TEXT NOT NULL UNIQUE,
        admin        INTEGER NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT
    );
    """,
    """
    CREATE TABLE replicas (
        replica_id       TEXT COLLATE "C" PRIMARY KEY,
        started_at       TEXT NOT NULL,
        lease_expires_at TIMESTAMPTZ NOT NULL
    );
    ALTER TABLE turns ADD COLUMN replica_id TEXT COLLATE "C";
    CREATE TABLE session_claims (
        session_id TEXT COLLATE "C" PRIMARY KEY
                   REFERENCES sessions (session_id) ON DELETE CASCADE,
        claim_id   TEXT NOT NULL,
        replica_id TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX session_claims_by_replica ON session_claims (replica_id);
    CREATE TABLE confirmations (
        confirmation_id TEXT COLLATE "C" PRIMARY KEY,
        session_id      TEXT COLLATE "C" NOT NULL
                        REFERENCES sessions (session_id) ON DELETE CASCADE,
        tool_name       TEXT NOT NULL,
        replica_id      TEXT COLLATE "C" NOT NULL,
        approved        BOOLEAN
    );
    CREATE INDEX confirmations_by_replica ON confirmations (replica_id);
    CREATE TABLE prompt_files (
        filename   TEXT COLLATE "C" PRIMARY KEY,
        content    TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE sessions ADD COLUMN agent_name TEXT COLLATE "C";
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

# The key of the advisory lock migrations run under ("mochimig" in ASCII).
MIGRATION_LOCK = 0x6D6F6368696D6967


async def migrate(conn: Connection) -> None:
    """Brings the schema to the latest version, one migration per transaction,
    each under the advisory lock (replicas starting together queue on it)."""
    while True:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),"
                " version INTEGER NOT NULL)"
            )
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING"
            )
            row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
            version = 0 if row is None else int(row["version"])
            if version >= len(MIGRATIONS):
                return
            await conn.execute(sql.SQL(MIGRATIONS[version]))
            await conn.execute("UPDATE schema_version SET version = %s", (version + 1,))
