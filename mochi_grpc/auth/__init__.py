"""Who calls: API keys (only hashes kept) and the principal a request acts as."""

from mochi_grpc.auth.keys import KeyRing, hash_token, new_token
from mochi_grpc.auth.principal import NOBODY_IN_PARTICULAR, Principal

__all__ = ["NOBODY_IN_PARTICULAR", "KeyRing", "Principal", "hash_token", "new_token"]
