"""mochi.v1.AgentService: the discovered agents and their conversations."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import agent_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import agent_service_pb2_grpc as pb_grpc
from mochi_grpc.agents import Agent, AgentCatalog
from mochi_grpc.chat.agent_chats import AgentChats
from mochi_grpc.services import convert
from mochi_grpc.services.auth import caller
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext


def _agent(a: Agent) -> pb.Agent:
    return pb.Agent(
        name=a.name,
        description=a.description,
        model=a.model,
        valid=a.valid,
        tool_count=len(a.tools),
        tools=sorted(a.tools),
        error_message=a.error,
        system_prompt=a.system_prompt,
    )


class AgentService(pb_grpc.AgentServiceServicer):
    def __init__(self, catalog: AgentCatalog, chats: AgentChats) -> None:
        self._catalog = catalog
        self._chats = chats

    @grpc_errors
    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: Context[object, object]
    ) -> pb.ListAgentsResponse:
        return pb.ListAgentsResponse(agents=[_agent(a) for a in self._catalog.list()])

    @grpc_errors
    async def GetAgent(
        self, request: pb.GetAgentRequest, context: Context[object, object]
    ) -> pb.GetAgentResponse:
        return pb.GetAgentResponse(agent=_agent(self._catalog.runnable(request.agent_name)))

    @grpc_errors
    async def ReloadAgents(
        self, request: pb.ReloadAgentsRequest, context: Context[object, object]
    ) -> pb.ReloadAgentsResponse:
        await self._catalog.reload()
        agents = self._catalog.list()
        return pb.ReloadAgentsResponse(
            agents_count=len(agents),
            valid_count=sum(a.valid for a in agents),
            message=f"Successfully reloaded {len(agents)} agents",
        )

    @grpc_errors
    async def ListAgentChats(
        self, request: pb.ListAgentChatsRequest, context: Context[object, object]
    ) -> pb.ListAgentChatsResponse:
        page = await self._chats.list_chats(
            request.page_size, request.page_token, principal=caller()
        )
        return pb.ListAgentChatsResponse(
            sessions=[convert.session(s) for s in page.sessions],
            next_page_token=page.next_page_token,
        )

    @grpc_errors
    async def GetAgentChat(
        self, request: pb.GetAgentChatRequest, context: Context[object, object]
    ) -> pb.GetAgentChatResponse:
        session, messages = await self._chats.get_chat(request.session_id, principal=caller())
        return pb.GetAgentChatResponse(
            session=convert.session(session), messages=[convert.message(m) for m in messages]
        )
