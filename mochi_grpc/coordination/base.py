"""The coordination the domain relies on, whatever keeps the data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from mochi_grpc.store import EventRecord


@dataclass(frozen=True)
class Receivers:
    """What this process does for the others: stop a turn it runs (session
    id, turn id) and answer a confirmation one of its turns waits for
    (session id, confirmation id, approved), both ignoring what is not here;
    and the event a turn left running by a process that died ends with."""

    stop_turn: Callable[[str, str], None]
    answer_confirmation: Callable[[str, str, bool], None]
    interruption: EventRecord


class Coordination(Protocol):
    async def open(self, receivers: Receivers) -> None:
        """Ends the turns processes that died left running, and starts taking
        requests from the other processes."""
        ...

    async def close(self) -> None: ...

    async def claim(self, session_id: str) -> str:
        """Marks the session as being changed and returns the claim's id;
        raises SessionBusy when it is already, SessionNotFound when there is
        no such session (a claim may not know: the caller reads it anyway)."""
        ...

    async def release(self, session_id: str, claim_id: str) -> None: ...

    async def confirmation_asked(
        self, session_id: str, confirmation_id: str, tool_name: str
    ) -> None:
        """A turn of this process waits for the answer to a confirmation;
        from now on any process can answer it."""
        ...

    async def confirmation_closed(self, confirmation_id: str) -> None:
        """The confirmation is answered or its turn moved on."""
        ...

    async def answer_elsewhere(
        self, session_id: str, confirmation_id: str, approved: bool
    ) -> str | None:
        """Answers a confirmation a turn of another process waits for;
        returns its tool's name, or None when no turn waits for it."""
        ...

    async def stop_elsewhere(self, session_id: str, turn_id: str) -> None:
        """Asks the process running the turn to stop it (a hint: the caller
        waits for the stored turn to end and asks again while it runs)."""
        ...


@asynccontextmanager
async def claimed(coordination: Coordination, session_id: str) -> AsyncIterator[None]:
    """The session claimed for the length of a block (a short change)."""
    claim = await coordination.claim(session_id)
    try:
        yield
    finally:
        await coordination.release(session_id, claim)
