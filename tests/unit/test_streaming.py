"""Merging the deltas a slow reader has not taken yet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from mochi_grpc.chat.events import ContentDelta, ThinkingDelta, TurnDone, TurnEvent
from mochi_grpc.chat.streaming import coalesced, merge_deltas


def test_merge_joins_runs_of_the_same_kind_only() -> None:
    events: list[TurnEvent] = [
        ThinkingDelta("a"),
        ThinkingDelta("b"),
        ContentDelta("c"),
        ContentDelta("d"),
        TurnDone("s"),
        ContentDelta("e"),
    ]

    assert merge_deltas(events) == [
        ThinkingDelta("ab"),
        ContentDelta("cd"),
        TurnDone("s"),
        ContentDelta("e"),
    ]


async def _burst() -> AsyncIterator[TurnEvent]:
    """Produces everything at once, faster than any reader."""
    for piece in ["a", "b", "c", "d"]:
        yield ContentDelta(piece)
    yield TurnDone("s")


async def test_a_lagging_reader_gets_the_pile_merged() -> None:
    received = [event async for event in coalesced(_burst())]

    assert received == [ContentDelta("abcd"), TurnDone("s")]


async def test_a_reader_that_keeps_up_gets_every_delta() -> None:
    taken = asyncio.Event()

    async def paced() -> AsyncIterator[TurnEvent]:
        for piece in ["a", "b", "c"]:
            yield ContentDelta(piece)
            await taken.wait()  # the next token comes only after this one was read
            taken.clear()

    received: list[TurnEvent] = []
    async for event in coalesced(paced()):
        received.append(event)
        taken.set()

    assert received == [ContentDelta("a"), ContentDelta("b"), ContentDelta("c")]


async def test_closing_early_cancels_the_source() -> None:
    cancelled = asyncio.Event()

    async def endless() -> AsyncIterator[TurnEvent]:
        try:
            yield ContentDelta("first")
            await asyncio.Event().wait()
            yield ContentDelta("never")  # pragma: no cover
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with aclosing(coalesced(endless())) as events:
        assert await anext(events) == ContentDelta("first")

    assert cancelled.is_set()


async def test_a_failing_source_fails_the_reader() -> None:
    async def broken() -> AsyncIterator[TurnEvent]:
        yield ContentDelta("x")
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        async for _ in coalesced(broken()):
            pass
