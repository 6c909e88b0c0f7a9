"""The SQLite store on a real file."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mochi_grpc.entities import Message, Role, Session, ToolCall
from mochi_grpc.errors import InvalidRequest, SessionNotFound
from mochi_grpc.store import SqliteStore
from mochi_grpc.store.sqlite import MIGRATIONS


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "data" / "mochi.db")
    await store.open()
    yield store
    await store.close()


def _messages(n: int) -> list[Message]:
    return [Message(Role.USER if i % 2 == 0 else Role.ASSISTANT, f"m{i}") for i in range(n)]


async def test_open_creates_the_file_and_migrates_to_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "mochi.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()

    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == len(MIGRATIONS)

    reopened = SqliteStore(path)
    await reopened.open()  # a migrated file opens without migrating again
    await reopened.close()


async def test_messages_round_trip_with_every_field(store: SqliteStore) -> None:
    session = Session(model="m")
    reply = Message(
        Role.ASSISTANT,
        "hi",
        thinking="hmm",
        model="m",
        eval_count=3,
        prompt_eval_count=4,
        tool_calls=[ToolCall("add", {"a": 1, "b": [2, 3]})],
        partial_reason="cancelled",
    )
    await store.create_session(session, [Message(Role.SYSTEM, "sys", source_file="s.md"), reply])

    page = await store.list_messages(session.session_id)

    assert page.messages[1] == reply
    assert page.messages[0].source_file == "s.md"
    assert (await store.get_session(session.session_id)).message_count == 2


async def test_replace_tail_appends_without_rewriting_earlier_messages(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(50))
    before = await store._run(lambda conn: conn.total_changes)

    await store.replace_tail(session, 50, _messages(2))

    changed = await store._run(lambda conn: conn.total_changes) - before
    assert changed == 3  # two inserted messages and the session row
    assert (await store.get_session(session.session_id)).message_count == 52


async def test_replace_tail_drops_the_messages_after_keep(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(5))
    replacement = Message(Role.USER, "new")

    await store.replace_tail(session, 2, [replacement])

    page = await store.list_messages(session.session_id)
    assert [m.content for m in page.messages] == ["m0", "m1", "new"]
    assert (await store.get_session(session.session_id)).message_count == 3


async def test_a_write_failing_half_way_changes_nothing(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(3))
    unstorable = Message(Role.ASSISTANT, "bad", tool_calls=[ToolCall("f", {"x": object()})])

    with pytest.raises(TypeError):
        await store.replace_tail(session, 1, [Message(Role.USER, "ok"), unstorable])

    page = await store.list_messages(session.session_id)
    assert [m.content for m in page.messages] == ["m0", "m1", "m2"]
    assert (await store.get_session(session.session_id)).message_count == 3


async def test_replace_tail_on_a_deleted_session_writes_nothing(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(1))
    await store.delete_session(session.session_id)

    with pytest.raises(SessionNotFound):
        await store.replace_tail(session, 1, _messages(1))

    rows = await store._run(
        lambda conn: conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    )
    assert rows == 0


async def test_list_sessions_rejects_a_forged_token(store: SqliteStore) -> None:
    with pytest.raises(InvalidRequest):
        await store.list_sessions(10, "WzFd")  # base64 of [1]


async def test_a_token_nested_past_the_parsers_stack_is_refused_as_invalid(
    store: SqliteStore,
) -> None:
    # Found by the gRPC fuzzing: the parser's RecursionError came out as INTERNAL.
    session = Session(model="m")
    await store.create_session(session, _messages(1))
    nested = base64.urlsafe_b64encode(b"[" * 100_000).decode()

    with pytest.raises(InvalidRequest):
        await store.list_sessions(10, nested)
    with pytest.raises(InvalidRequest):
        await store.list_messages(session.session_id, 10, nested)


async def test_list_messages_pages(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(5))

    first = await store.list_messages(session.session_id, 2)
    second = await store.list_messages(session.session_id, 2, first.next_page_token)
    last = await store.list_messages(session.session_id, 2, second.next_page_token)

    contents = [m.content for p in (first, second, last) for m in p.messages]
    assert contents == [f"m{i}" for i in range(5)]
    assert last.next_page_token == ""


async def test_get_conversation_reads_session_and_messages_together(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(3))

    got, messages = await store.get_conversation(session.session_id)

    assert got.message_count == 3
    assert [m.content for m in messages] == ["m0", "m1", "m2"]
    with pytest.raises(SessionNotFound):
        await store.get_conversation("nothere123")


async def test_splice_inserts_at_the_head_and_moves_the_rest(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(3))

    await store.splice(session, 0, 0, [Message(Role.SYSTEM, "sys")])

    page = await store.list_messages(session.session_id)
    assert [m.content for m in page.messages] == ["sys", "m0", "m1", "m2"]
    assert (await store.get_session(session.session_id)).message_count == 4


async def test_splice_replaces_and_removes_at_the_head(store: SqliteStore) -> None:
    session = Session(model="m")
    await store.create_session(session, [Message(Role.SYSTEM, "old"), *_messages(2)])

    await store.splice(session, 0, 1, [Message(Role.SYSTEM, "new")])
    replaced = [m.content for m in (await store.list_messages(session.session_id)).messages]
    await store.splice(session, 0, 1, [])
    removed = [m.content for m in (await store.list_messages(session.session_id)).messages]

    assert replaced == ["new", "m0", "m1"]
    assert removed == ["m0", "m1"]
    assert (await store.get_session(session.session_id)).message_count == 2
