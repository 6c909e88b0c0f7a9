"""A turn's log: event ids, the cut after an id, merging, readers."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mochi_grpc.chat.events import (
    ContentDelta,
    ThinkingDelta,
    ToolContinuation,
    TurnDone,
    TurnEvent,
)
from mochi_grpc.chat.streaming import deliver
from mochi_grpc.chat.turn_log import TurnLog, event_id, merge_deltas, parse_event_id
from mochi_grpc.errors import InvalidRequest


def _log(*events: TurnEvent, closed: bool = True) -> TurnLog:
    log = TurnLog("t1")
    for event in events:
        log.append(event)
    if closed:
        log.close()
    return log


def test_merge_joins_runs_of_the_same_kind_and_keeps_the_last_end() -> None:
    merged = merge_deltas(
        [
            (1, ThinkingDelta("a")),
            (2, ThinkingDelta("b")),
            (3, ContentDelta("c")),
            (4, ContentDelta("d")),
            (5, TurnDone("s")),
            (6, ContentDelta("e")),
        ]
    )

    assert merged == [
        (2, ThinkingDelta("ab")),
        (4, ContentDelta("cd")),
        (5, TurnDone("s")),
        (6, ContentDelta("e")),
    ]


def test_event_ids_name_the_turn_and_a_position() -> None:
    assert parse_event_id(event_id("abc123", 42)) == ("abc123", 42)


@pytest.mark.parametrize("bad", ["", "abc", "t:", ":5", "t:-1", "t:1.5", "t:x", "t:\u0661"])
def test_anything_else_is_not_an_event_id(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_event_id(bad)
    assert caught.value.field == "after_event_id"


def test_positions_count_characters_of_deltas_and_one_per_other_event() -> None:
    log = _log(ContentDelta("Hello"), ToolContinuation("x", 0), ContentDelta(" you"), TurnDone("s"))

    assert [end for end, _ in log.after(0)] == [5, 6, 10, 11]


def test_a_cut_inside_a_merged_delta_gets_the_rest_of_its_text() -> None:
    log = _log(ContentDelta("Hel"), ContentDelta("lo"), TurnDone("s"))
    log.compact(log.end)  # stored: the two deltas are one now

    assert log.after(3) == [(5, ContentDelta("lo")), (6, TurnDone("s"))]


def test_a_position_past_the_end_is_refused() -> None:
    log = _log(ContentDelta("ab"))

    log.check_position(2)
    with pytest.raises(InvalidRequest):
        log.check_position(3)


_events = st.lists(
    st.one_of(
        st.text(min_size=1, max_size=4).map(ContentDelta),
        st.text(min_size=1, max_size=3).map(ThinkingDelta),
        st.integers(0, 3).map(lambda n: ToolContinuation("more", n)),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(events=_events, data=st.data())
def test_events_before_a_cut_and_after_it_add_up_to_the_turn(
    events: list[TurnEvent], data: st.DataObject
) -> None:
    log = _log(*events, TurnDone("s"))
    # What a reader saw: the turn up to some event, in merged pieces or not.
    seen = merge_deltas(log.after(0)) if data.draw(st.booleans()) else log.after(0)
    cut = data.draw(st.integers(0, len(seen)))
    position = seen[cut - 1][0] if cut else 0
    if data.draw(st.booleans()):
        log.compact(data.draw(st.integers(0, log.end)))  # some of it stored meanwhile

    received = [event for _, event in seen[:cut]] + [event for _, event in log.after(position)]

    def text(kind: type[ContentDelta] | type[ThinkingDelta]) -> str:
        return "".join(e.content for e in received if isinstance(e, kind))

    assert text(ContentDelta) == "".join(e.content for e in events if isinstance(e, ContentDelta))
    assert text(ThinkingDelta) == "".join(e.content for e in events if isinstance(e, ThinkingDelta))
    others = [e for e in received if not isinstance(e, ContentDelta | ThinkingDelta)]
    assert others == [
        *(e for e in events if not isinstance(e, ContentDelta | ThinkingDelta)),
        TurnDone("s"),
    ]


async def test_a_lagging_reader_gets_the_pile_merged_with_the_last_id() -> None:
    log = _log(ContentDelta("a"), ContentDelta("b"), ContentDelta("c"), TurnDone("s"))

    received = [sent async for sent in deliver(log)]

    assert received == [("t1:3", ContentDelta("abc")), ("t1:4", TurnDone("s"))]


async def test_without_coalescing_every_event_comes_alone() -> None:
    log = _log(ContentDelta("a"), ContentDelta("b"), TurnDone("s"))

    received = [sent async for sent in deliver(log, coalesce=False)]

    assert received == [
        ("t1:1", ContentDelta("a")),
        ("t1:2", ContentDelta("b")),
        ("t1:3", TurnDone("s")),
    ]


async def test_readers_that_keep_up_get_every_delta_and_each_gets_all() -> None:
    log = TurnLog("t1")
    readers = [deliver(log), deliver(log)]
    received: list[list[str]] = [[], []]

    async def read(index: int) -> None:
        async for _, event in readers[index]:
            received[index].append(event.content if isinstance(event, ContentDelta) else "done")

    tasks = [asyncio.create_task(read(i)) for i in range(2)]
    for piece in ["a", "b", "c"]:
        log.append(ContentDelta(piece))
        for _ in range(5):  # both readers take it before the next one comes
            await asyncio.sleep(0)
    log.append(TurnDone("s"))
    log.close()
    await asyncio.gather(*tasks)

    assert received == [["a", "b", "c", "done"], ["a", "b", "c", "done"]]


async def test_a_reader_that_goes_away_leaves_the_log_as_it_was() -> None:
    log = TurnLog("t1")
    log.append(ContentDelta("first"))
    async with aclosing(deliver(log)) as events:
        assert await anext(events) == ("t1:5", ContentDelta("first"))
    log.append(ContentDelta(" second"))
    log.close()

    assert [e for _, e in log.after(0)] == [ContentDelta("first"), ContentDelta(" second")]
    assert [sent async for sent in deliver(log, 5)] == [("t1:12", ContentDelta(" second"))]


async def test_stored_deltas_stay_apart_for_a_reader_that_wants_them_one_by_one() -> None:
    log = TurnLog("t1")
    log.append(ContentDelta("a"))
    async with aclosing(deliver(log, coalesce=False)) as events:
        assert await anext(events) == ("t1:1", ContentDelta("a"))
        log.append(ContentDelta("b"))
        log.append(ContentDelta("c"))
        log.compact(log.end)  # stored, but the reader has not taken them yet
        log.close()

        assert [sent async for sent in events] == [
            ("t1:2", ContentDelta("b")),
            ("t1:3", ContentDelta("c")),
        ]
    log.compact(log.end)  # no reader left: what was not merged yet is now
    assert log.after(0) == [(1, ContentDelta("a")), (3, ContentDelta("bc"))]
