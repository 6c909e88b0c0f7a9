"""Coordination of replicas through the PostgreSQL database they share.

- A session being changed has a row in `session_claims` (its primary key
  makes a second claim fail at once: SESSION_BUSY from any replica).
- Each replica holds a lease (`replicas.lease_expires_at`, by the database's
  clock) and renews it six times per lease time. Every replica also sweeps,
  as often:
  the running turns, claims and confirmations of a replica whose lease ran
  out (it died) are ended, so its sessions take turns again within the lease.
- Requests for the replica running a turn travel by NOTIFY, which reaches the
  replicas listening at commit: "stop this turn" (repeated by the asker while
  the stored turn still runs) and "this confirmation is answered" (the answer
  itself is stored first, and re-read after every reconnect of the listener,
  so none is lost to a notification that came while it was away).
"""

from __future__ import annotations

import asyncio
import json
import logging

from psycopg import AsyncConnection
from psycopg.errors import ForeignKeyViolation

from mochi_grpc.coordination.base import Receivers
from mochi_grpc.entities import new_id
from mochi_grpc.errors import SessionBusy, SessionNotFound
from mochi_grpc.store import PostgresStore

log = logging.getLogger(__name__)

STOP_CHANNEL = "mochi_stop_turn"
CONFIRMATION_CHANNEL = "mochi_confirmation_answered"
# A listener whose connection failed tries again after this long.
RECONNECT_SECONDS = 1.0


class PostgresCoordination:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._pool = store.pool
        self._replica = store.replica_id
        # Sweeps come with renewals.
        self._interval = store.renew_seconds
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, receivers: Receivers) -> None:
        await self._sweep(receivers)
        listening = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(receivers, listening), name="mochi-listen"),
            asyncio.create_task(self._keep_lease(receivers), name="mochi-lease"),
        ]
        # Requests sent once open returns must reach this replica.
        await listening.wait()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def claim(self, session_id: str) -> str:
        claim_id = new_id()
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(
                    "INSERT INTO session_claims (session_id, claim_id, replica_id)"
                    " VALUES (%s, %s, %s) ON CONFLICT (session_id) DO NOTHING",
                    (session_id, claim_id, self._replica),
                )
        except ForeignKeyViolation:
            raise SessionNotFound(session_id) from None
        if cursor.rowcount == 0:
            raise SessionBusy(session_id)
        return claim_id

    async def release(self, session_id: str, claim_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM session_claims WHERE session_id = %s AND claim_id = %s",
                (session_id, claim_id),
            )

    async def confirmation_asked(
        self, session_id: str, confirmation_id: str, tool_name: str
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO confirmations (confirmation_id, session_id, tool_name, replica_id)"
                " VALUES (%s, %s, %s, %s)",
                (confirmation_id, session_id, tool_name, self._replica),
            )

    async def confirmation_closed(self, confirmation_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM confirmations WHERE confirmation_id = %s", (confirmation_id,)
            )

    async def answer_elsewhere(
        self, session_id: str, confirmation_id: str, approved: bool
    ) -> str | None:
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE confirmations SET approved = %s"
                " WHERE confirmation_id = %s AND session_id = %s AND approved IS NULL"
                " RETURNING tool_name",
                (approved, confirmation_id, session_id),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            note = {"session_id": session_id, "confirmation_id": confirmation_id}
            await conn.execute(
                "SELECT pg_notify(%s, %s)",
                (CONFIRMATION_CHANNEL, json.dumps({**note, "approved": approved})),
            )
        tool_name: str = row["tool_name"]
        return tool_name

    async def stop_elsewhere(self, session_id: str, turn_id: str) -> None:
        note = json.dumps({"session_id": session_id, "turn_id": turn_id})
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (STOP_CHANNEL, note))

    async def _listen(self, receivers: Receivers, listening: asyncio.Event) -> None:
        """Takes requests from the other replicas, reconnecting when the
        connection fails."""
        while True:
            try:
                async with await AsyncConnection.connect(
                    self._store.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {STOP_CHANNEL}")
                    await conn.execute(f"LISTEN {CONFIRMATION_CHANNEL}")
                    listening.set()
                    await self._answered_while_away(receivers)
                    async for note in conn.notifies():
                        self._receive(receivers, note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listening for the other replicas failed (%s); trying again", exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    def _receive(self, receivers: Receivers, channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
            if channel == STOP_CHANNEL:
                receivers.stop_turn(note["session_id"], note["turn_id"])
            elif channel == CONFIRMATION_CHANNEL:
                receivers.answer_confirmation(
                    note["session_id"], note["confirmation_id"], bool(note["approved"])
                )
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a request on %s that is not one: %.200s", channel, payload)

    async def _answered_while_away(self, receivers: Receivers) -> None:
        """Answers stored while the listener was not listening."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT session_id, confirmation_id, approved FROM confirmations"
                " WHERE replica_id = %s AND approved IS NOT NULL",
                (self._replica,),
            )
            for row in await cursor.fetchall():
                receivers.answer_confirmation(
                    row["session_id"], row["confirmation_id"], row["approved"]
                )

    async def _keep_lease(self, receivers: Receivers) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                if not await self._store.renew_lease():
                    log.error(
                        "this replica's lease ran out (the database was out of reach or the"
                        " process stalled): its running turns were ended by another replica"
                    )
            except Exception as exc:
                log.warning("renewing this replica's lease failed: %s", exc)
            await self._sweep(receivers)

    async def _sweep(self, receivers: Receivers) -> None:
        record = receivers.interruption
        try:
            ended = await self._store.interrupt_running_turns(record.kind, record.payload)
        except Exception as exc:
            log.warning("looking for the turns of replicas that died failed: %s", exc)
            return
        if ended:
            log.warning(
                "%d turn(s) of a replica whose lease ran out are marked interrupted: %s",
                len(ended),
                ", ".join(ended),
            )
