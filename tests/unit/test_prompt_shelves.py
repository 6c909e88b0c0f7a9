"""The prompt files' contract, run through PromptLibrary over every shelf: a
directory of files and the PostgreSQL database (on a real server), so the
rules and errors read the same wherever the files are kept. A few tests at
the end check what only the directory has (its files on disk)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeAlias

import pytest

from mochi_grpc.chat.prompts import PromptFile, PromptLibrary
from mochi_grpc.errors import InvalidRequest, PromptExists, PromptNotFound
from mochi_grpc.store import PostgresPromptShelf, PostgresStore, PromptDirectory, PromptShelf

# Another shelf over the same files: what a second replica would open.
NewShelf: TypeAlias = Callable[[], Awaitable[PromptShelf]]


@pytest.fixture(params=["directory", "postgres"])
async def new_shelf(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NewShelf]:
    directory = tmp_path / "system_prompts"
    # Asked for now, so the database outlives the stores closed below.
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    stores: list[PostgresStore] = []

    async def open_shelf() -> PromptShelf:
        if request.param == "directory":
            return PromptDirectory(directory)
        store = PostgresStore(url, max_size=4)
        stores.append(store)
        await store.open()
        return PostgresPromptShelf(store.pool)

    yield open_shelf
    for store in stores:
        await store.close()


@pytest.fixture
async def shelf(new_shelf: NewShelf) -> PromptShelf:
    return await new_shelf()


@pytest.fixture
def library(shelf: PromptShelf) -> PromptLibrary:
    return PromptLibrary(shelf)


async def test_a_prompt_is_created_read_updated_and_deleted(library: PromptLibrary) -> None:
    created = await library.create("coder.md", "You write code.")
    got = await library.get("coder.md")
    updated = await library.update("coder.md", "You review code.")
    after_update = await library.get("coder.md")
    await library.delete("coder.md")

    assert created == got == PromptFile("coder.md", "You write code.")
    assert updated == after_update == PromptFile("coder.md", "You review code.")
    assert await library.list() == []


async def test_the_list_is_sorted_by_code_point(library: PromptLibrary) -> None:
    # Byte order, whatever the locale: capitals before small letters, é last.
    for name in ["é.md", "b.md", "Z.md", "a b.md", "B.md"]:
        await library.create(name, f"text of {name}")

    listed = await library.list()

    assert [p.filename for p in listed] == ["B.md", "Z.md", "a b.md", "b.md", "é.md"]
    assert [p.content for p in listed] == [f"text of {p.filename}" for p in listed]


async def test_creating_an_existing_prompt_is_a_conflict_and_keeps_the_first(
    library: PromptLibrary,
) -> None:
    await library.create("x.md", "first")

    with pytest.raises(PromptExists) as caught:
        await library.create("x.md", "second")

    assert str(caught.value) == "System prompt file 'x.md' already exists"
    assert caught.value.details == {"filename": "x.md"}
    assert (await library.get("x.md")).content == "first"


@pytest.mark.parametrize("call", ["get", "update", "delete"])
async def test_a_missing_prompt_is_not_found(library: PromptLibrary, call: str) -> None:
    await library.create("other.md", "kept")

    with pytest.raises(PromptNotFound) as caught:
        if call == "get":
            await library.get("nope.md")
        elif call == "update":
            await library.update("nope.md", "x")
        else:
            await library.delete("nope.md")

    assert str(caught.value) == "System prompt file 'nope.md' not found"
    assert caught.value.details == {"filename": "nope.md"}
    assert await library.list() == [PromptFile("other.md", "kept")]


@pytest.mark.parametrize(
    "name",
    ["../x.md", "a/b.md", "x.txt", ".hidden.md", "", "..\\x.md", "a\x00.md", "é" * 200 + ".md"],
)
async def test_a_refused_name_changes_nothing(library: PromptLibrary, name: str) -> None:
    for attempt in (
        library.create(name, "x"),
        library.get(name),
        library.update(name, "x"),
        library.delete(name),
    ):
        with pytest.raises(InvalidRequest) as caught:
            await attempt
        assert caught.value.field == "filename"

    assert await library.list() == []


@pytest.mark.parametrize("content", ["", "   \n", "x" * 20_001])
async def test_blank_or_oversized_content_is_refused(library: PromptLibrary, content: str) -> None:
    await library.create("kept.md", "kept")

    for attempt in (library.create("new.md", content), library.update("kept.md", content)):
        with pytest.raises(InvalidRequest) as caught:
            await attempt
        assert caught.value.field == "content"

    assert await library.list() == [PromptFile("kept.md", "kept")]


async def test_a_second_library_sees_the_first_ones_writes_at_once(
    library: PromptLibrary, new_shelf: NewShelf
) -> None:
    other = PromptLibrary(await new_shelf())

    await library.create("shared.md", "one")
    seen_created = await other.get("shared.md")
    await other.update("shared.md", "two")
    seen_updated = await library.get("shared.md")
    await library.delete("shared.md")

    assert seen_created.content == "one"
    assert seen_updated.content == "two"
    assert await other.list() == []
    with pytest.raises(PromptNotFound):
        await other.get("shared.md")


async def test_of_simultaneous_creates_exactly_one_wins(
    library: PromptLibrary, new_shelf: NewShelf
) -> None:
    other = PromptLibrary(await new_shelf())
    texts = [f"writer {i}" for i in range(10)]

    results = await asyncio.gather(
        *((library if i % 2 else other).create("race.md", t) for i, t in enumerate(texts)),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, PromptFile)]
    assert len(winners) == 1
    assert all(isinstance(r, PromptExists) for r in results if r not in winners)
    assert await library.list() == winners


async def test_simultaneous_updates_each_leave_a_whole_text(library: PromptLibrary) -> None:
    await library.create("busy.md", "start")
    texts = [f"version {i} " * 50 for i in range(10)]

    await asyncio.gather(*(library.update("busy.md", t) for t in texts))

    assert (await library.get("busy.md")).content in texts
    assert [p.filename for p in await library.list()] == ["busy.md"]


async def test_a_stored_name_the_rules_refuse_is_left_out_of_the_list(
    library: PromptLibrary, shelf: PromptShelf
) -> None:
    # Put there behind the library's back (by hand, or by an older version).
    assert await shelf.add("bell\x07.md", "x")
    await library.create("ok.md", "fine")

    assert [p.filename for p in await library.list()] == ["ok.md"]


# --- only the directory --------------------------------------------------------------------------


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "system_prompts"
    path.mkdir()
    return path


async def test_the_directory_holds_one_markdown_file_per_prompt(directory: Path) -> None:
    library = PromptLibrary(PromptDirectory(directory))

    await library.create("a.md", "one")
    await library.create("b.md", "two")
    await library.update("a.md", "changed")
    await library.delete("b.md")

    assert sorted(os.listdir(directory)) == ["a.md"]
    assert (directory / "a.md").read_text(encoding="utf-8") == "changed"


async def test_the_directory_is_made_when_first_needed(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "system_prompts"
    library = PromptLibrary(PromptDirectory(directory))

    await library.create("a.md", "one")

    assert (directory / "a.md").is_file()


async def test_files_that_are_not_prompts_are_not_listed(directory: Path) -> None:
    (directory / ".hidden.md").write_text("x")
    (directory / ".tmp123.tmp").write_text("x")
    (directory / "notes.txt").write_text("x")
    (directory / "dir.md").mkdir()
    (directory / "ok.md").write_text("fine")
    library = PromptLibrary(PromptDirectory(directory))

    assert await library.list() == [PromptFile("ok.md", "fine")]
    with pytest.raises(PromptNotFound):
        await library.get("dir.md")


async def test_a_file_that_is_not_utf8_is_skipped_in_the_list_and_refused_by_name(
    directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (directory / "latin1.md").write_bytes("café".encode("latin-1"))
    (directory / "ok.md").write_text("fine")
    library = PromptLibrary(PromptDirectory(directory))

    listed = await library.list()
    with pytest.raises(InvalidRequest) as caught:
        await library.get("latin1.md")

    assert listed == [PromptFile("ok.md", "fine")]
    assert "latin1.md" in caplog.text
    assert str(caught.value) == "System prompt file 'latin1.md' is not UTF-8 text"


async def test_a_symlink_pointing_outside_is_refused_and_not_listed(
    directory: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("TOP SECRET")
    (directory / "link.md").symlink_to(secret)
    library = PromptLibrary(PromptDirectory(directory))

    listed = await library.list()
    attempts = (
        library.get("link.md"),
        library.update("link.md", "x"),
        library.delete("link.md"),
    )
    for attempt in attempts:
        with pytest.raises(InvalidRequest) as caught:
            await attempt
        assert str(caught.value) == "Filename points outside the prompts directory"

    assert listed == []
    assert secret.read_text() == "TOP SECRET"
    assert (directory / "link.md").is_symlink()
