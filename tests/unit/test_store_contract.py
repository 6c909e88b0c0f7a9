"""The store contract (SessionStore + KeyStore), run against every store:
SQLite on a real file and PostgreSQL on a real server. A few tests at the end
check what only one of them has (its file, its migrations)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from mochi_grpc.entities import ApiKey, Message, Role, Session, Summary, ToolCall, utc_now
from mochi_grpc.errors import InvalidRequest, KeyExists, SessionNotFound
from mochi_grpc.store import (
    IN_PROGRESS,
    INTERRUPTED,
    RUNNING,
    EventRecord,
    PostgresStore,
    SqliteStore,
    TurnWrite,
    postgres_schema,
    sqlite,
)
from mochi_grpc.store.paging import encode_token
from mochi_grpc.store.rows import session_columns
from mochi_grpc.store.session_queries import list_query
from mochi_grpc.store.sqlite import KEPT_TURNS, MIGRATIONS
from tests.store_backends import Store, insert_row, query_plan, reopened, rows_written


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def _messages(n: int) -> list[Message]:
    return [Message(Role.USER if i % 2 == 0 else Role.ASSISTANT, f"m{i}") for i in range(n)]


def _events(*positions: int, kind: str = "content") -> list[EventRecord]:
    return [EventRecord(p, kind, json.dumps({"at": p})) for p in positions]


async def _begin_turn(store: Store, session: Session, turn_id: str, keep: int) -> None:
    session.active_turn_id = turn_id
    reply = Message(Role.ASSISTANT, "so far", partial_reason=IN_PROGRESS)
    await store.write_turns(
        [TurnWrite(session, turn_id, RUNNING, keep, [reply], _events(1, 2), begin=True)]
    )


# --- sessions and messages ------------------------------------------------------------------------


async def test_messages_round_trip_with_every_field(store: Store) -> None:
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


async def test_a_session_round_trips_with_its_preview(store: Store) -> None:
    session = Session(model="m", summary_model="s", owner="alice")
    await store.create_session(
        session, [Message(Role.SYSTEM, "sys"), Message(Role.USER, "q" * 150)]
    )

    got = await store.get_session(session.session_id)

    assert got.session_id == session.session_id
    assert got.created_at == session.created_at
    assert got.updated_at == session.updated_at
    assert (got.owner, got.summary_model, got.context_window) == (
        "alice",
        "s",
        session.context_window,
    )
    assert got.preview.startswith("q")


async def test_replace_tail_appends_without_rewriting_earlier_messages(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(50))

    written = await rows_written(
        store, session.session_id, lambda: store.replace_tail(session, 50, _messages(2))
    )

    assert written == 3  # two inserted messages and the session row
    assert (await store.get_session(session.session_id)).message_count == 52


async def test_replace_tail_drops_the_messages_after_keep(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(5))
    replacement = Message(Role.USER, "new")

    await store.replace_tail(session, 2, [replacement])

    page = await store.list_messages(session.session_id)
    assert [m.content for m in page.messages] == ["m0", "m1", "new"]
    assert (await store.get_session(session.session_id)).message_count == 3


async def test_a_write_failing_half_way_changes_nothing(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(3))
    unstorable = Message(Role.ASSISTANT, "bad", tool_calls=[ToolCall("f", {"x": object()})])

    with pytest.raises(TypeError):
        await store.replace_tail(session, 1, [Message(Role.USER, "ok"), unstorable])

    page = await store.list_messages(session.session_id)
    assert [m.content for m in page.messages] == ["m0", "m1", "m2"]
    assert (await store.get_session(session.session_id)).message_count == 3


async def test_replace_tail_on_a_deleted_session_writes_nothing(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(1))
    await store.delete_session(session.session_id)

    with pytest.raises(SessionNotFound):
        await store.replace_tail(session, 1, _messages(1))

    assert await store.get_message(session.session_id, 1) is None
    with pytest.raises(SessionNotFound):
        await store.delete_session(session.session_id)


async def test_list_sessions_pages_most_recently_updated_first(store: Store) -> None:
    sessions = [Session(model="m", owner="alice" if i % 2 else "bob") for i in range(5)]
    for session in sessions:
        await store.create_session(session, [])

    first = await store.list_sessions(2, "")
    second = await store.list_sessions(2, first.next_page_token)
    last = await store.list_sessions(2, second.next_page_token)
    alices = await store.list_sessions(0, "", owner="alice")

    listed = [s.session_id for p in (first, second, last) for s in p.sessions]
    assert listed == [s.session_id for s in reversed(sessions)]
    assert last.next_page_token == ""
    assert [s.session_id for s in alices.sessions] == [
        sessions[3].session_id,
        sessions[1].session_id,
    ]
    # The token's format is part of the contract: a replica of either kind reads it.
    updated_at, session_id = json.loads(base64.urlsafe_b64decode(first.next_page_token))
    assert session_id == sessions[3].session_id
    assert updated_at.endswith("Z")


async def test_list_sessions_rejects_a_forged_token(store: Store) -> None:
    with pytest.raises(InvalidRequest):
        await store.list_sessions(10, "WzFd")  # base64 of [1]


async def test_a_token_nested_past_the_parsers_stack_is_refused_as_invalid(store: Store) -> None:
    # Found by the gRPC fuzzing: the parser's RecursionError came out as INTERNAL.
    session = Session(model="m")
    await store.create_session(session, _messages(1))
    nested = base64.urlsafe_b64encode(b"[" * 100_000).decode()

    with pytest.raises(InvalidRequest):
        await store.list_sessions(10, nested)
    with pytest.raises(InvalidRequest):
        await store.list_messages(session.session_id, 10, nested)


async def test_list_messages_pages(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(5))

    first = await store.list_messages(session.session_id, 2)
    second = await store.list_messages(session.session_id, 2, first.next_page_token)
    last = await store.list_messages(session.session_id, 2, second.next_page_token)

    contents = [m.content for p in (first, second, last) for m in p.messages]
    assert contents == [f"m{i}" for i in range(5)]
    assert last.next_page_token == ""


async def test_get_conversation_reads_session_and_messages_together(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(3))

    got, messages = await store.get_conversation(session.session_id)

    assert got.message_count == 3
    assert [m.content for m in messages] == ["m0", "m1", "m2"]
    with pytest.raises(SessionNotFound):
        await store.get_conversation("nothere123")


async def test_splice_inserts_at_the_head_and_moves_the_rest(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(3))

    await store.splice(session, 0, 0, [Message(Role.SYSTEM, "sys")])

    page = await store.list_messages(session.session_id)
    assert [m.content for m in page.messages] == ["sys", "m0", "m1", "m2"]
    assert (await store.get_session(session.session_id)).message_count == 4


async def test_splice_replaces_and_removes_at_the_head(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, [Message(Role.SYSTEM, "old"), *_messages(2)])

    await store.splice(session, 0, 1, [Message(Role.SYSTEM, "new")])
    replaced = [m.content for m in (await store.list_messages(session.session_id)).messages]
    await store.splice(session, 0, 1, [])
    removed = [m.content for m in (await store.list_messages(session.session_id)).messages]

    assert replaced == ["new", "m0", "m1"]
    assert removed == ["m0", "m1"]
    assert (await store.get_session(session.session_id)).message_count == 2


# --- agents' sessions and summaries ---------------------------------------------------------------


async def _listed(
    store: Store, page_size: int, owner: str | None = None, agents: bool = False
) -> list[str]:
    """The ids of every page of a list, in order."""
    ids: list[str] = []
    token = ""
    while True:
        page = await store.list_sessions(page_size, token, owner, agents)
        assert len(page.sessions) <= page_size
        ids += [s.session_id for s in page.sessions]
        token = page.next_page_token
        if not token:
            return ids


async def test_an_agent_session_round_trips_its_agent_name(store: Store) -> None:
    agents = Session(model="m", agent_name="counter", summary=Summary("counted", ["words"]))
    users = Session(model="m")
    await store.create_session(agents, _messages(2))
    await store.create_session(users, [])

    got, _ = await store.get_conversation(agents.session_id)

    assert (got.agent_name, got.summary) == ("counter", Summary("counted", ["words"]))
    assert (await store.get_session(users.session_id)).agent_name is None


async def test_users_and_agents_sessions_are_listed_apart_page_by_page(store: Store) -> None:
    sessions = [Session(model="m", agent_name=None if i % 3 else f"agent{i}") for i in range(9)]
    for session in sessions:
        await store.create_session(session, [])
    newest_first = list(reversed(sessions))

    users = await _listed(store, 2)
    agents = await _listed(store, 2, agents=True)

    assert users == [s.session_id for s in newest_first if s.agent_name is None]
    assert agents == [s.session_id for s in newest_first if s.agent_name is not None]
    page = await store.list_sessions(10, "", agents=True)
    assert [s.agent_name for s in page.sessions] == ["agent6", "agent3", "agent0"]


async def test_an_owners_agent_sessions_are_listed_without_the_others(store: Store) -> None:
    sessions = [
        Session(model="m", owner=owner, agent_name=agent)
        for owner in ("alice", "bob")
        for agent in (None, "counter", "writer")
    ]
    for session in sessions:
        await store.create_session(session, [])

    alices_agents = await _listed(store, 1, owner="alice", agents=True)
    alices = await _listed(store, 1, owner="alice")

    assert alices_agents == [sessions[2].session_id, sessions[1].session_id]
    assert alices == [sessions[0].session_id]


async def test_a_summary_is_stored_alone_and_read_back(store: Store) -> None:
    session = Session(model="m", summary_model="older")
    await store.create_session(session, _messages(2))
    summary = Summary("They talked.", ["talk", "more"])

    await store.set_summary(session.session_id, summary, "qwen3:14b")

    got = await store.get_session(session.session_id)
    assert (got.summary, got.summary_model) == (summary, "qwen3:14b")
    assert got == replace(session, summary=summary, summary_model="qwen3:14b", preview="m0")
    listed = (await store.list_sessions(10, "")).sessions
    assert [(s.summary, s.summary_model) for s in listed] == [(summary, "qwen3:14b")]


async def test_a_summary_for_a_session_that_is_not_stored_is_refused(store: Store) -> None:
    with pytest.raises(SessionNotFound):
        await store.set_summary("nothere123", Summary("s"), "m")

    assert (await store.list_sessions(10, "")).sessions == []


def _later_writes(store: Store) -> dict[str, Callable[[Session], Awaitable[None]]]:
    """Each write of a session's metadata, by name."""
    return {
        "update_session": store.update_session,
        "replace_tail": lambda s: store.replace_tail(s, 1, _messages(1)),
        "splice": lambda s: store.splice(s, 0, 0, [Message(Role.SYSTEM, "sys")]),
        "write_turns": lambda s: store.write_turns(
            [TurnWrite(s, "turn1", RUNNING, 1, _messages(1), _events(1), begin=True)]
        ),
    }


@pytest.mark.parametrize("write", ["update_session", "replace_tail", "splice", "write_turns"])
async def test_a_summary_outlives_a_write_of_a_session_read_before_it(
    store: Store, write: str
) -> None:
    session = Session(model="m", agent_name="counter")
    await store.create_session(session, _messages(2))
    # A turn holds the session as read before the summary was written.
    read_before = await store.get_session(session.session_id)
    await store.set_summary(session.session_id, Summary("s", ["t"]), "summarizer")
    read_before.context_window.current_window = 4096
    read_before.updated_at = utc_now()
    read_before.agent_name = None

    await _later_writes(store)[write](read_before)

    got = await store.get_session(session.session_id)
    assert (got.summary, got.summary_model) == (Summary("s", ["t"]), "summarizer")
    assert (got.context_window.current_window, got.updated_at) == (4096, read_before.updated_at)
    assert got.agent_name == "counter"


@pytest.mark.parametrize("agents", [False, True])
@pytest.mark.parametrize("owner", [None, "alice"])
@pytest.mark.parametrize("page_token", ["", encode_token(["2025-01-01T00:00:00.000000Z", "a"])])
async def test_each_list_of_sessions_is_read_from_an_index_in_its_order(
    store: Store, agents: bool, owner: str | None, page_token: str
) -> None:
    mark = "?" if isinstance(store, SqliteStore) else "%s"
    query, params = list_query(page_token, owner, agents, 10, mark)

    plan = query_plan(store, query, params)

    index = f"sessions_of_{'agents' if agents else 'users'}{'_by_owner' if owner else ''}"
    assert re.search(rf"\b{index}\b", plan), plan
    assert "TEMP B-TREE" not in plan  # SQLite sorting the rows itself
    assert "Sort" not in plan  # PostgreSQL sorting them


async def test_sessions_stored_before_agents_existed_are_users_sessions(
    unopened_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = sqlite if isinstance(unopened_store, SqliteStore) else postgres_schema
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:-1])
    await unopened_store.open()  # the previous version's database
    await unopened_store.close()
    old = Session(model="m", owner="alice", summary=Summary("s", ["t"]), summary_model="sm")
    columns = session_columns(old)
    del columns["agent_name"]
    insert_row(unopened_store, "sessions", columns)
    monkeypatch.undo()

    store = reopened(unopened_store)
    await store.open()
    try:
        got = await store.get_session(old.session_id)
        assert got == old
        assert await _listed(store, 10) == [old.session_id]
        assert await _listed(store, 10, owner="alice") == [old.session_id]
        assert await _listed(store, 10, agents=True) == []
        agents = Session(model="m", agent_name="counter")
        await store.create_session(agents, [])
        assert await _listed(store, 10, agents=True) == [agents.session_id]
    finally:
        await store.close()


# --- turns ----------------------------------------------------------------------------------------


async def test_a_turn_is_read_back_with_its_events_in_order(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(1))
    await _begin_turn(store, session, "turn1", 1)

    session.active_turn_id = None
    final = Message(Role.ASSISTANT, "done")
    await store.write_turns(
        [TurnWrite(session, "turn1", "completed", 1, [final], _events(3, kind="end"))]
    )

    turn = await store.get_turn(session.session_id, None)
    assert turn is not None
    assert (turn.turn_id, turn.status) == ("turn1", "completed")
    assert [(e.position, e.kind) for e in turn.events] == [
        (1, "content"),
        (2, "content"),
        (3, "end"),
    ]
    assert await store.get_turn(session.session_id, "turn1") == turn
    got, messages = await store.get_conversation(session.session_id)
    assert (got.message_count, got.active_turn_id) == (2, None)
    assert messages[-1] == final


async def test_a_running_write_may_touch_only_count_and_time(store: Store) -> None:
    session = Session(model="m", summary_model="before")
    await store.create_session(session, _messages(1))
    await _begin_turn(store, session, "turn1", 1)

    session.summary_model = "not written"
    session.updated_at = utc_now()
    await store.write_turns(
        [
            TurnWrite(
                session,
                "turn1",
                RUNNING,
                1,
                [Message(Role.ASSISTANT, "more", partial_reason=IN_PROGRESS)],
                _events(3),
                whole_session=False,
            )
        ]
    )

    got = await store.get_session(session.session_id)
    assert (got.summary_model, got.updated_at, got.active_turn_id) == (
        "before",
        session.updated_at,
        "turn1",
    )
    assert [m.content for m in (await store.list_messages(session.session_id)).messages] == [
        "m0",
        "more",
    ]


async def test_get_turn_without_turns_or_session(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, [])

    assert await store.get_turn(session.session_id, None) is None
    assert await store.get_turn(session.session_id, "nosuchturn") is None
    with pytest.raises(SessionNotFound):
        await store.get_turn("nothere123", None)


async def test_only_the_latest_turns_of_a_session_are_kept(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(1))

    for n in range(KEPT_TURNS + 1):
        await _begin_turn(store, session, f"turn{n}", 1)

    assert await store.get_turn(session.session_id, "turn0") is None
    for n in range(1, KEPT_TURNS + 1):
        assert await store.get_turn(session.session_id, f"turn{n}") is not None
    latest = await store.get_turn(session.session_id, None)
    assert latest is not None and latest.turn_id == f"turn{KEPT_TURNS}"


async def test_a_batch_of_turn_writes_is_stored_all_or_nothing(store: Store) -> None:
    session = Session(model="m")
    await store.create_session(session, _messages(1))
    gone = Session(model="m")  # never stored

    with pytest.raises(SessionNotFound):
        await store.write_turns(
            [
                TurnWrite(session, "turn1", RUNNING, 1, _messages(1), _events(1), begin=True),
                TurnWrite(gone, "turn2", RUNNING, 0, _messages(1), _events(1), begin=True),
            ]
        )

    assert await store.get_turn(session.session_id, None) is None
    assert (await store.get_session(session.session_id)).message_count == 1


async def test_turns_left_running_by_a_store_that_stopped_are_interrupted_by_the_next(
    store: Store,
) -> None:
    running, finished = Session(model="m"), Session(model="m")
    for session in (running, finished):
        await store.create_session(session, _messages(1))
        await _begin_turn(store, session, f"turn-{session.session_id}", 1)
    finished.active_turn_id = None
    await store.write_turns(
        [TurnWrite(finished, f"turn-{finished.session_id}", "completed", 1, None, _events(3))]
    )
    await store.close()  # a process that stopped with a turn still stored as running
    store = reopened(store)
    await store.open()
    try:
        ended = await store.interrupt_running_turns("error", '{"code":"INTERRUPTED"}')

        assert ended == [f"turn-{running.session_id}"]
        turn = await store.get_turn(running.session_id, None)
        assert turn is not None and turn.status == INTERRUPTED
        assert turn.events[-1] == EventRecord(3, "error", '{"code":"INTERRUPTED"}')
        reply = await store.get_message(running.session_id, 1)
        assert reply is not None and reply.partial_reason == INTERRUPTED
        assert (await store.get_session(running.session_id)).active_turn_id is None
        done = await store.get_turn(finished.session_id, None)
        assert done is not None and done.status == "completed" and len(done.events) == 3
        assert await store.interrupt_running_turns("error", "{}") == []
    finally:
        await store.close()


# --- keys -----------------------------------------------------------------------------------------


async def test_keys_are_added_found_used_and_removed(store: Store) -> None:
    bob, alice = ApiKey("bob", "hash-b"), ApiKey("alice", "hash-a", admin=True)
    await store.add_key(bob)
    await store.add_key(alice)
    when = utc_now()

    await store.key_used("bob", when)

    assert [k.name for k in await store.list_keys()] == ["alice", "bob"]
    assert await store.find_key("hash-a") == alice
    found = await store.find_key("hash-b")
    assert found is not None and found.last_used_at == when
    assert await store.find_key("hash-x") is None
    assert await store.remove_key("bob") is True
    assert await store.remove_key("bob") is False
    assert [k.name for k in await store.list_keys()] == ["alice"]


async def test_a_key_name_or_token_is_never_stored_twice(store: Store) -> None:
    await store.add_key(ApiKey("alice", "hash-a"))

    with pytest.raises(KeyExists):
        await store.add_key(ApiKey("alice", "hash-other"))
    with pytest.raises(KeyExists):
        await store.add_key(ApiKey("other", "hash-a"))
    assert [k.name for k in await store.list_keys()] == ["alice"]


# --- what only one store has ----------------------------------------------------------------------


async def test_sqlite_open_creates_the_file_and_migrates_to_the_latest_version(
    tmp_path: Path,
) -> None:
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


async def test_postgres_replicas_opening_together_migrate_once(postgres_url: str) -> None:
    replicas = [PostgresStore(postgres_url, min_size=1, max_size=1) for _ in range(4)]

    await asyncio.gather(*(r.open() for r in replicas))
    await asyncio.gather(*(r.close() for r in replicas))

    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
    assert rows == [(len(postgres_schema.MIGRATIONS),)]
    reopened = PostgresStore(postgres_url)
    await reopened.open()  # a migrated database opens without migrating again
    await reopened.close()
