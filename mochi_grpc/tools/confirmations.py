"""Tool calls waiting for a person's yes or no.

A confirmation belongs to one session and is answered at most once; it is
forgotten when answered or when its turn ends. Pending confirmations live in
this process: a confirm request must reach the replica running the turn.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mochi_grpc.errors import ConfirmationNotFound


@dataclass
class Pending:
    confirmation_id: str
    session_id: str
    tool_name: str
    answer: asyncio.Future[bool]


class Confirmations:
    def __init__(self) -> None:
        self._pending: dict[str, Pending] = {}

    @contextmanager
    def ask(self, session_id: str, tool_name: str) -> Iterator[Pending]:
        """A new confirmation, forgotten when the block ends."""
        pending = Pending(
            f"conf_{secrets.token_hex(6)}",
            session_id,
            tool_name,
            asyncio.get_running_loop().create_future(),
        )
        self._pending[pending.confirmation_id] = pending
        try:
            yield pending
        finally:
            self._pending.pop(pending.confirmation_id, None)

    def answer(self, session_id: str, confirmation_id: str, approved: bool) -> str:
        """Answers a pending confirmation; returns its tool's name."""
        pending = self._pending.get(confirmation_id)
        if pending is None or pending.session_id != session_id or pending.answer.done():
            raise ConfirmationNotFound(
                f"Confirmation ID '{confirmation_id}' not found or expired",
                details={"confirmation_id": confirmation_id},
            )
        pending.answer.set_result(approved)
        return pending.tool_name
