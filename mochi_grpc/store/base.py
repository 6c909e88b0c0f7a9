"""What the domain needs from session persistence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mochi_grpc.entities import ApiKey, Message, Session, Summary


@dataclass(frozen=True)
class SessionPage:
    sessions: list[Session]
    next_page_token: str


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    next_page_token: str


@dataclass(frozen=True)
class EventRecord:
    """One stored event of a turn: where it ends in the turn's event
    positions, its kind and its JSON payload (the store does not read it)."""

    position: int
    kind: str
    payload: str


# Status of a turn that is still running; any other status means it ended.
RUNNING = "running"
# The partial_reason of the reply of a running turn, and of one whose
# process died before the turn ended (also that turn's status).
IN_PROGRESS = "in_progress"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class TurnWrite:
    """What one write of a turn stores, all of it or nothing.

    The session's metadata (its active_turn_id included, as update_session
    stores it), or with `whole_session` false only its message_count and
    updated_at; its messages from position `keep` on replaced by `messages`
    (None leaves them as they are); the turn's `status`; and `events`
    appended to the turn's events.
    `begin` creates the turn (the session's oldest turns beyond the kept ones
    go)."""

    session: Session
    turn_id: str
    status: str
    keep: int
    messages: Sequence[Message] | None
    events: Sequence[EventRecord]
    begin: bool = False
    whole_session: bool = True


@dataclass(frozen=True)
class StoredTurn:
    turn_id: str
    status: str
    events: list[EventRecord]


class SessionStore(Protocol):
    """Sessions and their ordered messages.

    Every write is one transaction. Messages are addressed by position; a write
    replaces the tail of the history from a position on, so appending to a long
    conversation costs the same as appending to a short one.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_session(self, session: Session, messages: Sequence[Message]) -> None:
        """Stores a new session whole (its kind and summary included) with its
        messages."""
        ...

    async def get_session(self, session_id: str) -> Session:
        """Raises SessionNotFound."""
        ...

    async def get_conversation(self, session_id: str) -> tuple[Session, list[Message]]:
        """A session and all its messages, read together; raises SessionNotFound."""
        ...

    async def list_sessions(
        self, page_size: int, page_token: str, owner: str | None = None, agents: bool = False
    ) -> SessionPage:
        """Most recently updated first: the users' sessions (agent_name None)
        or, with `agents`, only the agents' own conversations, of any agent;
        only those of `owner` when given. Raises InvalidRequest for a bad
        token."""
        ...

    async def update_session(self, session: Session) -> None:
        """Stores the metadata of an existing session (not its messages).

        Like every write of an existing session's metadata (replace_tail,
        splice, write_turns) it leaves alone what the Session read before
        may not know: its summary and summary_model (set_summary writes
        them) and its agent_name (fixed at creation)."""
        ...

    async def set_summary(self, session_id: str, summary: Summary, model: str) -> None:
        """Stores the session's summary and the model that wrote it, nothing
        else (updated_at included); raises SessionNotFound."""
        ...

    async def delete_session(self, session_id: str) -> None:
        """Raises SessionNotFound."""
        ...

    async def list_messages(
        self, session_id: str, page_size: int | None = None, page_token: str = ""
    ) -> MessagePage:
        """All messages in order when page_size is None."""
        ...

    async def get_message(self, session_id: str, position: int) -> Message | None:
        """The message at a position, or None past the end."""
        ...

    async def replace_tail(
        self, session: Session, keep: int, new_messages: Sequence[Message]
    ) -> None:
        """Keeps the first `keep` messages, stores `new_messages` after them and
        saves the session's metadata (message_count is set here), atomically."""
        ...

    async def write_turns(self, writes: Sequence[TurnWrite]) -> None:
        """Stores several turn writes in one transaction (group commit). The
        cost of a write grows with the turn's own messages, not the history."""
        ...

    async def get_turn(self, session_id: str, turn_id: str | None) -> StoredTurn | None:
        """A turn of the session with its events in order (None: the latest),
        or None when there is no such turn; raises SessionNotFound."""
        ...

    async def interrupt_running_turns(self, kind: str, payload: str) -> list[str]:
        """Ends every turn left running by a process that is gone — with
        SQLite, every turn still marked running (one process owns the file);
        with PostgreSQL, those of replicas whose lease ran out: its
        in_progress reply becomes interrupted, an event (kind, payload) is
        appended after its last, its session takes turns again. Returns the
        ids of the turns it ended."""
        ...

    async def splice(
        self, session: Session, start: int, remove: int, new_messages: Sequence[Message]
    ) -> None:
        """Replaces `remove` messages at `start` with `new_messages`, moving the
        later ones, and saves the session's metadata, atomically. It touches
        every later message: for edits at the head (the system prompt)."""
        ...


class KeyStore(Protocol):
    """API keys, by name; a token is found by its hash, never stored itself."""

    async def add_key(self, key: ApiKey) -> None:
        """Raises KeyExists when a key of that name exists."""
        ...

    async def list_keys(self) -> list[ApiKey]:
        """By name."""
        ...

    async def remove_key(self, name: str) -> bool:
        """False when there was no key of that name."""
        ...

    async def find_key(self, token_hash: str) -> ApiKey | None: ...

    async def key_used(self, name: str, when: datetime) -> None: ...
