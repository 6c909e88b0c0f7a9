"""The mochi-grpc command: the server, and moving sessions to and from mochi-server.

With no command, or with `serve`, the server starts exactly as it always has,
with the server's own flags (`mochi-grpc serve --help`): `make run` and
`python -m mochi_grpc` work unchanged. `import-sessions DIR` and
`export-sessions DIR` use the store the server uses: the same MOCHI_DATA_DIR
and MOCHI_DATABASE_FILE, with --data-dir winning like the server's flag.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from mochi_grpc import key_commands
from mochi_grpc.config import VERSION, Settings
from mochi_grpc.migration import (
    EXPORT_OUTCOMES,
    IMPORT_OUTCOMES,
    FileResult,
    Outcome,
    export_sessions,
    import_sessions,
    total_line,
)
from mochi_grpc.persistence import Store, store_for

SERVE = "serve"
IMPORT = "import-sessions"
EXPORT = "export-sessions"

# Exit statuses of the migration commands (argparse uses 2 for usage errors too).
OK, SOME_FILES_FAILED, USAGE = 0, 1, 2

_IMPORT_EPILOG = """\
Each file is reported on one line (imported, skipped: already present, or
rejected with the reason), then the totals. A rejected file changes nothing.

exit status: 0 when every file was imported or skipped, 1 when any file was
rejected, 2 when DIR is not a directory or the arguments are wrong."""

_EXPORT_EPILOG = """\
Each session is reported on one line (exported, skipped, or failed with the
reason), then the totals. Data mochi-server does not know is left out (see
the README's "Migration from mochi-server").

exit status: 0 when every session was exported or skipped, 1 when any file
could not be written, 2 when there is no database or the arguments are wrong."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == [SERVE]:
        return _serve(args[1:])
    # The server takes flags only: anything else that starts with one is for it.
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help")):
        return _serve(args)
    options = _parser().parse_args(args)
    overrides = {
        name: value
        for name in ("data_dir", "database_url")
        if (value := getattr(options, name, None)) is not None
    }
    settings = Settings(**overrides)
    if options.command == key_commands.KEYS:
        return asyncio.run(_keys(settings, options))
    directory: Path = options.directory
    if options.command == IMPORT:
        if not directory.is_dir():
            return _usage_error(IMPORT, f"{directory} is not a directory")
        return asyncio.run(_import(settings, directory))
    if directory.exists() and not directory.is_dir():
        return _usage_error(EXPORT, f"{directory} is not a directory")
    if settings.database_url is None and not settings.database_path.is_file():
        return _usage_error(EXPORT, f"there is no database at {settings.database_path}")
    return asyncio.run(_export(settings, directory, overwrite=options.overwrite))


def _serve(argv: list[str]) -> int:
    # Imported here: the migration commands need neither grpc nor the model backends.
    from mochi_grpc.server import main as serve

    serve(argv)
    return OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mochi-grpc",
        description="Chat sessions with local LLMs over gRPC.",
        epilog="With no command the server starts; `mochi-grpc serve --help` lists its flags.",
    )
    parser.add_argument("--version", action="version", version=f"mochi-grpc {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(SERVE, help="start the gRPC server (the default)")
    importing = commands.add_parser(
        IMPORT,
        help="import mochi-server session files",
        description="Import every mochi-server session file (*.json) in DIR into the store.\n"
        "A session already stored (same id) is skipped: running it again adds nothing.",
        epilog=_IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importing.add_argument(
        "directory", metavar="DIR", type=Path, help="the mochi-server sessions directory"
    )
    _data_dir_flag(importing)
    exporting = commands.add_parser(
        EXPORT,
        help="export every stored session as a mochi-server session file",
        description="Write every stored session to DIR as <session_id>.json, in mochi-server's\n"
        "session file format 1.4. DIR is created when missing.",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exporting.add_argument("directory", metavar="DIR", type=Path, help="where to write the files")
    exporting.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files that exist already (without it they are skipped)",
    )
    _data_dir_flag(exporting)
    key_commands.add_parser(commands, _data_dir_flag)
    return parser


def _data_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="PATH",
        help="where the database is (MOCHI_DATA_DIR; MOCHI_DATABASE_FILE names the file)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="a PostgreSQL database instead (MOCHI_DATABASE_URL)",
    )


def _usage_error(command: str, message: str) -> int:
    print(f"mochi-grpc {command}: error: {message}", file=sys.stderr)
    return USAGE


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[Store]:
    store = store_for(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def _keys(settings: Settings, options: argparse.Namespace) -> int:
    async with _store(settings) as store:
        return await key_commands.run(options, store)


async def _import(settings: Settings, directory: Path) -> int:
    async with _store(settings) as store:
        results = await _report(import_sessions(store, directory))
    print(total_line(results, IMPORT_OUTCOMES))
    return SOME_FILES_FAILED if _any(results, Outcome.REJECTED) else OK


async def _export(settings: Settings, directory: Path, *, overwrite: bool) -> int:
    async with _store(settings) as store:
        results = await _report(export_sessions(store, directory, overwrite=overwrite))
    print(total_line(results, EXPORT_OUTCOMES))
    return SOME_FILES_FAILED if _any(results, Outcome.FAILED) else OK


async def _report(results: AsyncIterator[FileResult]) -> list[FileResult]:
    """Prints each result as it comes (a long run shows its progress)."""
    seen = []
    async for result in results:
        print(result.line(), flush=True)
        seen.append(result)
    return seen


def _any(results: list[FileResult], outcome: Outcome) -> bool:
    return any(r.outcome is outcome for r in results)
