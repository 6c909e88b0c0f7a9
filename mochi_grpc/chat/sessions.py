"""Creating, reading, changing and deleting sessions, and their system prompt."""

from __future__ import annotations

from dataclasses import dataclass

from mochi_grpc.auth import Principal
from mochi_grpc.chat import context_window
from mochi_grpc.chat.prompts import PromptLibrary, check_content, check_filename
from mochi_grpc.coordination import Coordination, claimed
from mochi_grpc.entities import (
    AgentSettings,
    ContextWindowConfig,
    Message,
    Role,
    Session,
    ToolSettings,
    utc_now,
)
from mochi_grpc.errors import InvalidMessageIndex, InvalidRequest, MochiError, NoSystemPrompt
from mochi_grpc.llm import LLMBackend
from mochi_grpc.store import MessagePage, SessionPage, SessionStore


@dataclass(frozen=True)
class WindowChange:
    """A context window fixed by hand (manual_override) or let go again."""

    manual_override: bool
    current_window: int = 0


@dataclass(frozen=True)
class SessionUpdate:
    """The fields to change; None leaves a field as it is."""

    model: str | None = None
    tool_settings: ToolSettings | None = None
    agent_settings: AgentSettings | None = None
    context_window: WindowChange | None = None


@dataclass(frozen=True)
class SessionStatus:
    session: Session
    model_max_context: int | None
    system_prompt_file: str | None


@dataclass(frozen=True)
class SystemPrompt:
    content: str
    source_file: str | None


class SessionManager:
    def __init__(
        self,
        store: SessionStore,
        llm: LLMBackend,
        coordination: Coordination,
        prompts: PromptLibrary,
    ) -> None:
        self._store = store
        self._llm = llm
        self._coordination = coordination
        self._prompts = prompts

    async def create_session(
        self,
        model: str,
        *,
        system_prompt: str | None = None,
        system_prompt_source_file: str | None = None,
        tool_settings: ToolSettings | None = None,
        agent_settings: AgentSettings | None = None,
        principal: Principal,
    ) -> Session:
        """A new session, owned by the calling key."""
        if not model.strip():
            raise InvalidRequest("model is required", field="model")
        prompt = None
        if system_prompt:
            # Given text wins; a file named beside it is only its label.
            label = check_filename(system_prompt_source_file) if system_prompt_source_file else None
            prompt = SystemPrompt(check_content(system_prompt), label)
        elif system_prompt_source_file:
            prompt = await self._from_file(system_prompt_source_file)
        # The backend resolves the name as Ollama does; the session keeps the
        # name the model is listed under (`llama3.2` -> `llama3.2:latest`).
        info = await self._llm.get_model(model)
        now = utc_now()
        session = Session(
            model=info.name,
            created_at=now,
            updated_at=now,
            tool_settings=tool_settings or ToolSettings(),
            agent_settings=agent_settings or AgentSettings(),
            context_window=context_window.new_config(info.context_length),
            owner=principal.name,
        )
        messages = [] if prompt is None else [self._system_message(prompt)]
        await self._store.create_session(session, messages)
        return session

    async def get_session(
        self, session_id: str, *, principal: Principal
    ) -> tuple[Session, list[Message]]:
        session, messages = await self._store.get_conversation(session_id)
        principal.check_owns(session)
        return session, messages

    async def list_sessions(
        self, page_size: int, page_token: str, *, principal: Principal, agents: bool = False
    ) -> SessionPage:
        """The caller's sessions: the user's own, or with `agents` the agents'."""
        return await self._store.list_sessions(
            page_size, page_token, principal.listing_owner, agents=agents
        )

    async def list_messages(
        self, session_id: str, page_size: int, page_token: str, *, principal: Principal
    ) -> MessagePage:
        await self._visible(session_id, principal)
        return await self._store.list_messages(session_id, page_size or None, page_token)

    async def _visible(self, session_id: str, principal: Principal) -> Session:
        """The session, if the caller may see it; else SessionNotFound (checked
        before any lock, so a busy session of another key says nothing either)."""
        return principal.check_owns(await self._store.get_session(session_id))

    async def update_session(
        self, session_id: str, update: SessionUpdate, *, principal: Principal
    ) -> Session:
        await self._visible(session_id, principal)
        async with claimed(self._coordination, session_id):
            session = await self._store.get_session(session_id)
            if update.model is not None and update.model != session.model:
                info = await self._llm.get_model(update.model)
                if info.name != session.model:  # another spelling of the same model changes nothing
                    session.model = info.name
                    session.context_window = context_window.for_new_model(
                        session.context_window, info.context_length
                    )
            if update.tool_settings is not None:
                session.tool_settings = update.tool_settings
            if update.agent_settings is not None:
                session.agent_settings = update.agent_settings
            if update.context_window is not None:
                session.context_window = self._window(session, update.context_window)
            session.updated_at = utc_now()
            await self._store.update_session(session)
            return session

    @staticmethod
    def _window(session: Session, change: WindowChange) -> ContextWindowConfig:
        config = session.context_window
        if not change.manual_override:
            if change.current_window:
                raise InvalidRequest(
                    "current_window can only be set with manual_override true",
                    field="context_window.current_window",
                )
            return context_window.clear_manual(config)
        limit = config.model_max_context
        if change.current_window < 1 or (limit is not None and change.current_window > limit):
            raise InvalidRequest(
                f"current_window must be between 1 and the model's context length ({limit})"
                if limit
                else "current_window must be at least 1",
                field="context_window.current_window",
            )
        return context_window.set_by_hand(config, change.current_window)

    async def delete_session(self, session_id: str, *, principal: Principal) -> None:
        await self._visible(session_id, principal)
        async with claimed(self._coordination, session_id):
            await self._store.delete_session(session_id)

    async def status(self, session_id: str, *, principal: Principal) -> SessionStatus:
        session = await self._visible(session_id, principal)
        first = await self._store.get_message(session_id, 0)
        try:
            max_context: int | None = (await self._llm.get_model(session.model)).context_length
        except MochiError:
            max_context = None  # the status still answers when the backend cannot
        source = first.source_file if first is not None and first.role is Role.SYSTEM else None
        return SessionStatus(session, max_context, source)

    async def edit_message(
        self, session_id: str, index: int, content: str, *, principal: Principal
    ) -> tuple[Message, int]:
        """Replaces a user message's text and drops every later message."""
        await self._visible(session_id, principal)
        async with claimed(self._coordination, session_id):
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

    async def set_system_prompt(
        self, session_id: str, content: str | None, source_file: str | None, *, principal: Principal
    ) -> SystemPrompt:
        """Sets message 0 to the prompt (a named file wins over given text);
        the history after it is kept."""
        if source_file:
            prompt = await self._from_file(source_file)
        elif content is not None:
            prompt = SystemPrompt(check_content(content), None)
        else:
            raise InvalidRequest("Give the prompt's content or a source_file", field="content")
        await self._visible(session_id, principal)
        async with claimed(self._coordination, session_id):
            session = await self._store.get_session(session_id)
            first = await self._store.get_message(session_id, 0)
            replaced = 1 if first is not None and first.role is Role.SYSTEM else 0
            session.updated_at = utc_now()
            await self._store.splice(session, 0, replaced, [self._system_message(prompt)])
        return prompt

    async def remove_system_prompt(self, session_id: str, *, principal: Principal) -> None:
        await self._visible(session_id, principal)
        async with claimed(self._coordination, session_id):
            session = await self._store.get_session(session_id)
            first = await self._store.get_message(session_id, 0)
            if first is None or first.role is not Role.SYSTEM:
                raise NoSystemPrompt(
                    f"Session {session_id} has no system prompt", details={"session_id": session_id}
                )
            session.updated_at = utc_now()
            await self._store.splice(session, 0, 1, [])

    async def _from_file(self, filename: str) -> SystemPrompt:
        prompt = await self._prompts.get(filename)
        return SystemPrompt(prompt.content, prompt.filename)

    @staticmethod
    def _system_message(prompt: SystemPrompt) -> Message:
        return Message(Role.SYSTEM, prompt.content, source_file=prompt.source_file)
