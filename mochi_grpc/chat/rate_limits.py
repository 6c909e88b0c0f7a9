"""Turns a key may start per minute (MOCHI_RATE_LIMIT_TURNS_PER_MINUTE).

A sliding window of the last minute's starts per key, counted in this
process only: with several replicas each allows the limit. Only accepted
turns count; a refused one (busy, unknown session) does not.
"""

from __future__ import annotations

import math
import time
from collections import deque

from mochi_grpc.errors import RateLimited

WINDOW_SECONDS = 60.0


class TurnRateLimit:
    def __init__(self, turns_per_minute: int) -> None:
        self._limit = turns_per_minute
        self._starts: dict[str | None, deque[float]] = {}

    def check(self, key: str | None) -> None:
        """Raises RateLimited (saying when the next turn may start) when the
        key is at its limit."""
        if self._limit <= 0:
            return
        starts = self._recent(key)
        if len(starts) >= self._limit:
            wait = starts[0] + WINDOW_SECONDS - time.monotonic()
            raise RateLimited(
                f"At most {self._limit} turns a minute may start with this key;"
                f" the next may in {math.ceil(wait)} s",
                retry_after_seconds=max(wait, 0.001),
            )

    def started(self, key: str | None) -> None:
        if self._limit > 0:
            self._recent(key).append(time.monotonic())

    def _recent(self, key: str | None) -> deque[float]:
        starts = self._starts.setdefault(key, deque())
        horizon = time.monotonic() - WINDOW_SECONDS
        while starts and starts[0] <= horizon:
            starts.popleft()
        return starts
