"""What the strategies know about the server under test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fuzzing.store_view import Snapshot

MODEL = "llama3.2:latest"


@dataclass
class World:
    """Real values to mix into hostile requests, so that they get past the
    first check and reach the code behind it. Session ids and prompt files
    follow the store (`refresh`); the rest is learnt while seeding."""

    session_ids: list[str] = field(default_factory=list)
    prompt_files: list[str] = field(default_factory=list)
    turn_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    model_names: list[str] = field(default_factory=list)
    tool_names: list[str] = field(default_factory=list)
    page_tokens: list[str] = field(default_factory=list)
    # The store as the last refused call left it; None when unknown.
    known: Snapshot | None = None

    def refresh(self, snapshot: Snapshot) -> None:
        self.session_ids = list(snapshot.sessions) or ["0123456789"]
        self.prompt_files = list(snapshot.prompts) or ["seed.md"]
