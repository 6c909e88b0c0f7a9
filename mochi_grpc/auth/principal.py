"""The caller a request acts for, and what it may see.

A session belongs to the key that created it. To any other non-admin key it
does not exist: the same SESSION_NOT_FOUND as an unknown id, so ids leak
nothing. Admin keys see and manage every session. With keys off, every
caller is NOBODY_IN_PARTICULAR, who sees everything, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from mochi_grpc.entities import Session
from mochi_grpc.errors import PermissionDenied, SessionNotFound


@dataclass(frozen=True)
class Principal:
    # The key's name; None when keys are off.
    name: str | None
    admin: bool

    def owns(self, session: Session) -> bool:
        return self.admin or session.owner == self.name

    def check_owns(self, session: Session) -> Session:
        """The session, or SessionNotFound as if it did not exist."""
        if not self.owns(session):
            raise SessionNotFound(session.session_id)
        return session

    @property
    def listing_owner(self) -> str | None:
        """Whose sessions a list shows: every one (None) or this key's."""
        return None if self.admin else self.name

    def check_admin(self, action: str) -> None:
        if not self.admin:
            raise PermissionDenied(f"Only an admin key may {action}")


# Every caller when API keys are off: sees and manages everything.
NOBODY_IN_PARTICULAR = Principal(None, admin=True)
