"""Storing running turns: their start and end at once, the reply so far at a
bounded rate, never a write per token.

A turn is written when it starts (the user message, before the model is
asked), then at most once per checkpoint interval while it produces output
(the reply so far, marked in_progress, and its events), then once when it
ends. One writer task does every write: the writes that are due together
(many turns starting in the same instant, the checkpoints of every running
turn) go to the store in one transaction, so the cost of a checkpoint does not
grow with the number of turns running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from mochi_grpc.chat.event_records import encode
from mochi_grpc.chat.events import TurnEvent
from mochi_grpc.chat.reply import ReplyBuilder
from mochi_grpc.chat.turn_log import Positioned, TurnLog, merge_deltas
from mochi_grpc.entities import Message, Session, utc_now
from mochi_grpc.store import IN_PROGRESS, RUNNING, SessionStore, TurnWrite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    """How a turn ended: its status, its messages after the kept ones (None:
    as last stored) and its last events."""

    status: str
    messages: list[Message] | None
    events: list[TurnEvent]


@dataclass(eq=False)
class TurnProgress:
    """A running turn as the store will see it."""

    session: Session
    turn_id: str
    # The first `keep` messages stay; the turn's own come after them.
    keep: int
    # The user message (none when the turn answers the history again).
    new: list[Message]
    log: TurnLog
    # The messages the model sees before the user's.
    history: list[Message] = field(default_factory=list)
    # The stored messages the turn replaces (a reply answered again).
    replaced: list[Message] = field(default_factory=list)
    # The turn's messages after the user's, whole rounds only.
    produced: list[Message] = field(default_factory=list)
    # The round being streamed, if any.
    reply: ReplyBuilder | None = None
    # Prompt and reply tokens of the last round, as the model reported them.
    usage_tokens: int = 0
    ending: Ending | None = None
    stored_position: int = 0
    stored_at: float = field(default_factory=time.monotonic)
    _begun: bool = False
    # How many of the turn's whole messages (new, produced) are stored.
    _whole_stored: int = 0
    # (stored_position, _whole_stored) once the write under way is stored.
    _writing: tuple[int, int] = (0, 0)
    # The events the write under way stores, merged.
    _merged: list[Positioned] = field(default_factory=list)

    def next_write(self) -> TurnWrite:
        """The write that brings the store up to date with the turn: its
        start, the output since the last write, or its end."""
        if not self._begun:
            self.session.active_turn_id = self.turn_id
            self._writing = (self.stored_position, len(self.new))
            messages = self.new or None
            return TurnWrite(
                self.session, self.turn_id, RUNNING, self.keep, messages, [], begin=True
            )
        self._merged = merge_deltas(self.log.after(self.stored_position))
        placed = self._merged
        if self.ending is not None:
            self.session.active_turn_id = None
            placed = placed + self.log.ends_after(self.ending.events)
        events = [encode(end, event) for end, event in placed]
        position = events[-1].position if events else self.stored_position
        if self.ending is not None:
            self._writing = (position, self._whole_stored)
            return TurnWrite(
                self.session,
                self.turn_id,
                self.ending.status,
                self.keep,
                self.ending.messages,
                events,
            )
        # A checkpoint: the messages stored whole before stay as they are.
        whole = [*self.new, *self.produced]
        partial = self.reply.message(IN_PROGRESS) if self.reply and self.reply.has_output else None
        changed = whole[self._whole_stored :] + ([partial] if partial else [])
        self._writing = (position, len(whole))
        self.session.updated_at = utc_now()
        return TurnWrite(
            self.session,
            self.turn_id,
            RUNNING,
            self.keep + self._whole_stored,
            changed or None,
            events,
            whole_session=False,
        )

    def written(self) -> None:
        self._begun = True
        self.stored_position, self._whole_stored = self._writing
        self.stored_at = time.monotonic()
        if self.ending is None and self._merged:
            self.log.compact(self._merged[-1][0], self._merged)


class TurnJournal:
    def __init__(self, store: SessionStore, interval_seconds: float) -> None:
        self._store = store
        self._interval = interval_seconds
        # How often the writer looks for checkpoints that are due.
        self._tick = max(interval_seconds / 5, 0.01)
        self._looked_at = 0.0
        self._urgent: dict[TurnProgress, asyncio.Future[None]] = {}
        self._dirty: set[TurnProgress] = set()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="mochi-turn-journal")

    async def close(self) -> None:
        """Writes what is pending, then stops the writer."""
        if self._writer is None:
            return
        if self._urgent or self._dirty:
            await self._flush(everything=True)
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = None

    async def begin(self, progress: TurnProgress) -> None:
        """Stores the start of a turn: returns once it is stored."""
        await self._now(progress)

    async def finish(self, progress: TurnProgress, ending: Ending) -> None:
        """Stores the end of a turn, with its last events."""
        progress.ending = ending
        await self._now(progress)

    def changed(self, progress: TurnProgress) -> None:
        """The turn has output not stored yet (cheap: called per event)."""
        if progress not in self._dirty:
            if not self._dirty:
                self._wake.set()  # the writer sleeps while nothing is waiting
            self._dirty.add(progress)

    async def _now(self, progress: TurnProgress) -> None:
        done = asyncio.get_running_loop().create_future()
        self._urgent[progress] = done
        self._wake.set()
        await done

    async def _write_loop(self) -> None:
        while True:
            if self._urgent or not self._dirty:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._tick)
            self._wake.clear()
            await self._flush()

    async def _flush(self, *, everything: bool = False) -> None:
        urgent, self._urgent = self._urgent, {}
        now = time.monotonic()
        due: list[TurnProgress] = []
        # Checkpoints are looked for once a tick, not on every start or end
        # that wakes the writer: with many turns running, that look is the
        # writer's largest cost.
        if everything or now - self._looked_at >= self._tick:
            self._looked_at = now
            due = [
                p
                for p in self._dirty
                if p not in urgent and (everything or now - p.stored_at >= self._interval)
            ]
        batch = [*urgent, *due]
        self._dirty.difference_update(batch)
        if batch and not await self._write(batch, urgent) and len(batch) > 1:
            for progress in batch:  # one of them fails: store the others
                await self._write([progress], urgent)

    async def _write(
        self, batch: list[TurnProgress], urgent: dict[TurnProgress, asyncio.Future[None]]
    ) -> bool:
        try:
            await self._store.write_turns([p.next_write() for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.error("storing turn %s failed: %s", batch[0].turn_id, exc)
                if batch[0] in urgent:
                    urgent[batch[0]].set_exception(exc)
                else:
                    self._dirty.add(batch[0])  # again at the next checkpoint
            return False
        for progress in batch:
            progress.written()
            if progress in urgent:
                urgent[progress].set_result(None)
        return True
