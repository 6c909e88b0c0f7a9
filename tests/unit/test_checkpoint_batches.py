"""The turn journal's batches: with more checkpoints due than one batch holds,
every one is stored, no transaction holds more than a batch, and a turn that
starts meanwhile is stored before the checkpoints still waiting; a turn that
ends while other writes are under way is stored once, as ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from mochi_grpc.chat.checkpoints import CHECKPOINT_BATCH, Ending, TurnJournal, TurnProgress
from mochi_grpc.chat.events import ContentDelta, TurnDone
from mochi_grpc.chat.turn_log import TurnLog
from mochi_grpc.chat.turns import COMPLETED
from mochi_grpc.entities import Message, Role, Session
from mochi_grpc.store import TurnWrite
from mochi_grpc.store.sqlite import SqliteStore

DUE = CHECKPOINT_BATCH + 15


class NotingStore(SqliteStore):
    """The SQLite store, noting each batch of turn writes it stores."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[list[tuple[str, bool]]] = []

    async def write_turns(self, writes: Sequence[TurnWrite]) -> None:
        self.batches.append([(w.turn_id, w.begin) for w in writes])
        await super().write_turns(writes)


async def _progress(store: NotingStore, n: int) -> TurnProgress:
    session = Session(model="m")
    await store.create_session(session, [])
    turn_id = f"turn-{n}"
    return TurnProgress(session, turn_id, 0, [Message(Role.USER, "hi")], TurnLog(turn_id))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[NotingStore]:
    noting = NotingStore(tmp_path / "mochi.db")
    await noting.open()
    yield noting
    await noting.close()


@pytest.fixture
async def journal(store: NotingStore) -> AsyncIterator[TurnJournal]:
    writer = TurnJournal(store, interval_seconds=0.05)
    writer.start()
    yield writer
    await writer.close()


async def _begun(store: NotingStore, journal: TurnJournal, n: int) -> TurnProgress:
    progress = await _progress(store, n)
    await journal.begin(progress)
    return progress


def _output(journal: TurnJournal, progress: TurnProgress, text: str) -> None:
    """New output, its checkpoint due (the last one long ago)."""
    progress.log.append(ContentDelta(text))
    progress.stored_at = time.monotonic() - 1.0
    journal.changed(progress)


async def test_due_checkpoints_go_in_batches_and_a_start_goes_before_the_rest(
    store: NotingStore, journal: TurnJournal
) -> None:
    running = [await _begun(store, journal, n) for n in range(DUE)]
    late = await _progress(store, DUE)
    await asyncio.sleep(0.02)  # past the writer's tick: due checkpoints are looked for
    store.batches.clear()
    for progress in running:
        _output(journal, progress, "so far")
    await journal.begin(late)  # asked for with all the checkpoints due
    for _ in range(500):  # only stops a broken test from hanging
        if all(p.stored_position for p in running):
            break
        await asyncio.sleep(0.01)

    checkpointed = [turn for batch in store.batches for turn, begin in batch if not begin]
    assert sorted(checkpointed) == sorted(p.turn_id for p in running)
    assert max(len(batch) for batch in store.batches) == CHECKPOINT_BATCH
    started = next(i for i, batch in enumerate(store.batches) if (late.turn_id, True) in batch)
    assert store.batches[started] == [(late.turn_id, True)]
    assert started < len(store.batches) - 1  # checkpoints were still waiting
    assert all(p.stored_position for p in running)  # each knows its output is stored


async def test_a_turn_that_ends_while_another_is_stored_is_stored_once_as_ended(
    store: NotingStore, journal: TurnJournal
) -> None:
    running = await _begun(store, journal, 0)
    late = await _progress(store, 1)
    await asyncio.sleep(0.02)  # past the writer's tick: due checkpoints are looked for
    _output(journal, running, "all of it")
    ending: asyncio.Task[None] | None = None
    writing = store.write_turns

    async def ending_meanwhile(writes: Sequence[TurnWrite]) -> None:
        # The running turn ends while the late one's start is stored, its
        # checkpoint due then too.
        nonlocal ending
        if ending is None:
            ending = asyncio.create_task(
                journal.finish(running, Ending(COMPLETED, None, [TurnDone("s")]))
            )
            await asyncio.sleep(0)
        await writing(writes)

    store.write_turns = ending_meanwhile  # type: ignore[method-assign]
    await journal.begin(late)
    assert ending is not None
    await asyncio.wait_for(ending, 5.0)

    written = [turn for batch in store.batches for turn, begin in batch if not begin]
    assert written == [running.turn_id]
