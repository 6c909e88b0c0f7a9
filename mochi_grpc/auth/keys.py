"""API keys: made, listed, revoked, and checked on every request.

A token is `mochi_` and 256 random bits (the prefix makes a leaked one easy
to spot in a log). Only its SHA-256 is stored; a request's token is hashed and
looked up, and the stored hash compared in constant time. A revoked key is
gone from the store, so the next request with it fails, on every process that
shares the store. When a key was last used is recorded at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from mochi_grpc.auth.principal import Principal
from mochi_grpc.entities import ApiKey, utc_now
from mochi_grpc.errors import InvalidRequest, NotFound
from mochi_grpc.store import KeyStore

TOKEN_PREFIX = "mochi_"
USE_RECORDED_EVERY = timedelta(minutes=1)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyRing:
    def __init__(self, store: KeyStore) -> None:
        self._store = store

    async def create(self, name: str, *, admin: bool = False) -> tuple[ApiKey, str]:
        """A new key and its token; the token is never seen again."""
        if not name or not name.isprintable() or len(name) > 64 or name != name.strip():
            raise InvalidRequest(
                "A key's name is 1 to 64 printable characters, without leading or trailing spaces",
                field="name",
            )
        token = new_token()
        key = ApiKey(name, hash_token(token), admin)
        await self._store.add_key(key)
        return key, token

    async def list(self) -> list[ApiKey]:
        return await self._store.list_keys()

    async def revoke(self, name: str) -> None:
        if not await self._store.remove_key(name):
            raise NotFound(f"No key named '{name}'", details={"name": name})

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid token, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        wanted = hash_token(token)
        key = await self._store.find_key(wanted)
        if key is None or not hmac.compare_digest(key.token_hash, wanted):
            return None
        now = utc_now()
        if key.last_used_at is None or now - key.last_used_at >= USE_RECORDED_EVERY:
            await self._store.key_used(key.name, now)
        return Principal(key.name, key.admin)
