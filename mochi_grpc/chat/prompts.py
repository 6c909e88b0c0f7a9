"""Reusable system prompts: Markdown files in one directory.

A name must be a plain file name ending in ".md": no path separators, no
leading dot, no control characters, at most 255 bytes of UTF-8 (a file
system's limit for one name), so no request can read or write anything
outside the directory, nor get a name the file system refuses. File work
runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mochi_grpc.errors import InvalidRequest, PromptExists, PromptNotFound

log = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 20_000
PREVIEW_CHARS = 250
_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,252}\.md")
_MAX_NAME_BYTES = 255


@dataclass(frozen=True)
class PromptFile:
    filename: str
    content: str

    @property
    def preview(self) -> str:
        if len(self.content) <= PREVIEW_CHARS:
            return self.content
        return self.content[: PREVIEW_CHARS - 3].rstrip() + "..."

    @property
    def word_count(self) -> int:
        return len(self.content.split())


def _not_found(filename: str) -> PromptNotFound:
    return PromptNotFound(
        f"System prompt file '{filename}' not found", details={"filename": filename}
    )


def check_filename(filename: str) -> str:
    if not filename:
        raise InvalidRequest("Filename cannot be empty", field="filename")
    if "/" in filename or "\\" in filename:
        raise InvalidRequest("Filename cannot contain path separators", field="filename")
    if filename.startswith("."):
        raise InvalidRequest("Filename cannot start with a dot", field="filename")
    if not filename.endswith(".md"):
        raise InvalidRequest("Filename must end with .md extension", field="filename")
    if not _NAME.fullmatch(filename) or len(filename.encode()) > _MAX_NAME_BYTES:
        raise InvalidRequest(
            "Filename must be at most 255 bytes (UTF-8) without control characters",
            field="filename",
        )
    return filename


def check_content(content: str) -> str:
    if not content.strip():
        raise InvalidRequest("Prompt content cannot be empty", field="content")
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidRequest(
            f"Prompt content is longer than {MAX_CONTENT_CHARS} characters", field="content"
        )
    return content


class PromptLibrary:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, filename: str) -> Path:
        path = self._directory / check_filename(filename)
        # The name rules already keep it inside; this guards against a
        # symlinked file pointing elsewhere.
        if path.resolve().parent != self._directory.resolve():
            raise InvalidRequest("Filename points outside the prompts directory", field="filename")
        return path

    def _read(self, filename: str) -> PromptFile:
        path = self._path(filename)
        if not path.is_file():
            raise _not_found(filename)
        try:
            return PromptFile(filename, path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _not_found(filename) from None
        except UnicodeDecodeError:
            raise InvalidRequest(
                f"System prompt file '{filename}' is not UTF-8 text", field="filename"
            ) from None

    def _list(self) -> list[PromptFile]:
        self._directory.mkdir(parents=True, exist_ok=True)
        prompts = []
        for entry in sorted(os.scandir(self._directory), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith(".") or not entry.name.endswith(".md"):
                continue
            try:
                prompts.append(self._read(entry.name))
            except InvalidRequest:
                log.warning("Failed to read prompt file %s", entry.name)
        return prompts

    def _write(self, filename: str, content: str, *, new: bool) -> PromptFile:
        path = self._path(filename)
        check_content(content)
        self._directory.mkdir(parents=True, exist_ok=True)
        if new:
            try:
                with path.open("x", encoding="utf-8") as file:
                    file.write(content)
            except FileExistsError:
                raise PromptExists(
                    f"System prompt file '{filename}' already exists",
                    details={"filename": filename},
                ) from None
        else:
            self._read(filename)  # must exist
            # A uniquely named file replaced in one step: readers never see
            # half a text, and two writers never share a temporary file.
            handle, temporary = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(content)
            os.replace(temporary, path)
        return PromptFile(filename, content)

    def _delete(self, filename: str) -> None:
        path = self._path(filename)
        if not path.is_file():
            raise _not_found(filename)
        try:
            path.unlink()
        except FileNotFoundError:
            raise _not_found(filename) from None

    async def list(self) -> list[PromptFile]:
        return await asyncio.to_thread(self._list)

    async def get(self, filename: str) -> PromptFile:
        return await asyncio.to_thread(self._read, filename)

    async def create(self, filename: str, content: str) -> PromptFile:
        return await asyncio.to_thread(self._write, filename, content, new=True)

    async def update(self, filename: str, content: str) -> PromptFile:
        return await asyncio.to_thread(self._write, filename, content, new=False)

    async def delete(self, filename: str) -> None:
        await asyncio.to_thread(self._delete, filename)
