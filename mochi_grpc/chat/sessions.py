"""Creating, reading, changing and deleting sessions."""

from __future__ import annotations

from dataclasses import dataclass

from mochi_grpc.chat.locks import SessionLocks
from mochi_grpc.entities import (
    AgentSettings,
    Message,
    Role,
    Session,
    ToolSettings,
    utc_now,
)
from mochi_grpc.errors import InvalidMessageIndex, InvalidRequest, MochiError
from mochi_grpc.llm import LLMBackend
from mochi_grpc.store import MessagePage, SessionPage, SessionStore


@dataclass(frozen=True)
class SessionUpdate:
    """The fields to change; None leaves a field as it is."""

    model: str | None = None
    tool_settings: ToolSettings | None = None
    agent_settings: AgentSettings | None = None


class SessionManager:
    def __init__(self, store: SessionStore, llm: LLMBackend, locks: SessionLocks) -> None:
        self._store = store
        self._llm = llm
        self._locks = locks

    async def create_session(
        self,
        model: str,
        *,
        system_prompt: str | None = None,
        system_prompt_source_file: str | None = None,
        tool_settings: ToolSettings | None = None,
        agent_settings: AgentSettings | None = None,
    ) -> Session:
        if not model.strip():
            raise InvalidRequest("model is required", field="model")
        await self._llm.get_model(model)
        now = utc_now()
        session = Session(
            model=model,
            created_at=now,
            updated_at=now,
            tool_settings=tool_settings or ToolSettings(),
            agent_settings=agent_settings or AgentSettings(),
        )
        messages = []
        if system_prompt:
            messages.append(
                Message(
                    Role.SYSTEM,
                    system_prompt,
                    timestamp=now,
                    source_file=system_prompt_source_file or None,
                )
            )
        await self._store.create_session(session, messages)
        return session

    async def get_session(self, session_id: str) -> tuple[Session, list[Message]]:
        return await self._store.get_conversation(session_id)

    async def list_sessions(self, page_size: int, page_token: str) -> SessionPage:
        return await self._store.list_sessions(page_size, page_token)

    async def list_messages(self, session_id: str, page_size: int, page_token: str) -> MessagePage:
        return await self._store.list_messages(session_id, page_size or None, page_token)

    async def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        with self._locks.hold(session_id):
            session = await self._store.get_session(session_id)
            if update.model is not None and update.model != session.model:
                await self._llm.get_model(update.model)
                session.model = update.model
            if update.tool_settings is not None:
                session.tool_settings = update.tool_settings
            if update.agent_settings is not None:
                session.agent_settings = update.agent_settings
            session.updated_at = utc_now()
            await self._store.update_session(session)
            return session

    async def delete_session(self, session_id: str) -> None:
        with self._locks.hold(session_id):
            await self._store.delete_session(session_id)

    async def status(self, session_id: str) -> SessionStatus:
        session = await self._store.get_session(session_id)
        first = await self._store.get_message(session_id, 0)
        try:
            max_context: int | None = (await self._llm.get_model(session.model)).context_length
        except MochiError:
            max_context = None  # the status still answers when the backend cannot
        source = first.source_file if first is not None and first.role is Role.SYSTEM else None
        return SessionStatus(session, max_context, source)

    async def edit_message(self, session_id: str, index: int, content: str) -> tuple[Message, int]:
        """Replaces a user message's text and drops every later message."""
        with self._locks.hold(session_id):
            session = await self._store.get_session(session_id)
            count = session.message_count
            if not 0 <= index < count:
                raise InvalidMessageIndex(
                    f"Message index {index} out of range (0-{count - 1})",
                    details={"message_index": index, "message_count": count},
                    field="message_index",
                )
            message = await self._store.get_message(session_id, index)
            if message is None or message.role is not Role.USER:
                raise InvalidMessageIndex(
                    "Can only edit user messages",
                    details={"message_index": index},
                    field="message_index",
                )
            message.content = content
            message.timestamp = session.updated_at = utc_now()
            await self._store.replace_tail(session, index, [message])
            return message, session.message_count


@dataclass(frozen=True)
class SessionStatus:
    session: Session
    model_max_context: int | None
    system_prompt_file: str | None
