"""`mochi-grpc keys create | list | revoke`: API keys, managed where the server's
store is (the same settings as the server). A new token is printed once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from mochi_grpc.auth import KeyRing
from mochi_grpc.errors import MochiError
from mochi_grpc.store import KeyStore

KEYS = "keys"


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `keys` command; `common` adds the flags every command takes."""
    keys = commands.add_parser(
        KEYS,
        help="create, list and revoke API keys",
        description="API keys for callers of the server (MOCHI_AUTH=required). Only a hash"
        " of each token is stored; a revoked key is refused from the next request on.",
    )
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print its token once")
    create.add_argument("name", help="the key's name (who or what uses it)")
    create.add_argument(
        "--admin", action="store_true", help="sees and manages every session, prompts, tools"
    )
    actions.add_parser("list", help="names, admin flag, created, last used (never tokens)")
    revoke = actions.add_parser("revoke", help="delete a key; it is refused at once")
    revoke.add_argument("name")
    for action in actions.choices.values():
        common(action)


async def run(options: argparse.Namespace, store: KeyStore) -> int:
    keys = KeyRing(store)
    try:
        if options.action == "create":
            key, token = await keys.create(options.name, admin=options.admin)
            kind = "admin key" if key.admin else "key"
            print(f"created {kind} '{key.name}'; its token (shown only now):\n{token}")
        elif options.action == "list":
            print(f"{'NAME':24} {'ADMIN':5} {'CREATED':20} LAST USED")
            for key in await keys.list():
                used = "-" if key.last_used_at is None else _when(key.last_used_at)
                admin = "yes" if key.admin else "no"
                print(f"{key.name:24} {admin:5} {_when(key.created_at):20} {used}")
        else:
            await keys.revoke(options.name)
            print(f"revoked key '{options.name}'")
    except MochiError as error:
        print(f"mochi-grpc keys {options.action}: error: {error.message}", file=sys.stderr)
        return 1
    return 0


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
