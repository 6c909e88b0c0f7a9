"""The turns running in this process, each in a task of its own.

A turn outlives the call that started it when it was started with
continue_on_disconnect, so it cannot be stopped by unwinding that call: it is
stopped through its LiveTurn, with the reason its partial reply will carry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mochi_grpc.chat.turn_log import TurnLog


@dataclass(frozen=True)
class TurnOptions:
    think: bool = False
    # A turn the caller cannot answer confirmations for (unary Chat) is
    # refused when a tool needs one.
    can_confirm: bool = True
    # The caller going away does not stop the turn.
    continue_on_disconnect: bool = False


@dataclass(eq=False)
class LiveTurn:
    session_id: str
    turn_id: str
    options: TurnOptions
    log: TurnLog
    # The turn's claim on its session, given back when the turn is stored.
    claim: str = ""
    task: asyncio.Task[None] | None = None
    # Why the turn was stopped, if it was.
    stop_reason: str | None = None
    # False once the turn has ended and only its storing is left.
    stoppable: bool = True
    _ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return not self._ended.is_set()

    def stop(self, reason: str) -> None:
        """Cuts the turn short (the model request is closed at once)."""
        if self.stoppable and self.task is not None and self.stop_reason is None:
            self.stop_reason = reason
            self.task.cancel()

    def ended(self) -> None:
        self._ended.set()

    async def wait(self) -> None:
        """Returns once the turn has ended and is stored."""
        await self._ended.wait()


class LiveTurns:
    """At most one running turn per session."""

    def __init__(self) -> None:
        self._by_session: dict[str, LiveTurn] = {}

    def add(self, turn: LiveTurn) -> None:
        self._by_session[turn.session_id] = turn

    def remove(self, turn: LiveTurn) -> None:
        if self._by_session.get(turn.session_id) is turn:
            del self._by_session[turn.session_id]

    def of_session(self, session_id: str) -> LiveTurn | None:
        return self._by_session.get(session_id)

    def all(self) -> list[LiveTurn]:
        return list(self._by_session.values())
