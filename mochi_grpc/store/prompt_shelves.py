"""Where system-prompt files are kept: a shelf of named texts.

A shelf only stores; the rules (which names and texts are allowed, which
errors a caller sees) live in `mochi_grpc.chat.prompts.PromptLibrary`, so
every shelf is held to the same rules by the same tests. Each operation is
one atomic step, so replicas or requests racing on one name never see half a
write: `add` succeeds for exactly one of several writers, `replace` leaves one
whole text.

`PromptDirectory` keeps them as Markdown files in one directory (the embedded
default); `PostgresPromptShelf` (in `postgres_prompts`) keeps them in the
shared database, so every replica sees a change at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol

from mochi_grpc.errors import InvalidRequest

log = logging.getLogger(__name__)


class PromptShelf(Protocol):
    """Named texts. Names reach a shelf already checked by the library."""

    async def list_all(self) -> list[tuple[str, str]]:
        """Every (filename, content), sorted by filename in code point order."""
        ...

    async def get(self, filename: str) -> str | None:
        """The content, or None if there is no such file."""
        ...

    async def add(self, filename: str, content: str) -> bool:
        """Store a new file; False (and nothing changed) if it already exists."""
        ...

    async def replace(self, filename: str, content: str) -> bool:
        """Replace an existing file's content in one step; False if missing."""
        ...

    async def remove(self, filename: str) -> bool:
        """Remove a file; False if missing."""
        ...


class PromptDirectory:
    """Prompt files as "*.md" files in one directory (made when first needed).

    File work runs in a thread, off the event loop. Hidden files (our own
    temporary files among them) and other extensions are not prompts. A file
    that cannot be read as UTF-8 text is left out of the list with a warning;
    asked for by name, it is an InvalidRequest.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, filename: str) -> Path:
        path = self._directory / filename
        # The name rules already keep it inside; this guards against a
        # symlinked file pointing elsewhere.
        if path.resolve().parent != self._directory.resolve():
            raise InvalidRequest("Filename points outside the prompts directory", field="filename")
        return path

    def _read(self, filename: str) -> str | None:
        path = self._path(filename)
        if not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None  # removed since the check
        except UnicodeDecodeError:
            raise InvalidRequest(
                f"System prompt file '{filename}' is not UTF-8 text", field="filename"
            ) from None

    def _list(self) -> list[tuple[str, str]]:
        self._directory.mkdir(parents=True, exist_ok=True)
        prompts = []
        for entry in sorted(os.scandir(self._directory), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.name.endswith(".md"):
                continue
            try:
                content = self._read(entry.name)
            except (InvalidRequest, OSError):
                log.warning("Failed to read prompt file %s", entry.name)
                continue
            if content is not None:  # a directory, or removed meanwhile
                prompts.append((entry.name, content))
        return prompts

    def _add(self, filename: str, content: str) -> bool:
        path = self._path(filename)
        self._directory.mkdir(parents=True, exist_ok=True)
        try:
            # Exclusive create: of several writers, exactly one makes the file.
            with path.open("x", encoding="utf-8") as file:
                file.write(content)
        except FileExistsError:
            return False
        return True

    def _replace(self, filename: str, content: str) -> bool:
        path = self._path(filename)
        if not path.is_file():
            return False
        # A uniquely named file replaced in one step: readers never see
        # half a text, and two writers never share a temporary file.
        handle, temporary = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(content)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return True

    def _remove(self, filename: str) -> bool:
        path = self._path(filename)
        if not path.is_file():
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def list_all(self) -> list[tuple[str, str]]:
        return await asyncio.to_thread(self._list)

    async def get(self, filename: str) -> str | None:
        return await asyncio.to_thread(self._read, filename)

    async def add(self, filename: str, content: str) -> bool:
        return await asyncio.to_thread(self._add, filename, content)

    async def replace(self, filename: str, content: str) -> bool:
        return await asyncio.to_thread(self._replace, filename, content)

    async def remove(self, filename: str) -> bool:
        return await asyncio.to_thread(self._remove, filename)
