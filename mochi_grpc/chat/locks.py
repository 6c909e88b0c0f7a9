"""One turn at a time per session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mochi_grpc.errors import SessionBusy


class SessionLocks:
    """Marks sessions that are being changed.

    A second writer is refused rather than queued, so a client never waits
    behind a long reply without knowing why (SESSION_BUSY tells it).
    """

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def acquire(self, session_id: str) -> None:
        """Marks the session busy; raises SessionBusy if it already is."""
        if session_id in self._busy:
            raise SessionBusy(session_id)
        self._busy.add(session_id)

    def release(self, session_id: str) -> None:
        self._busy.discard(session_id)

    @contextmanager
    def hold(self, session_id: str) -> Iterator[None]:
        self.acquire(session_id)
        try:
            yield
        finally:
            self.release(session_id)
