"""An agents directory for tests (tests/fixtures/agents): `wordsmith` can run
(its one tool is `count_words(text: str) -> int`); `broken` (SKILL.md without
a description) and `faulty` (its tools fail to import) cannot."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Final

from mochi_grpc.entities import Message, Role, Session, ToolCall, utc_now
from mochi_grpc.store import SessionStore

FIXTURE: Final = Path(__file__).parent / "fixtures" / "agents"
VALID_AGENT: Final = "wordsmith"
VALID_TOOL: Final = "count_words"
INVALID_AGENTS: Final = ("broken", "faulty")


def write_agents(directory: Path) -> None:
    """Copies the test agents into `directory` (the server's agents directory)."""
    shutil.copytree(FIXTURE, directory, dirs_exist_ok=True)


async def store_agent_chat(
    store: SessionStore, agent: str, *, owner: str | None = None, age_minutes: int = 0
) -> Session:
    """An agent's conversation written straight into the store, as an agent
    call leaves one: its system prompt, an instruction, a plan and the work
    (`age_minutes` back dates it, for the order of a list)."""
    when = utc_now() - timedelta(minutes=age_minutes)
    session = Session(
        model="llama3.2:latest", created_at=when, updated_at=when, owner=owner, agent_name=agent
    )
    await store.create_session(
        session,
        [
            Message(Role.SYSTEM, "You count words.", timestamp=when),
            Message(Role.USER, "Count the words of 'one two three'.", timestamp=when),
            Message(Role.ASSISTANT, "Plan: call count_words once.", timestamp=when),
            Message(
                Role.ASSISTANT,
                "",
                timestamp=when,
                tool_calls=[ToolCall(VALID_TOOL, {"text": "one two three"})],
            ),
            Message(Role.TOOL, "3", timestamp=when, tool_name=VALID_TOOL),
            Message(Role.ASSISTANT, "The text has 3 words.", timestamp=when),
        ],
    )
    return session
