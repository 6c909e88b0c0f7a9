"""mochi-server session files: reading, writing, and import/export runs on a real store.

The files under tests/fixtures were written by hand in mochi-server's format
(SPEC B §3): mochi_server_sessions/ holds what a user brings (the quirks of
older formats and bad files included); mochi_server_exported/ holds what the
export must write for the files it cannot reproduce byte for byte, so the
difference between the two is exactly the documented normalisations.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mochi_grpc.entities import (
    ContextWindowConfig,
    ExecutionPolicy,
    Message,
    Role,
    Session,
    Summary,
    ToolCall,
    ToolSettings,
    WindowAdjustment,
    WindowReason,
)
from mochi_grpc.errors import SessionNotFound
from mochi_grpc.migration import (
    FileResult,
    SessionFileError,
    export_sessions,
    import_sessions,
    read_session_file,
    write_session_file,
)
from mochi_grpc.store import SqliteStore

FIXTURES = Path(__file__).parent.parent / "fixtures"
SESSIONS = FIXTURES / "mochi_server_sessions"
EXPORTED = FIXTURES / "mochi_server_exported"
GOOD_IDS = ["a1b2c3d4e5", "b13b13b13b", "c10c10c10c"]
BAD_FILES = {
    "Session-7.json": (
        "the file name 'Session-7' is not a session id (10 lower-case hex characters)"
    ),
    "bad0000001.json": "not valid JSON: Expecting property name enclosed in double quotes",
    "bad0000002.json": "messages[1]: unknown role 'robot'",
    "bad0000003.json": "messages[0].mood: unknown key",
    "bad0000004.json": "messages[0].message_id: 'MSG-1' is not 10 lower-case hex characters",
    "bad0000005.json": "messages[1].timestamp: 'yesterday' is not an ISO 8601 time",
    "bad0000006.json": "metadata.pinned: unknown key",
}
ASSISTANT_KEYS = [
    "role",
    "content",
    "model",
    "message_id",
    "timestamp",
    "eval_count",
    "prompt_eval_count",
    "thinking",
    "tool_calls",
]


def _read(session_id: str) -> tuple[Session, list[Message]]:
    return read_session_file((SESSIONS / f"{session_id}.json").read_bytes(), session_id)


def _file(metadata: dict[str, Any] | None = None, messages: list[Any] | None = None) -> bytes:
    """A small 1.4 session file, with keys of the metadata replaced or added."""
    body = {
        "metadata": {
            "session_id": "f00f00f00f",
            "model": "m",
            "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": "2026-01-01T00:00:00.000000Z",
            "message_count": 0,
            "format_version": "1.4",
            **(metadata or {}),
        },
        "messages": messages or [],
    }
    return json.dumps(body).encode()


def _user(**keys: Any) -> dict[str, Any]:
    return {
        "role": "user",
        "content": "hi",
        "message_id": "0123456789",
        "timestamp": "2026-01-01T00:00:00.000000Z",
        **keys,
    }


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "data" / "mochi.db")
    await store.open()
    yield store
    await store.close()


async def _import(store: SqliteStore, directory: Path) -> list[str]:
    return [r.line() async for r in import_sessions(store, directory)]


async def _export(store: SqliteStore, directory: Path, *, overwrite: bool = False) -> list[str]:
    return [r.line() async for r in export_sessions(store, directory, overwrite=overwrite)]


async def _everything(store: SqliteStore) -> dict[str, tuple[Session, list[Message]]]:
    page = await store.list_sessions(1000, "")
    return {s.session_id: await store.get_conversation(s.session_id) for s in page.sessions}


# --- the fixtures are what mochi-server writes ------------------------------------------------


@pytest.mark.parametrize(
    "path", [SESSIONS / "a1b2c3d4e5.json", *sorted(EXPORTED.glob("*.json"))], ids=lambda p: p.name
)
def test_the_byte_exact_fixtures_are_laid_out_as_mochi_server_writes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")

    # json.dump(data, f, indent=2, ensure_ascii=False): no final newline.
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False), (
        f"{path.name} is not byte-exact (an editor may have added a final newline)"
    )


# --- reading one file ---------------------------------------------------------------------------


def test_a_1_4_file_keeps_every_field() -> None:
    session, messages = _read("a1b2c3d4e5")

    assert session.session_id == "a1b2c3d4e5"
    assert session.model == "qwen3:14b"
    assert session.created_at == _at("2026-02-15T09:49:38.310281+00:00")
    assert session.updated_at == _at("2026-02-15T09:50:01+00:00")
    assert session.message_count == 6
    assert session.summary == Summary(
        "The user asked for the weather in Zürich; the assistant looked it up.",
        ["weather", "Zürich"],
    )
    assert session.summary_model == "qwen3:14b"
    assert session.tool_settings == ToolSettings(
        ["get_weather", "add_numbers"],
        ExecutionPolicy.ALWAYS_CONFIRM,
        {"get_weather": ExecutionPolicy.NEVER_CONFIRM},
    )
    assert session.agent_settings.enabled_agents == ["researcher"]
    assert session.context_window == ContextWindowConfig(
        dynamic_enabled=True,
        current_window=20000,
        last_adjustment=WindowReason.USAGE_THRESHOLD,
        adjustment_history=[
            WindowAdjustment(WindowReason.NO_ADJUSTMENT, 8192, 60),
            WindowAdjustment(WindowReason.USAGE_THRESHOLD, 20000, 10000),
        ],
        manual_override=False,
        model_max_context=None,
    )
    system, user, call, result, answer, _ = messages
    assert (system.role, system.source_file, system.message_id) == (
        Role.SYSTEM,
        "helpful.md",
        "0a1b2c3d4e",
    )
    assert user.content == "Wie ist das Wetter in Zürich? 🌦"
    assert call.thinking == "The user wants the weather; I should call get_weather."
    assert call.tool_calls == [
        ToolCall("get_weather", {"city": "Zürich", "days": 2, "units": {"temperature": "celsius"}})
    ]
    assert (call.model, call.eval_count, call.prompt_eval_count) == ("qwen3:14b", 21, 180)
    assert (result.role, result.tool_name) == (Role.TOOL, "get_weather")
    assert answer.content == "Heute Regen, morgen Sonne.\n\n- heute: 🌧\n- morgen: ☀"
    assert (answer.thinking, answer.tool_calls) == (None, [])
    assert answer.timestamp == _at("2026-02-15T09:49:52.999999+00:00")


def test_a_1_3_file_drops_tool_group_and_gets_empty_tool_policies() -> None:
    session, messages = _read("b13b13b13b")

    assert session.tool_settings == ToolSettings(["add_numbers"], ExecutionPolicy.NEVER_CONFIRM, {})
    assert messages[2].thinking is None  # 1.3 replies had no thinking key
    assert [m.role for m in messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT]


def test_a_file_missing_sections_gets_the_defaults() -> None:
    session, messages = _read("c10c10c10c")

    assert session.tool_settings == ToolSettings()
    assert session.agent_settings.enabled_agents == []
    assert session.context_window == ContextWindowConfig()
    assert (session.summary, session.summary_model) == (None, None)
    # The file says 7; what counts is what is there.
    assert session.message_count == len(messages) == 2
    # A time without an offset (the layout of mochi-server's spec examples) is UTC.
    assert session.created_at == _at("2025-01-15T10:30:00+00:00")
    assert messages[0].timestamp == _at("2025-01-15T10:30:00+00:00")


def test_the_session_id_is_the_file_name_stem() -> None:
    session, _ = read_session_file(_file({"session_id": "ffffffffff"}), "abcdef0123")

    assert session.session_id == "abcdef0123"


def test_an_empty_summary_object_means_no_summary() -> None:
    session, _ = read_session_file(_file({"summary": {}}), "abcdef0123")

    assert session.summary is None


@pytest.mark.parametrize(("name", "reason"), sorted(BAD_FILES.items()))
def test_a_bad_fixture_is_refused_with_its_reason(name: str, reason: str) -> None:
    path = SESSIONS / name

    with pytest.raises(SessionFileError) as refused:
        read_session_file(path.read_bytes(), path.stem)

    assert str(refused.value).startswith(reason)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[]", "the file: Input should be a valid dictionary"),
        (b"\xff\xfe{", "not valid JSON"),
        (_file({"format_version": "2.0"}), "metadata.format_version: '2.0' is not one of 1.0,"),
        (_file({"model": None}), "metadata.model: Input should be a valid string"),
        (_file({"created_at": 5}), "metadata.created_at: an ISO 8601 time string is required"),
        (
            _file({"tool_settings": {"execution_policy": "sometimes"}}),
            "metadata.tool_settings.execution_policy: Input should be 'always_confirm' or",
        ),
        (
            _file({"context_window_config": {"adjustment_history": [{"reason": "no_adjustment"}]}}),
            "metadata.context_window_config.adjustment_history[0].window: missing",
        ),
        (_file(messages=[_user(content=3)]), "messages[0].content: Input should be a valid string"),
        (_file(messages=[{"content": "who?"}]), "messages[0]: no role"),
        (_file(messages=[_user(timestamp=None)]), "messages[0].timestamp: an ISO 8601 time"),
        (
            _file(
                messages=[{**_user(role="assistant"), "tool_calls": [{"function": {"name": "f"}}]}]
            ),
            "messages[0].tool_calls[0].function.arguments: missing",
        ),
        (
            _file(messages=[{**_user(role="assistant"), "eval_count": "12"}]),
            "messages[0].eval_count: Input should be a valid integer",
        ),
    ],
)
def test_a_bad_file_is_refused_with_its_reason(content: bytes, reason: str) -> None:
    with pytest.raises(SessionFileError) as refused:
        read_session_file(content, "abcdef0123")

    assert str(refused.value).startswith(reason)


def test_many_problems_are_summed_up_on_one_line() -> None:
    messages = [_user(message_id=f"bad-{i}") for i in range(5)]

    with pytest.raises(SessionFileError) as refused:
        read_session_file(_file(messages=messages), "abcdef0123")

    assert str(refused.value).count("; ") == 2
    assert str(refused.value).endswith("(and 2 more)")


# --- writing one file ----------------------------------------------------------------------------


def test_writing_leaves_out_what_mochi_server_does_not_know() -> None:
    session = Session(
        model="m",
        context_window=ContextWindowConfig(current_window=3686, model_max_context=4096),
    )
    reply = Message(Role.ASSISTANT, "Cut sh", model="m", partial_reason="cancelled")

    written = json.loads(write_session_file(session, [Message(Role.USER, "Q"), reply]))

    assert "model_max_context" not in written["metadata"]["context_window_config"]
    assert written["metadata"]["context_window_config"]["current_window"] == 3686
    assert list(written["messages"][1]) == ASSISTANT_KEYS
    assert written["messages"][1]["content"] == "Cut sh"
    assert written["metadata"]["message_count"] == 2


# --- import and export runs on a real store ------------------------------------------------------


async def test_import_reports_one_line_per_json_file_in_name_order(store: SqliteStore) -> None:
    lines = await _import(store, SESSIONS)

    names = sorted([*BAD_FILES, *(f"{i}.json" for i in GOOD_IDS)])  # notes.txt is not read
    assert [line.split(": ")[0] for line in lines] == names
    assert "a1b2c3d4e5.json: imported: 6 messages" in lines
    assert "b13b13b13b.json: imported: 3 messages" in lines
    assert "c10c10c10c.json: imported: 2 messages" in lines
    assert sorted(await _everything(store)) == GOOD_IDS


async def test_a_rejected_file_leaves_nothing_behind(store: SqliteStore, tmp_path: Path) -> None:
    lines = await _import(store, SESSIONS)

    for name, reason in BAD_FILES.items():
        assert any(line.startswith(f"{name}: rejected: {reason}") for line in lines), name
    with sqlite3.connect(tmp_path / "data" / "mochi.db") as conn:
        stored = {r[0] for r in conn.execute("SELECT DISTINCT session_id FROM messages")}
    assert stored == set(GOOD_IDS)  # not even the valid first message of bad0000002
    with pytest.raises(SessionNotFound):
        await store.get_session("bad0000002")


async def test_importing_twice_adds_and_changes_nothing(store: SqliteStore) -> None:
    await _import(store, SESSIONS)
    before = await _everything(store)

    again = await _import(store, SESSIONS)

    assert [line for line in again if "imported" in line] == []
    for session_id in GOOD_IDS:
        assert f"{session_id}.json: skipped: already present" in again
    assert sum("rejected" in line for line in again) == len(BAD_FILES)
    assert await _everything(store) == before


async def test_a_session_already_stored_is_skipped_even_if_the_file_differs(
    store: SqliteStore, tmp_path: Path
) -> None:
    ours = Session(model="ours", session_id="a1b2c3d4e5")
    await store.create_session(ours, [Message(Role.USER, "mine")])
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(SESSIONS / "a1b2c3d4e5.json", directory)

    lines = await _import(store, directory)

    assert lines == ["a1b2c3d4e5.json: skipped: already present"]
    _, messages = await store.get_conversation("a1b2c3d4e5")
    assert [m.content for m in messages] == ["mine"]


async def test_export_reproduces_the_originals_but_for_the_documented_normalisations(
    store: SqliteStore, tmp_path: Path
) -> None:
    await _import(store, SESSIONS)
    out = tmp_path / "out"

    lines = await _export(store, out)

    assert lines == [
        "a1b2c3d4e5.json: exported: 6 messages",
        "b13b13b13b.json: exported: 3 messages",
        "c10c10c10c.json: exported: 2 messages",
    ]
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.json" for i in GOOD_IDS]
    # A 1.4 file as mochi-server wrote it comes back byte for byte.
    assert (out / "a1b2c3d4e5.json").read_bytes() == (SESSIONS / "a1b2c3d4e5.json").read_bytes()
    # The others come back as mochi-server would save them (see the module docstring).
    for name in ["b13b13b13b.json", "c10c10c10c.json"]:
        assert (out / name).read_text(encoding="utf-8") == (EXPORTED / name).read_text(
            encoding="utf-8"
        ), name


async def test_import_export_import_changes_nothing(store: SqliteStore, tmp_path: Path) -> None:
    await _import(store, SESSIONS)
    await _export(store, tmp_path / "out")
    second = SqliteStore(tmp_path / "second" / "mochi.db")
    await second.open()
    try:
        lines = await _import(second, tmp_path / "out")
        reimported = await _everything(second)
        await _export(second, tmp_path / "again")
    finally:
        await second.close()

    assert all(": imported: " in line for line in lines)
    assert reimported == await _everything(store)
    for session_id in GOOD_IDS:
        name = f"{session_id}.json"
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()


async def test_our_own_sessions_export_and_come_back_without_our_extra_data(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = Session(
        model="llama3.2:latest",
        context_window=ContextWindowConfig(current_window=3686, model_max_context=4096),
    )
    reply = Message(
        Role.ASSISTANT, "Cut", model="llama3.2:latest", eval_count=1, partial_reason="cancelled"
    )
    system = Message(Role.SYSTEM, "Be brief.", source_file="brief.md")
    await store.create_session(session, [system, Message(Role.USER, "Q"), reply])
    await _export(store, tmp_path / "out")
    second = SqliteStore(tmp_path / "second" / "mochi.db")
    await second.open()
    try:
        await _import(second, tmp_path / "out")
        back, messages = await second.get_conversation(session.session_id)
    finally:
        await second.close()

    original, original_messages = await store.get_conversation(session.session_id)
    assert back.context_window.model_max_context is None
    back.context_window.model_max_context = original.context_window.model_max_context
    assert back == original
    assert messages[2].partial_reason is None
    messages[2].partial_reason = "cancelled"
    assert messages == original_messages


async def test_export_skips_existing_files_unless_asked_to_overwrite(
    store: SqliteStore, tmp_path: Path
) -> None:
    await _import(store, SESSIONS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a1b2c3d4e5.json").write_text("kept", encoding="utf-8")

    kept = await _export(store, out)
    replaced = await _export(store, out, overwrite=True)

    assert kept[0] == "a1b2c3d4e5.json: skipped: the file already exists"
    assert replaced[0] == "a1b2c3d4e5.json: exported: 6 messages"
    assert (out / "a1b2c3d4e5.json").read_bytes() == (SESSIONS / "a1b2c3d4e5.json").read_bytes()
    # Files are written under a temporary name and renamed: none is left over.
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.json" for i in GOOD_IDS]


async def test_export_leaves_the_agents_sessions_in_the_store(
    store: SqliteStore, tmp_path: Path
) -> None:
    users, agents = Session(model="m"), Session(model="m", agent_name="counter")
    for session in (users, agents):
        await store.create_session(session, [Message(Role.USER, "Q")])

    lines = await _export(store, tmp_path / "out")

    assert lines == [f"{users.session_id}.json: exported: 1 message"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{users.session_id}.json"]


async def test_export_of_an_empty_store_writes_nothing(store: SqliteStore, tmp_path: Path) -> None:
    results: list[FileResult] = [r async for r in export_sessions(store, tmp_path / "out")]

    assert results == []
    assert list((tmp_path / "out").iterdir()) == []
