"""The /api/v1/sessions endpoints."""

from __future__ import annotations

from google.protobuf import field_mask_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge import payloads
from bridge.bodies import (
    AgentSettingsBody,
    ContextWindowBody,
    CreateSessionBody,
    EditMessageBody,
    SetSessionSystemPromptBody,
    ToolSettingsBody,
    UpdateSessionBody,
)
from bridge.errors import ApiError
from bridge.routes.context import body, clients
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb

MAX_PAGE_SIZE = 1000


def _tool_settings(t: ToolSettingsBody) -> spb.ToolSettings:
    return spb.ToolSettings(
        tools=t.tools,
        execution_policy=payloads.policy_value(t.execution_policy),
        tool_policies={k: payloads.policy_value(v) for k, v in t.tool_policies.items()},
    )


def _agent_settings(a: AgentSettingsBody) -> spb.AgentSettings:
    return spb.AgentSettings(enabled_agents=a.enabled_agents)


def _context_window(w: ContextWindowBody) -> spb.ContextWindowConfig:
    # No window given: 0, which leaves the size to the server.
    return spb.ContextWindowConfig(
        current_window=w.current_window or 0, manual_override=w.manual_override
    )


def page_size(request: Request) -> int:
    raw = request.query_params.get("page_size", str(MAX_PAGE_SIZE))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(
            "VALIDATION_ERROR",
            f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}",
            {"field": "page_size"},
        )
    return int(raw)


def _message_index(request: Request) -> int:
    raw = request.path_params["message_index"]
    try:
        index = int(raw)
    except ValueError:
        raise ApiError(
            "VALIDATION_ERROR", f"message_index must be an integer, not {raw!r}"
        ) from None
    if not -(2**31) <= index < 2**31:
        raise ApiError("INVALID_MESSAGE_INDEX", f"Message index {index} out of range")
    return index


async def create_session(request: Request) -> JSONResponse:
    data = await body(request, CreateSessionBody)
    message = pb.CreateSessionRequest(model=data.model)
    if data.system_prompt:
        message.system_prompt = data.system_prompt
    if data.system_prompt_source_file is not None:
        message.system_prompt_source_file = data.system_prompt_source_file
    if data.tool_settings is not None:
        message.tool_settings.CopyFrom(_tool_settings(data.tool_settings))
    if data.agent_settings is not None:
        message.agent_settings.CopyFrom(_agent_settings(data.agent_settings))
    created = await clients(request).sessions.CreateSession(message)
    return JSONResponse(payloads.session(created.session), status_code=201)


async def list_sessions(request: Request) -> JSONResponse:
    listed = await clients(request).sessions.ListSessions(
        pb.ListSessionsRequest(
            page_size=page_size(request), page_token=request.query_params.get("page_token", "")
        )
    )
    return JSONResponse(
        {
            "sessions": [payloads.session_list_item(s) for s in listed.sessions],
            "next_page_token": listed.next_page_token or None,
        }
    )


async def get_session(request: Request) -> JSONResponse:
    got = await clients(request).sessions.GetSession(
        pb.GetSessionRequest(session_id=request.path_params["session_id"])
    )
    result = payloads.session(got.session)
    result["messages"] = [payloads.message(m) for m in got.messages]
    return JSONResponse(result)


def _update_request(session_id: str, data: UpdateSessionBody) -> pb.UpdateSessionRequest:
    """The session with the given keys set, and those keys as the update mask."""
    session = spb.Session(session_id=session_id)
    paths = []
    if data.model is not None:
        session.model = data.model
        paths.append("model")
    if data.tool_settings is not None:
        session.tool_settings.CopyFrom(_tool_settings(data.tool_settings))
        paths.append("tool_settings")
    if data.agent_settings is not None:
        session.agent_settings.CopyFrom(_agent_settings(data.agent_settings))
        paths.append("agent_settings")
    if data.context_window is not None:
        session.context_window.CopyFrom(_context_window(data.context_window))
        paths.append("context_window")
    return pb.UpdateSessionRequest(
        session=session, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


async def update_session(request: Request) -> JSONResponse:
    data = await body(request, UpdateSessionBody)
    updated = await clients(request).sessions.UpdateSession(
        _update_request(request.path_params["session_id"], data)
    )
    return JSONResponse(payloads.session(updated.session))


async def delete_session(request: Request) -> Response:
    await clients(request).sessions.DeleteSession(
        pb.DeleteSessionRequest(session_id=request.path_params["session_id"])
    )
    return Response(status_code=204)


async def list_messages(request: Request) -> JSONResponse:
    listed = await clients(request).sessions.ListMessages(
        pb.ListMessagesRequest(
            session_id=request.path_params["session_id"],
            page_size=page_size(request),
            page_token=request.query_params.get("page_token", ""),
        )
    )
    return JSONResponse(
        {
            "messages": [payloads.message(m) for m in listed.messages],
            "next_page_token": listed.next_page_token or None,
        }
    )


async def edit_message(request: Request) -> JSONResponse:
    data = await body(request, EditMessageBody)
    edited = await clients(request).sessions.EditMessage(
        pb.EditMessageRequest(
            session_id=request.path_params["session_id"],
            message_index=_message_index(request),
            content=data.content,
        )
    )
    return JSONResponse(
        {"message": payloads.message(edited.message), "message_count": edited.message_count}
    )


async def session_status(request: Request) -> JSONResponse:
    status = await clients(request).sessions.GetSessionStatus(
        pb.GetSessionStatusRequest(session_id=request.path_params["session_id"])
    )
    return JSONResponse(payloads.session_status(status))


async def set_system_prompt(request: Request) -> JSONResponse:
    data = await body(request, SetSessionSystemPromptBody)
    message = pb.SetSessionSystemPromptRequest(session_id=request.path_params["session_id"])
    if data.content is not None:
        message.content = data.content
    if data.source_file is not None:
        message.source_file = data.source_file
    response = await clients(request).sessions.SetSessionSystemPrompt(message)
    return JSONResponse(payloads.session_system_prompt(response))


async def remove_system_prompt(request: Request) -> Response:
    await clients(request).sessions.RemoveSessionSystemPrompt(
        pb.RemoveSessionSystemPromptRequest(session_id=request.path_params["session_id"])
    )
    return Response(status_code=204)


routes = [
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/sessions/{session_id}", update_session, methods=["PATCH"]),
    Route("/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/sessions/{session_id}/messages", list_messages, methods=["GET"]),
    Route("/sessions/{session_id}/messages/{message_index}", edit_message, methods=["PUT"]),
    Route("/sessions/{session_id}/status", session_status, methods=["GET"]),
    Route("/sessions/{session_id}/system-prompt", set_system_prompt, methods=["PUT"]),
    Route("/sessions/{session_id}/system-prompt", remove_system_prompt, methods=["DELETE"]),
]
