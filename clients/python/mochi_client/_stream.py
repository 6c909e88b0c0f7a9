"""A streamed turn as an async iterator of typed events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Self

from ._errors import mochi_errors
from ._events import ChatStreamEvent, event_case
from ._gen.mochi.v1 import ChatEvent


class ChatStream:
    """The events of one turn, as the server sends them.

    Iterate with ``async for``. Leaving ``async with``, ``await aclose()``,
    dropping the stream after ``break``, or cancelling the task that iterates
    it cancels the call: the server stops the model and stores the partial
    reply with ``partial_reason`` "cancelled". Failures raise MochiError.
    """

    def __init__(self, events: AsyncGenerator[ChatEvent, None]) -> None:
        self._events = events

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChatStreamEvent:
        while True:
            with mochi_errors():
                event = await anext(self._events)
            case = event_case(event)
            if case is not None:
                return case

    async def aclose(self) -> None:
        """Stop the turn (when it still runs) and release the call."""
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
