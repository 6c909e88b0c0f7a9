"""Letting turns in: how many may run, and how many may be starting at once.

A turn's start is the server's own work before the model is asked: claiming
the session, loading it, storing the turn's start. A burst of turns that all
start at once would interleave that work, so every one of them (and every
token of the turns already streaming) waits for all of it; instead at most
`max_starting` turns start at a time and the others wait their turn in the
order they arrived. A turn waiting to start counts as running: beyond
`max_running` a new turn is refused at once (retry after a second), never
queued without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mochi_grpc.errors import Overloaded


class Admission:
    def __init__(self, max_running: int, max_starting: int) -> None:
        self._max_running = max_running
        # asyncio's semaphore wakes its waiters first come, first served.
        self._starting = asyncio.Semaphore(max_starting)
        self.running = 0

    def reserve(self) -> None:
        """Takes a place for a new turn, or raises Overloaded."""
        if self.running >= self._max_running:
            raise Overloaded(
                "Too many turns are running; try again shortly",
                retry_after_seconds=1,  # any running turn that ends frees a place
            )
        self.running += 1

    def release(self) -> None:
        """Gives back the place of a turn that ended or never started."""
        self.running -= 1

    @asynccontextmanager
    async def starting(self) -> AsyncIterator[None]:
        """The block of a turn's start, entered in arrival order."""
        async with self._starting:
            yield
