"""Reading a turn's events across dropped connections.

Every event of a turn has an id, and WatchTurn sends exactly the events after
a given one. So a reader that knows its turn (the "mochi-turn-id" initial
metadata) and the last event it received can lose its connection and go on:
it calls WatchTurn with both, and its caller sees one unbroken turn, every
event once. Only a turn that runs on without its caller is resumed: one
started with continue_on_disconnect, or one being watched. Any other turn
stopped when its connection dropped, so its stream ends with the error.

A dropped connection is UNAVAILABLE without a reason (a refusal from the
server carries one). It is retried a few times with a growing pause, counted
afresh after every event: a server that stays unreachable ends the stream
with the error; a connection that drops now and then does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.metadata import Deadline

from ._errors import MochiError, mochi_errors
from ._gen.mochi.v1 import ChatEvent, ChatStreamRequest, WatchTurnRequest

CHAT_STREAM_METHOD = "/mochi.v1.ChatService/ChatStream"
WATCH_TURN_METHOD = "/mochi.v1.ChatService/WatchTurn"
TURN_ID_METADATA = "mochi-turn-id"

# Pauses of 0.1, 0.2, 0.4 and 0.8 s: long enough for a network blip or a
# proxy to recover, short enough that a reply does not visibly stall.
RESUME_ATTEMPTS = 4
FIRST_PAUSE_SECONDS = 0.1

TurnRequest = ChatStreamRequest | WatchTurnRequest


class TurnReader:
    """The ChatEvents of one turn, read over as many calls as it takes.

    ``turn_id`` is known once the server accepted the turn, ``last_event_id``
    is the id of the last event read, ``resumes`` counts the WatchTurn calls
    made after a dropped connection. ``timeout`` bounds all the calls together.
    """

    def __init__(
        self, channel: Channel, request: TurnRequest, *, resume: bool, timeout: float | None
    ) -> None:
        self._channel = channel
        self._request = request
        self._resume = resume
        self._timeout = timeout
        self.turn_id = ""
        self.last_event_id = ""
        if isinstance(request, WatchTurnRequest):
            self.turn_id, self.last_event_id = request.turn_id, request.after_event_id
        self.resumes = 0

    async def events(self) -> AsyncGenerator[ChatEvent, None]:
        """The turn's events; raises MochiError when the reading fails for good."""
        deadline = None if self._timeout is None else Deadline.from_timeout(self._timeout)
        request = self._request
        failures = 0
        while True:
            try:
                # The HTTP/2 stream is opened here, not in a nested generator,
                # so closing this generator resets it right away.
                with mochi_errors():
                    async with self._channel.request(
                        _method(request),
                        Cardinality.UNARY_STREAM,
                        type(request),
                        ChatEvent,
                        deadline=deadline,
                    ) as stream:
                        await stream.send_message(request, end=True)
                        await stream.recv_initial_metadata()
                        self._learn_turn_id(stream.initial_metadata)
                        async for event in stream:
                            failures = 0
                            self.last_event_id = event.event_id or self.last_event_id
                            yield event
                return
            except MochiError as error:
                if failures == RESUME_ATTEMPTS or not self._resumable(error):
                    raise
            await asyncio.sleep(FIRST_PAUSE_SECONDS * 2**failures)
            failures += 1
            self.resumes += 1
            request = WatchTurnRequest(
                session_id=self._request.session_id,
                turn_id=self.turn_id,
                after_event_id=self.last_event_id,
            )

    def _learn_turn_id(self, metadata: Mapping[str, str | bytes] | None) -> None:
        turn_id = metadata.get(TURN_ID_METADATA) if metadata is not None else None
        if isinstance(turn_id, str) and turn_id:
            self.turn_id = turn_id

    def _resumable(self, error: MochiError) -> bool:
        dropped = error.code is Status.UNAVAILABLE and error.reason is None
        # Until the server has named the turn, a ChatStream's turn may not
        # have started and a WatchTurn without a turn id may find another.
        known = bool(self.turn_id or self.last_event_id)
        return self._resume and dropped and known


def _method(request: TurnRequest) -> str:
    return CHAT_STREAM_METHOD if isinstance(request, ChatStreamRequest) else WATCH_TURN_METHOD
