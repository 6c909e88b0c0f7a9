"""Delivering a turn's events to a reader that may be slower than the model.

A reader that keeps up gets every delta as it comes. One that falls behind
gets the deltas that piled up meanwhile merged into one event of each kind
(the same text, fewer messages), so per-message costs never cap throughput
and nothing is buffered per reader: every reader reads the turn's one log
from its own position, and a slow one never holds the turn back.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from mochi_grpc.chat.events import TurnEvent
from mochi_grpc.chat.turn_log import TurnLog, event_id, merge_deltas

# An event as sent: its id and the event.
Sent = tuple[str, TurnEvent]


async def deliver(log: TurnLog, after: int = 0, *, coalesce: bool = True) -> AsyncGenerator[Sent]:
    """The events of `log` after position `after`, live until the log is
    closed. Closing this generator only stops this reader."""
    reader = log.subscribe(after)
    try:
        while True:
            reader.wake.clear()
            batch = log.after(reader.position)
            if batch:
                reader.position = batch[-1][0]
                if coalesce and len(batch) > 1:
                    batch = merge_deltas(batch)
                for end, event in batch:
                    yield event_id(log.turn_id, end), event
            elif log.closed:
                return
            else:
                await reader.wake.wait()
    finally:
        log.unsubscribe(reader)
