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
from itertools import groupby

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


def _run_key(event: TurnEvent) -> object:
    """Events with the same key next to each other merge into one."""
    if isinstance(event, ContentDelta):
        return (ContentDelta, event.role)
    if isinstance(event, ThinkingDelta):
        return ThinkingDelta
    return object()  # equal to nothing: never merged


def merge_deltas(events: list[Positioned]) -> list[Positioned]:
    """Joins runs of adjacent content (same role) or thinking deltas; a merged
    delta ends where its last piece ended. Linear in the text."""
    merged: list[Positioned] = []
    for _, group in groupby(events, key=lambda positioned: _run_key(positioned[1])):
        run = list(group)
        end, last = run[-1]
        merged.append((end, last if len(run) == 1 else _joined([e for _, e in run])))
    return merged


def _joined(run: list[TurnEvent]) -> TurnEvent:
    first = run[0]
    if isinstance(first, ContentDelta):
        text = "".join(e.content for e in run if isinstance(e, ContentDelta))
        return ContentDelta(text, first.role)
    return ThinkingDelta("".join(e.content for e in run if isinstance(e, ThinkingDelta)))


@dataclass(eq=False)
class Reader:
    """One reader of a log: woken by every change, at its own position."""

    position: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class TurnLog:
    def __init__(self, turn_id: str, events: Iterable[Positioned] = (), *, closed: bool = False):
        self.turn_id = turn_id
        self._ends: list[int] = []
        self._events: list[TurnEvent] = []
        for end, event in events:
            self._ends.append(end)
            self._events.append(event)
        self.end = self._ends[-1] if self._ends else 0
        self.closed = closed
        self._readers: set[Reader] = set()

    def append(self, event: TurnEvent) -> int:
        """Adds an event and wakes the readers; returns where it ends."""
        self.end += size_of(event)
        self._ends.append(self.end)
        self._events.append(event)
        for reader in self._readers:
            reader.wake.set()
        return self.end

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
        first = bisect_right(self._ends, position)
        found = list(zip(self._ends[first:], self._events[first:], strict=True))
        if found:
            end, event = found[0]
            size = size_of(event)
            if end - size < position:
                found[0] = (end, tail_of(event, end - position))
        return found

    def compact(self, upto: int) -> None:
        """Merges the runs of deltas that end at or before `upto` and that
        every reader has taken (a reader may want them one by one)."""
        upto = min([upto, *(reader.position for reader in self._readers)])
        first = bisect_right(self._ends, upto)
        head = merge_deltas(list(zip(self._ends[:first], self._events[:first], strict=True)))
        if len(head) == first:
            return
        self._ends[:first] = [end for end, _ in head]
        self._events[:first] = [event for _, event in head]

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
