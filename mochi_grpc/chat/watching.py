"""Following a turn from any connection, and stopping it from any connection.

A watcher names the session, optionally the turn, and the last event it saw.
A running turn is followed live from its log; a turn that has ended is read
back from the store. Watching is reading only: it never holds a turn back
(a slow watcher gets deltas merged) and never stops it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from mochi_grpc.auth import Principal
from mochi_grpc.chat.event_records import decode
from mochi_grpc.chat.live_turns import LiveTurns
from mochi_grpc.chat.streaming import Sent, deliver
from mochi_grpc.chat.turn_log import TurnLog, parse_event_id
from mochi_grpc.chat.turns import CANCELLED
from mochi_grpc.errors import InvalidRequest, TurnNotFound
from mochi_grpc.store import SessionStore


@dataclass(frozen=True)
class Watch:
    turn_id: str
    log: TurnLog
    after: int

    @property
    def has_more(self) -> bool:
        """False when the turn has ended and the watcher has seen all of it."""
        return not (self.log.closed and self.after >= self.log.end)

    def events(self, *, coalesce: bool = True) -> AsyncGenerator[Sent]:
        return deliver(self.log, self.after, coalesce=coalesce)


def _no_turn(session_id: str, turn_id: str | None, missing: str) -> TurnNotFound:
    message = (
        f"Turn {turn_id} not found in session {session_id}"
        if turn_id
        else f"Session {session_id} has {missing}"
    )
    return TurnNotFound(message, details={"session_id": session_id, "turn_id": turn_id or ""})


class TurnWatcher:
    def __init__(self, store: SessionStore, live: LiveTurns) -> None:
        self._store = store
        self._live = live

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
        return Watch(log.turn_id, log, after)

    async def _find(self, session_id: str, turn_id: str | None, *, by_event: bool) -> TurnLog:
        live = self._live.of_session(session_id)
        if live is not None and turn_id in (None, live.turn_id):
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
        live = self._live.of_session(session_id)
        if live is not None and live.turn_id == stored.turn_id:
            return live.log
        return TurnLog(stored.turn_id, [decode(r) for r in stored.events], closed=True)

    async def cancel(self, session_id: str, turn_id: str, *, principal: Principal) -> str:
        """Stops the running turn (the one named, if named) and returns its id
        once its partial reply is stored."""
        if not session_id:
            raise InvalidRequest("session_id is required", field="session_id")
        principal.check_owns(await self._store.get_session(session_id))
        live = self._live.of_session(session_id)
        if live is None or (turn_id and live.turn_id != turn_id):
            raise _no_turn(session_id, turn_id or None, "no running turn")
        live.stop(CANCELLED)
        await live.wait()
        return live.turn_id
