"""mochi.v1.SessionService: translates requests and delegates to the domain."""

from __future__ import annotations

from typing import Any, Literal

import grpc

from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import session_service_pb2_grpc as pb_grpc
from mochi_grpc._gen.mochi.v1.session_pb2 import Session
from mochi_grpc._gen.mochi.v1.session_service_pb2 import CreateSessionRequest
from mochi_grpc.chat import SessionManager, SessionUpdate, WindowChange
from mochi_grpc.errors import InvalidRequest
from mochi_grpc.services import convert
from mochi_grpc.services.auth import caller
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext

_SETTINGS: tuple[Literal["tool_settings"], Literal["agent_settings"]] = (
    "tool_settings",
    "agent_settings",
)
_UPDATABLE = {"model", "context_window", *_SETTINGS}


def _settings(source: CreateSessionRequest | Session, given: set[str]) -> dict[str, Any]:
    """The tool and agent settings named in `given`, as the domain takes them."""
    return {
        "tool_settings": convert.tool_settings_from(source.tool_settings)
        if "tool_settings" in given
        else None,
        "agent_settings": convert.agent_settings_from(source.agent_settings)
        if "agent_settings" in given
        else None,
    }


def _optional(request: object, name: str) -> str | None:
    return getattr(request, name) if request.HasField(name) else None  # type: ignore[attr-defined]


class SessionService(pb_grpc.SessionServiceServicer):
    def __init__(self, sessions: SessionManager) -> None:
        self._sessions = sessions

    @grpc_errors
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: Context[object, object]
    ) -> pb.CreateSessionResponse:
        session = await self._sessions.create_session(
            request.model,
            system_prompt=_optional(request, "system_prompt"),
            system_prompt_source_file=_optional(request, "system_prompt_source_file"),
            **_settings(request, {f for f in _SETTINGS if request.HasField(f)}),
            principal=caller(),
        )
        return pb.CreateSessionResponse(session=convert.session(session))

    @grpc_errors
    async def GetSession(
        self, request: pb.GetSessionRequest, context: Context[object, object]
    ) -> pb.GetSessionResponse:
        session, messages = await self._sessions.get_session(request.session_id, principal=caller())
        return pb.GetSessionResponse(
            session=convert.session(session), messages=[convert.message(m) for m in messages]
        )

    @grpc_errors
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Context[object, object]
    ) -> pb.ListSessionsResponse:
        page = await self._sessions.list_sessions(
            request.page_size, request.page_token, principal=caller()
        )
        return pb.ListSessionsResponse(
            sessions=[convert.session(s) for s in page.sessions],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def UpdateSession(
        self, request: pb.UpdateSessionRequest, context: Context[object, object]
    ) -> pb.UpdateSessionResponse:
        paths = set(request.update_mask.paths)
        unknown = paths - _UPDATABLE
        if unknown:
            raise InvalidRequest(
                f"Cannot update {', '.join(sorted(unknown))};"
                f" the fields that can change are {', '.join(sorted(_UPDATABLE))}",
                field="update_mask",
            )
        given = request.session
        update = SessionUpdate(
            model=given.model if "model" in paths else None,
            **_settings(given, paths),
            context_window=WindowChange(
                manual_override=given.context_window.manual_override,
                current_window=given.context_window.current_window,
            )
            if "context_window" in paths
            else None,
        )
        session = await self._sessions.update_session(given.session_id, update, principal=caller())
        return pb.UpdateSessionResponse(session=convert.session(session))

    @grpc_errors
    async def DeleteSession(
        self, request: pb.DeleteSessionRequest, context: Context[object, object]
    ) -> pb.DeleteSessionResponse:
        await self._sessions.delete_session(request.session_id, principal=caller())
        return pb.DeleteSessionResponse()

    @grpc_errors
    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context[object, object]
    ) -> pb.ListMessagesResponse:
        page = await self._sessions.list_messages(
            request.session_id, request.page_size, request.page_token, principal=caller()
        )
        return pb.ListMessagesResponse(
            messages=[convert.message(m) for m in page.messages],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def EditMessage(
        self, request: pb.EditMessageRequest, context: Context[object, object]
    ) -> pb.EditMessageResponse:
        message, count = await self._sessions.edit_message(
            request.session_id, request.message_index, request.content, principal=caller()
        )
        return pb.EditMessageResponse(message=convert.message(message), message_count=count)

    @grpc_errors
    async def GetSessionStatus(
        self, request: pb.GetSessionStatusRequest, context: Context[object, object]
    ) -> pb.GetSessionStatusResponse:
        status = await self._sessions.status(request.session_id, principal=caller())
        session = status.session
        window = session.context_window
        tools = session.tool_settings
        return pb.GetSessionStatusResponse(
            session_id=session.session_id,
            model=session.model,
            message_count=session.message_count,
            context_window=pb.ContextWindowStatus(
                dynamic_enabled=window.dynamic_enabled,
                current_window=window.current_window,
                model_max_context=status.model_max_context,
                last_adjustment_reason=convert.reason(window.last_adjustment),
                manual_override=window.manual_override,
            ),
            tools_enabled=bool(tools.tools),
            active_tools=tools.tools,
            execution_policy=convert.tool_settings(tools).execution_policy,
            agents_enabled=bool(session.agent_settings.enabled_agents),
            enabled_agents=session.agent_settings.enabled_agents,
            system_prompt_file=status.system_prompt_file,
            summary=convert.summary(session.summary) if session.summary else None,
            summary_model=session.summary_model,
        )

    @grpc_errors
    async def SetSessionSystemPrompt(
        self, request: pb.SetSessionSystemPromptRequest, context: Context[object, object]
    ) -> pb.SetSessionSystemPromptResponse:
        prompt = await self._sessions.set_system_prompt(
            request.session_id,
            _optional(request, "content"),
            _optional(request, "source_file"),
            principal=caller(),
        )
        return pb.SetSessionSystemPromptResponse(
            content=prompt.content, source_file=prompt.source_file, message_index=0
        )

    @grpc_errors
    async def RemoveSessionSystemPrompt(
        self, request: pb.RemoveSessionSystemPromptRequest, context: Context[object, object]
    ) -> pb.RemoveSessionSystemPromptResponse:
        await self._sessions.remove_system_prompt(request.session_id, principal=caller())
        return pb.RemoveSessionSystemPromptResponse()
