"""Reusable system prompts: named Markdown texts, and the rules they follow.

A name must be a plain file name ending in ".md": no path separators, no
leading dot, no control characters, at most 255 bytes of UTF-8 (a file
system's limit for one name), so no request can read or write anything
outside a prompts directory, nor get a name the file system refuses. The
text must not be blank and has a length limit.

`PromptLibrary` checks these rules and raises the errors callers see; where
the texts are kept is a `PromptShelf`'s business (a directory of files, or
the shared PostgreSQL database), so the rules hold the same on every shelf.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from mochi_grpc.errors import InvalidRequest, PromptExists, PromptNotFound
from mochi_grpc.store.prompt_shelves import PromptShelf

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
    """The prompt files callers see: the rules above, over a shelf that keeps them."""

    def __init__(self, shelf: PromptShelf) -> None:
        self._shelf = shelf

    async def list(self) -> list[PromptFile]:
        prompts = []
        for filename, content in await self._shelf.list_all():
            try:
                check_filename(filename)
            except InvalidRequest:
                # Put there by hand: no request could name it.
                log.warning("Failed to read prompt file %s", filename)
                continue
            prompts.append(PromptFile(filename, content))
        return prompts

    async def get(self, filename: str) -> PromptFile:
        content = await self._shelf.get(check_filename(filename))
        if content is None:
            raise _not_found(filename)
        return PromptFile(filename, content)

    async def create(self, filename: str, content: str) -> PromptFile:
        check_filename(filename)
        check_content(content)
        if not await self._shelf.add(filename, content):
            raise PromptExists(
                f"System prompt file '{filename}' already exists",
                details={"filename": filename},
            )
        return PromptFile(filename, content)

    async def update(self, filename: str, content: str) -> PromptFile:
        check_filename(filename)
        check_content(content)
        if not await self._shelf.replace(filename, content):
            raise _not_found(filename)
        return PromptFile(filename, content)

    async def delete(self, filename: str) -> None:
        if not await self._shelf.remove(check_filename(filename)):
            raise _not_found(filename)
