"""Following a turn from any connection, and stopping it from any connection.

A watcher names the session, optionally the turn, and the last event it saw.
A turn running in this process is followed live from its log; one running in
another process (a replica sharing the store) is followed from the store,
which gets its output at every checkpoint; a turn that has ended is read back
from the store. Watching is reading only: it never holds a turn back (a slow
watcher gets deltas merged) and never stops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial

from mochi_grpc.auth import Principal
from mochi_grpc.chat.event_records import decode
from mochi_grpc.chat.live_turns import LiveTurn, LiveTurns
from mochi_grpc.chat.streaming import Sent, deliver
from mochi_grpc.chat.turn_log import TurnLog, parse_event_id
from mochi_grpc.chat.turns import CANCELLED
from mochi_grpc.coordination import Coordination
from mochi_grpc.errors import InvalidRequest, SessionNotFound, TurnNotFound
from mochi_grpc.store import RUNNING, SessionStore, StoredTurn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watch:
    turn_id: str
    log: TurnLog
    after: int
    # Fills the log from the store until the turn ends (a turn of another process).
    follow: Callable[[], Coroutine[None, None, None]] | None = None

    @property
    def has_more(self) -> bool:
        """False when the turn has ended and the watcher has seen all of it."""
        return not (self.log.closed and self.after >= self.log.end)

    async def events(self, *, coalesce: bool = True) -> AsyncGenerator[Sent]:
        follower = asyncio.create_task(self.follow()) if self.follow is not None else None
        try:
            async with aclosing(deliver(self.log, self.after, coalesce=coalesce)) as events:
                async for sent in events:
                    yield sent
        finally:
            if follower is not None:
                follower.cancel()


# While a turn of another process still runs, the request to stop it is
# sent again after this many reads of the store.
ASKS_EVERY = 20


def _no_turn(session_id: str, turn_id: str | None, missing: str) -> TurnNotFound:
    message = (
        f"Turn {turn_id} not found in session {session_id}"
        if turn_id
        else f"Session {session_id} has {missing}"
    )
    return TurnNotFound(message, details={"session_id": session_id, "turn_id": turn_id or ""})


class TurnWatcher:
    def __init__(
        self,
        store: SessionStore,
        live: LiveTurns,
        coordination: Coordination,
        *,
        poll_seconds: float = 0.5,
    ) -> None:
        self._store = store
        self._live = live
        self._coordination = coordination
        # How often a turn of another process is read back from the store.
        self._poll_seconds = poll_seconds

    async def watch(
        self, session_id: str, turn_id: str, after_event_id: str, *, principal: Principal
    ) -> Watch:
        """Finds the turn and the cut; raises before anything is sent."""
        if not session_id:
            raise InvalidRequest("session_id is required", field="session_id")
        principal.check_owns(await self._store.get_session(session_id))
        after = 0
        named = turn_id or None
        if after_event_id:
            event_turn, after = parse_event_id(after_event_id)
            if named is not None and event_turn != named:
                raise InvalidRequest(
                    f"after_event_id is an event of turn {event_turn}, not of turn {named}",
                    field="after_event_id",
                )
            named = event_turn
        log = await self._find(session_id, named, by_event=bool(after_event_id and not turn_id))
        log.check_position(after)
        follow = None
        if not log.closed and self._running_here(session_id, log.turn_id) is None:
            follow = partial(self._follow, session_id, log)
        return Watch(log.turn_id, log, after, follow)

    def _running_here(self, session_id: str, turn_id: str | None) -> LiveTurn | None:
        live = self._live.of_session(session_id)
        return live if live is not None and turn_id in (None, live.turn_id) else None

    async def _follow(self, session_id: str, log: TurnLog) -> None:
        """Reads a turn another process runs back from the store until it ends."""
        while not log.closed:
            await asyncio.sleep(self._poll_seconds)
            try:
                stored = await self._store.get_turn(session_id, log.turn_id)
            except SessionNotFound:
                stored = None
            except Exception as exc:
                logger.warning("reading a running turn of session %s failed: %s", session_id, exc)
                continue
            if stored is not None:
                log.catch_up(decode(r) for r in stored.events)
            if stored is None or stored.status != RUNNING:
                log.close()

    async def _find(self, session_id: str, turn_id: str | None, *, by_event: bool) -> TurnLog:
        live = self._running_here(session_id, turn_id)
        if live is not None:
            return live.log
        stored = await self._store.get_turn(session_id, turn_id)
        if stored is None:
            if by_event:
                raise InvalidRequest(
                    "after_event_id is not an event of a turn of this session",
                    field="after_event_id",
                )
            raise _no_turn(session_id, turn_id, "no turn")
        # A turn that started while the store was read is followed live.
        live = self._running_here(session_id, stored.turn_id)
        if live is not None:
            return live.log
        events = [decode(r) for r in stored.events]
        return TurnLog(stored.turn_id, events, closed=stored.status != RUNNING)

    async def cancel(self, session_id: str, turn_id: str, *, principal: Principal) -> str:
        """Stops the running turn (the one named, if named) and returns its id
        once its partial reply is stored."""
        if not session_id:
            raise InvalidRequest("session_id is required", field="session_id")
        principal.check_owns(await self._store.get_session(session_id))
        live = self._running_here(session_id, turn_id or None)
        if live is not None:
            live.stop(CANCELLED)
            await live.wait()
            return live.turn_id
        stored = await self._store.get_turn(session_id, turn_id or None)
        if stored is None or stored.status != RUNNING:
            raise _no_turn(session_id, turn_id or None, "no running turn")
        await self._stop_elsewhere(session_id, stored)
        return stored.turn_id

    async def _stop_elsewhere(self, session_id: str, stored: StoredTurn) -> None:
        """Asks the process running the turn to stop it, until the store shows
        it ended (with its partial reply stored). A process that died is
        found out by its lease, and its turn ended as interrupted."""
        turn_id = stored.turn_id
        while True:
            live = self._running_here(session_id, turn_id)
            if live is not None:  # it started here while the store was read
                live.stop(CANCELLED)
                await live.wait()
                return
            await self._coordination.stop_elsewhere(session_id, turn_id)
            for _ in range(ASKS_EVERY):
                await asyncio.sleep(self._poll_seconds / 10)
                current = await self._store.get_turn(session_id, turn_id)
                if current is None or current.status != RUNNING:
                    return
