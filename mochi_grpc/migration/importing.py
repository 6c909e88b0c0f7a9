"""Importing a directory of mochi-server session files into the store.

Every `*.json` file in the directory is one session, read in file-name order.
A file is imported, skipped (a session with its id is already stored: nothing
changes, so running the import again adds nothing) or rejected with the
reason. A session is created with all its messages in one store transaction,
after the whole file has been read and checked, so a bad file never leaves a
half-imported session behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from mochi_grpc.errors import SessionNotFound
from mochi_grpc.migration.reading import SessionFileError, read_session_file
from mochi_grpc.migration.report import FileResult, Outcome, messages_detail
from mochi_grpc.store import SessionStore

IMPORT_OUTCOMES = (Outcome.IMPORTED, Outcome.SKIPPED, Outcome.REJECTED)


async def import_sessions(store: SessionStore, directory: Path) -> AsyncIterator[FileResult]:
    """The result of each file, as soon as it is known."""
    paths = await asyncio.to_thread(lambda: sorted(directory.glob("*.json")))
    for path in paths:
        yield await _import_file(store, path)


async def _import_file(store: SessionStore, path: Path) -> FileResult:
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        return FileResult(path.name, Outcome.REJECTED, f"cannot be read: {exc.strerror or exc}")
    try:
        session, messages = read_session_file(content, path.stem)
    except SessionFileError as exc:
        return FileResult(path.name, Outcome.REJECTED, str(exc))
    if await _is_stored(store, session.session_id):
        return FileResult(path.name, Outcome.SKIPPED, "already present")
    await store.create_session(session, messages)
    return FileResult(path.name, Outcome.IMPORTED, messages_detail(len(messages)))


async def _is_stored(store: SessionStore, session_id: str) -> bool:
    try:
        await store.get_session(session_id)
    except SessionNotFound:
        return False
    return True
