"""Reading the agents' own conversations.

Each call of an agent runs in a session of the agent's (Session.agent_name
set), owned by the key whose turn called it. They are listed apart from the
user's sessions and read with the same rule: a non-admin key sees only its
own, and an id that names no agent session is SESSION_NOT_FOUND.
"""

from __future__ import annotations

from mochi_grpc.auth import Principal
from mochi_grpc.chat.sessions import SessionManager
from mochi_grpc.entities import Message, Session
from mochi_grpc.errors import SessionNotFound
from mochi_grpc.store import SessionPage


class AgentChats:
    def __init__(self, sessions: SessionManager) -> None:
        self._sessions = sessions

    async def list_chats(
        self, page_size: int, page_token: str, *, principal: Principal
    ) -> SessionPage:
        """The agent sessions the caller may see, most recently updated first."""
        return await self._sessions.list_sessions(
            page_size, page_token, principal=principal, agents=True
        )

    async def get_chat(
        self, session_id: str, *, principal: Principal
    ) -> tuple[Session, list[Message]]:
        """One agent session with its whole history."""
        session, messages = await self._sessions.get_session(session_id, principal=principal)
        if session.agent_name is None:
            raise SessionNotFound(session_id)
        return session, messages
