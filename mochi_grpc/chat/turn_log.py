"""The events of one turn, each with an id, for any number of readers.

An event id is the turn's id and a position: every event takes up room in the
turn's sequence of positions, a delta one per character of its text, any other
event one. The id names where the event ends. So the cut after an id is found
without scanning (a binary search), deltas merged for a slow reader or in the
store keep the id of their last piece, and a cut that falls inside a merged
delta is served by slicing its text: nothing twice, nothing missing.

The log of a running turn keeps its events in memory; once they are stored,
runs of deltas are merged (`compact`), so it holds the text, not one object
per token. A turn that has ended is read back from the store into a closed log.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from mochi_grpc.chat.events import ContentDelta, ThinkingDelta, TurnEvent
from mochi_grpc.errors import InvalidRequest

# (the position where the event ends, the event)
Positioned = tuple[int, TurnEvent]

_SEPARATOR = ":"


def event_id(turn_id: str, position: int) -> str:
    return f"{turn_id}{_SEPARATOR}{position}"


def parse_event_id(value: str) -> tuple[str, int]:
    """The turn id and position of an event id; InvalidRequest if it is none."""
    turn_id, separator, position = value.rpartition(_SEPARATOR)
    if not (separator and turn_id and position.isdigit() and position.isascii()):
        raise InvalidRequest(
            f"'{value[:64]}' is not an event id of this service", field="after_event_id"
        )
    return turn_id, int(position)


def size_of(event: TurnEvent) -> int:
    if isinstance(event, ContentDelta | ThinkingDelta):
        return len(event.content)
    return 1


def tail_of(event: TurnEvent, size: int) -> TurnEvent:
    """The last `size` positions of a delta."""
    if isinstance(event, ContentDelta):
        return ContentDelta(event.content[-size:], event.role)
    if isinstance(event, ThinkingDelta):
        return ThinkingDelta(event.content[-size:])
    return event


def merge_deltas(events: list[Positioned]) -> list[Positioned]:
    """Joins runs of adjacent content (same role) or thinking deltas; a merged
    delta ends where its last piece ended. Linear in the text; this runs over
    every event of a turn before it is stored, so it is kept tight."""
    merged: list[Positioned] = []
    pieces: list[str] = []  # the texts of the open run
    run_kind: type | None = None
    run_role = ""
    run_end = 0

    def close_run() -> None:
        text = "".join(pieces)
        merged.append(
            (
                run_end,
                ContentDelta(text, run_role) if run_kind is ContentDelta else ThinkingDelta(text),
            )
        )

    for end, event in events:
        kind: type | None
        if isinstance(event, ContentDelta):
            kind, role, text = ContentDelta, event.role, event.content
        elif isinstance(event, ThinkingDelta):
            kind, role, text = ThinkingDelta, "", event.content
        else:
            if run_kind is not None:
                close_run()
                run_kind = None
            merged.append((end, event))
            continue
        if kind is run_kind and role == run_role:
            pieces.append(text)
        else:
            if run_kind is not None:
                close_run()
            run_kind, run_role, pieces = kind, role, [text]
        run_end = end
    if run_kind is not None:
        close_run()
    return merged


@dataclass(eq=False)
class Reader:
    """One reader of a log: woken by every change, at its own position."""

    position: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def _end_of(positioned: Positioned) -> int:
    return positioned[0]


class TurnLog:
    def __init__(self, turn_id: str, events: Iterable[Positioned] = (), *, closed: bool = False):
        self.turn_id = turn_id
        self._items: list[Positioned] = list(events)
        self.end = self._items[-1][0] if self._items else 0
        self.closed = closed
        self._readers: set[Reader] = set()
        # Events up to this position are merged already.
        self._compacted = 0

    def append(self, event: TurnEvent) -> int:
        """Adds an event and wakes the readers; returns where it ends."""
        self.end += size_of(event)
        self._items.append((self.end, event))
        for reader in self._readers:
            reader.wake.set()
        return self.end

    def catch_up(self, events: Iterable[Positioned]) -> None:
        """Appends the stored events that end after the log's end (a delta
        the end cuts is sliced): a turn run by another process, followed
        from the store."""
        for end, event in events:
            if end <= self.end:
                continue
            if end - size_of(event) < self.end:
                event = tail_of(event, end - self.end)
            self.end = end
            self._items.append((end, event))
        for reader in self._readers:
            reader.wake.set()

    def close(self) -> None:
        """No event follows; readers end once they have read everything."""
        self.closed = True
        for reader in self._readers:
            reader.wake.set()

    def ends_after(self, events: list[TurnEvent]) -> list[Positioned]:
        """Where `events` would end if appended now (the log is unchanged)."""
        placed: list[Positioned] = []
        end = self.end
        for event in events:
            end += size_of(event)
            placed.append((end, event))
        return placed

    def after(self, position: int) -> list[Positioned]:
        """Every event after `position`; a delta the position cuts is sliced."""
        found = self._items[bisect_right(self._items, position, key=_end_of) :]
        if found:
            end, event = found[0]
            size = size_of(event)
            if end - size < position:
                found[0] = (end, tail_of(event, end - position))
        return found

    def compact(self, upto: int, merged: list[Positioned] | None = None) -> None:
        """Merges the runs of deltas that end at or before `upto` and that
        every reader has taken (a reader may want them one by one).
        `merged`, if given, is what the events after the last compaction up
        to `upto` are when merged (already worked out for the store)."""
        limit = min([upto, *(reader.position for reader in self._readers)])
        if limit <= self._compacted:
            return
        first = bisect_right(self._items, self._compacted, key=_end_of)
        last = bisect_right(self._items, limit, key=_end_of)
        if merged is None or limit != upto:
            merged = merge_deltas(self._items[first:last])
        self._items[first:last] = merged
        self._compacted = limit

    def check_position(self, position: int) -> None:
        if position > self.end:
            raise InvalidRequest(
                "after_event_id is past the last event of the turn", field="after_event_id"
            )

    def subscribe(self, position: int) -> Reader:
        """A reader at `position`, woken by every append and by close."""
        reader = Reader(position)
        self._readers.add(reader)
        return reader

    def unsubscribe(self, reader: Reader) -> None:
        self._readers.discard(reader)
