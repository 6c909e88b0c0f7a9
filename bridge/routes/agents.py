"""The /api/v1/agents endpoints: the agents the server discovered and the
conversations they had."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge import payloads
from bridge.routes.context import clients
from bridge.routes.sessions import page_size
from mochi_grpc._gen.mochi.v1 import agent_service_pb2 as pb


async def list_agents(request: Request) -> JSONResponse:
    listed = await clients(request).agents.ListAgents(pb.ListAgentsRequest())
    return JSONResponse(payloads.agent_list(listed))


async def get_agent(request: Request) -> JSONResponse:
    got = await clients(request).agents.GetAgent(
        pb.GetAgentRequest(agent_name=request.path_params["agent_name"])
    )
    return JSONResponse(payloads.agent(got.agent))


async def reload_agents(request: Request) -> JSONResponse:
    reloaded = await clients(request).agents.ReloadAgents(pb.ReloadAgentsRequest())
    return JSONResponse(payloads.agents_reloaded(reloaded))


async def list_agent_chats(request: Request) -> JSONResponse:
    listed = await clients(request).agents.ListAgentChats(
        pb.ListAgentChatsRequest(
            page_size=page_size(request), page_token=request.query_params.get("page_token", "")
        )
    )
    return JSONResponse(
        {
            "sessions": [payloads.agent_chat_item(s) for s in listed.sessions],
            "next_page_token": listed.next_page_token or None,
        }
    )


async def get_agent_chat(request: Request) -> JSONResponse:
    got = await clients(request).agents.GetAgentChat(
        pb.GetAgentChatRequest(session_id=request.path_params["session_id"])
    )
    return JSONResponse(payloads.agent_chat(got))


routes = [
    Route("/agents", list_agents, methods=["GET"]),
    Route("/agents/agent/{agent_name}", get_agent, methods=["GET"]),
    Route("/agents/reload", reload_agents, methods=["POST"]),
    Route("/agents/chats", list_agent_chats, methods=["GET"]),
    Route("/agents/chats/{session_id}", get_agent_chat, methods=["GET"]),
]
