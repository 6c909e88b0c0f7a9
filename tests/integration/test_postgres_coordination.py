"""Replicas coordinating through one PostgreSQL database (a private pgserver):
claims on sessions, leases and the sweep that ends a dead replica's turns,
and the requests that travel by NOTIFY to the replica running a turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from mochi_grpc.coordination import PostgresCoordination, Receivers
from mochi_grpc.entities import Message, Role, Session
from mochi_grpc.errors import SessionBusy, SessionNotFound
from mochi_grpc.store import (
    IN_PROGRESS,
    INTERRUPTED,
    RUNNING,
    EventRecord,
    PostgresStore,
    TurnWrite,
)
from mochi_grpc.store.postgres import TurnTakenOver

INTERRUPTION = EventRecord(0, "error", '{"code":"TURN_STOPPED"}')


@dataclass
class Heard:
    stops: list[tuple[str, str]] = field(default_factory=list)
    answers: list[tuple[str, str, bool]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def receivers(self) -> Receivers:
        def stop(session_id: str, turn_id: str) -> None:
            self.stops.append((session_id, turn_id))
            self.changed.set()

        def answer(session_id: str, confirmation_id: str, approved: bool) -> None:
            self.answers.append((session_id, confirmation_id, approved))
            self.changed.set()

        return Receivers(stop, answer, INTERRUPTION)

    async def next(self) -> None:
        await asyncio.wait_for(self.changed.wait(), 10)
        self.changed.clear()


@dataclass
class Replica:
    store: PostgresStore
    coordination: PostgresCoordination
    heard: Heard


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[Replica]]:
    started = []
    for _ in range(2):
        store = PostgresStore(postgres_url, lease_seconds=60)
        await store.open()
        heard = Heard()
        coordination = PostgresCoordination(store)
        await coordination.open(heard.receivers())
        started.append(Replica(store, coordination, heard))
    yield started
    for replica in started:
        await replica.coordination.close()
        await replica.store.close()


async def _session(store: PostgresStore) -> Session:
    session = Session(model="m")
    await store.create_session(session, [Message(Role.USER, "hi")])
    return session


async def _begin(store: PostgresStore, session: Session, turn_id: str) -> None:
    session.active_turn_id = turn_id
    reply = Message(Role.ASSISTANT, "so far", partial_reason=IN_PROGRESS)
    await store.write_turns(
        [
            TurnWrite(
                session,
                turn_id,
                RUNNING,
                1,
                [reply],
                [EventRecord(6, "content_delta", '{"content":"so far","role":"assistant"}')],
                begin=True,
            )
        ]
    )


async def _expire_lease(store: PostgresStore) -> None:
    async with store.pool.connection() as conn:
        await conn.execute(
            "UPDATE replicas SET lease_expires_at = now() - interval '1 second'"
            " WHERE replica_id = %s",
            (store.replica_id,),
        )


async def test_a_session_claimed_by_one_replica_is_busy_on_the_other(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    session = await _session(a.store)

    claim = await a.coordination.claim(session.session_id)
    with pytest.raises(SessionBusy):
        await b.coordination.claim(session.session_id)
    with pytest.raises(SessionBusy):
        await a.coordination.claim(session.session_id)

    await a.coordination.release(session.session_id, claim)
    claim = await b.coordination.claim(session.session_id)
    await b.coordination.release(session.session_id, claim)


async def test_claiming_a_session_that_does_not_exist_says_so(replicas: list[Replica]) -> None:
    with pytest.raises(SessionNotFound):
        await replicas[0].coordination.claim("no-such-session")


async def test_a_stop_request_reaches_every_replica(replicas: list[Replica]) -> None:
    a, b = replicas

    await b.coordination.stop_elsewhere("s1", "t1")

    await a.heard.next()
    assert a.heard.stops == [("s1", "t1")]


async def test_a_confirmation_asked_on_one_replica_is_answered_through_the_other(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    session = await _session(a.store)
    await a.coordination.confirmation_asked(session.session_id, "conf_1", "shell")

    assert await b.coordination.answer_elsewhere(session.session_id, "conf_1", True) == "shell"

    await a.heard.next()
    assert a.heard.answers == [(session.session_id, "conf_1", True)]
    # Answered once: a second answer, or one naming another session, finds nothing.
    assert await b.coordination.answer_elsewhere(session.session_id, "conf_1", False) is None
    await a.coordination.confirmation_closed("conf_1")
    await a.coordination.confirmation_asked(session.session_id, "conf_2", "shell")
    assert await b.coordination.answer_elsewhere("another-session", "conf_2", True) is None


async def test_an_answer_stored_while_a_replica_was_not_listening_reaches_it(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, lease_seconds=60)
    await store.open()
    other = PostgresStore(postgres_url, lease_seconds=60)
    await other.open()
    try:
        session = await _session(store)
        asking = PostgresCoordination(store)
        answering = PostgresCoordination(other)
        await asking.confirmation_asked(session.session_id, "conf_9", "shell")
        # Answered before the asking replica listens (as after a reconnect).
        assert await answering.answer_elsewhere(session.session_id, "conf_9", False) == "shell"

        heard = Heard()
        await asking.open(heard.receivers())
        await heard.next()
        await asking.close()

        assert heard.answers == [(session.session_id, "conf_9", False)]
    finally:
        await store.close()
        await other.close()


async def test_a_replica_whose_lease_ran_out_has_its_turns_ended_by_the_others(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    session = await _session(a.store)
    claim = await a.coordination.claim(session.session_id)
    await _begin(a.store, session, "turn-a")
    await a.coordination.confirmation_asked(session.session_id, "conf_a", "shell")

    # A live replica's turns are left alone.
    assert await b.store.interrupt_running_turns(INTERRUPTION.kind, INTERRUPTION.payload) == []
    with pytest.raises(SessionBusy):
        await b.coordination.claim(session.session_id)

    await _expire_lease(a.store)
    ended = await b.store.interrupt_running_turns(INTERRUPTION.kind, INTERRUPTION.payload)

    assert ended == ["turn-a"]
    turn = await b.store.get_turn(session.session_id, "turn-a")
    assert turn is not None and turn.status == INTERRUPTED
    assert turn.events[-1] == EventRecord(7, INTERRUPTION.kind, INTERRUPTION.payload)
    reply = await b.store.get_message(session.session_id, 1)
    assert reply is not None and reply.partial_reason == INTERRUPTED
    assert (await b.store.get_session(session.session_id)).active_turn_id is None
    assert await b.coordination.answer_elsewhere(session.session_id, "conf_a", True) is None
    # The session takes a turn again, on any replica.
    await b.coordination.release(session.session_id, await b.coordination.claim(session.session_id))
    await a.coordination.release(session.session_id, claim)  # a late release changes nothing


async def test_a_replica_taken_for_dead_stores_nothing_more_of_its_turn(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    session = await _session(a.store)
    await _begin(a.store, session, "turn-a")
    await _expire_lease(a.store)
    await b.store.interrupt_running_turns(INTERRUPTION.kind, INTERRUPTION.payload)

    session.active_turn_id = None
    late = Message(Role.ASSISTANT, "the whole reply")
    with pytest.raises(TurnTakenOver):
        await a.store.write_turns(
            [TurnWrite(session, "turn-a", "completed", 1, [Message(Role.USER, "hi"), late], [])]
        )

    assert not await a.store.renew_lease()  # it learns its lease had run out
    assert await a.store.renew_lease()
    messages = (await b.store.list_messages(session.session_id)).messages
    assert [m.content for m in messages] == ["hi", "so far"]
    assert messages[1].partial_reason == INTERRUPTED


async def test_a_replica_that_stops_cleanly_gives_up_its_lease(postgres_url: str) -> None:
    first = PostgresStore(postgres_url)
    await first.open()
    session = await _session(first)
    await _begin(first, session, "turn-left")
    await first.close()

    second = PostgresStore(postgres_url)
    await second.open()
    try:
        # No lease to wait for: the next sweep ends the turn at once.
        assert await second.interrupt_running_turns("error", "{}") == ["turn-left"]
    finally:
        await second.close()
