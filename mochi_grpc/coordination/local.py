"""Coordination inside one server process: the SQLite store has no other."""

from __future__ import annotations

import logging

from mochi_grpc.coordination.base import Receivers
from mochi_grpc.errors import SessionBusy
from mochi_grpc.store import SessionStore

log = logging.getLogger(__name__)


class LocalCoordination:
    """Sessions being changed are marked in memory. A second writer is refused
    rather than queued, so a client never waits behind a long reply without
    knowing why (SESSION_BUSY tells it). No other process runs turns: any
    turn stored as running at start-up was left by one that died, and nothing
    is asked of another process."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self._busy: set[str] = set()

    async def open(self, receivers: Receivers) -> None:
        record = receivers.interruption
        ended = await self._store.interrupt_running_turns(record.kind, record.payload)
        if ended:
            log.warning(
                "%d turn(s) left running by a server that stopped are marked interrupted",
                len(ended),
            )

    async def close(self) -> None:
        pass

    async def claim(self, session_id: str) -> str:
        if session_id in self._busy:
            raise SessionBusy(session_id)
        self._busy.add(session_id)
        return session_id

    async def release(self, session_id: str, claim_id: str) -> None:
        self._busy.discard(session_id)

    async def confirmation_asked(
        self, session_id: str, confirmation_id: str, tool_name: str
    ) -> None:
        pass

    async def confirmation_closed(self, confirmation_id: str) -> None:
        pass

    async def answer_elsewhere(
        self, session_id: str, confirmation_id: str, approved: bool
    ) -> str | None:
        return None

    async def stop_elsewhere(self, session_id: str, turn_id: str) -> None:
        pass
