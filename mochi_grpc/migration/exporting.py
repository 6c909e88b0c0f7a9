"""Exporting every stored user session as a mochi-server session file
(agents' own conversations are not exported: a file cannot say whose they are).

Each session becomes `<session_id>.json` in the directory (created when
missing), in session-id order. A file that exists already is left alone and
the session skipped, unless overwriting was asked for. A file is written
under a temporary name and then renamed, so a reader (or a run stopped
halfway) never sees half a file.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from mochi_grpc.errors import SessionNotFound
from mochi_grpc.migration.report import FileResult, Outcome, messages_detail
from mochi_grpc.migration.writing import write_session_file
from mochi_grpc.store import SessionStore

EXPORT_OUTCOMES = (Outcome.EXPORTED, Outcome.SKIPPED, Outcome.FAILED)

_PAGE_SIZE = 500


async def export_sessions(
    store: SessionStore, directory: Path, *, overwrite: bool = False
) -> AsyncIterator[FileResult]:
    """The result of each stored user session, as soon as it is known."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    for session_id in await _stored_ids(store):
        path = directory / f"{session_id}.json"
        if not overwrite and await asyncio.to_thread(path.exists):
            yield FileResult(path.name, Outcome.SKIPPED, "the file already exists")
            continue
        try:
            session, messages = await store.get_conversation(session_id)
        except SessionNotFound:  # deleted since it was listed
            yield FileResult(path.name, Outcome.SKIPPED, "the session is no longer stored")
            continue
        text = write_session_file(session, messages)
        try:
            await asyncio.to_thread(_write_whole, path, text)
        except OSError as exc:
            yield FileResult(path.name, Outcome.FAILED, f"cannot be written: {exc}")
            continue
        yield FileResult(path.name, Outcome.EXPORTED, messages_detail(len(messages)))


async def _stored_ids(store: SessionStore) -> list[str]:
    ids: set[str] = set()
    token = ""
    while True:
        page = await store.list_sessions(_PAGE_SIZE, token)
        ids.update(s.session_id for s in page.sessions)
        token = page.next_page_token
        if not token:
            return sorted(ids)


def _write_whole(path: Path, text: str) -> None:
    # A plain open, unlike mkstemp, gives the file the permissions the umask allows.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("xb") as file:
            file.write(text.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
