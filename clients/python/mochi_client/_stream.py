"""A streamed turn as an async iterator of typed events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Self

from ._events import ChatStreamEvent, event_case
from ._gen.mochi.v1 import ChatEvent
from ._resume import TurnReader


class ChatStream:
    """The events of one turn, as the server sends them.

    Iterate with ``async for``. Leaving ``async with``, ``await aclose()``,
    dropping the stream after ``break``, or cancelling the task that iterates
    it cancels the call: the server stops the model and stores the partial
    reply with ``partial_reason`` "cancelled", unless the turn was started
    with ``continue_on_disconnect`` or this stream only watches it (then the
    turn runs on; ``cancel_turn`` stops it). Such a stream resumes by itself
    after a dropped connection. Failures raise MochiError.
    """

    def __init__(self, reader: TurnReader) -> None:
        self._reader = reader
        self._events: AsyncGenerator[ChatEvent, None] = reader.events()

    @property
    def turn_id(self) -> str:
        """The turn's id, once the server has accepted the turn ("" before)."""
        return self._reader.turn_id

    @property
    def last_event_id(self) -> str:
        """The id of the last event received; ``watch_turn`` can go on after it."""
        return self._reader.last_event_id

    @property
    def resumes(self) -> int:
        """How many times the stream called WatchTurn after a dropped connection."""
        return self._reader.resumes

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChatStreamEvent:
        while True:
            case = event_case(await anext(self._events))
            if case is not None:
                return case

    async def aclose(self) -> None:
        """Stop the turn (when it still runs and stops with its caller) and release the call."""
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
