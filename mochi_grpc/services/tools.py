"""mochi.v1.ToolService."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import tool_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import tool_service_pb2_grpc as pb_grpc
from mochi_grpc.services import convert
from mochi_grpc.services.errors import grpc_errors
from mochi_grpc.tools import Tool, ToolCatalog

Context = grpc.aio.ServicerContext


def _tool(t: Tool) -> pb.Tool:
    return pb.Tool(name=t.name, description=t.description, parameters=convert.struct(t.parameters))


def _errors(catalog: ToolCatalog) -> list[pb.ToolLoadError]:
    return [pb.ToolLoadError(module=e.module, error=e.error) for e in catalog.load_errors]


class ToolService(pb_grpc.ToolServiceServicer):
    def __init__(self, catalog: ToolCatalog) -> None:
        self._catalog = catalog

    @grpc_errors
    async def ListTools(
        self, request: pb.ListToolsRequest, context: Context[object, object]
    ) -> pb.ListToolsResponse:
        return pb.ListToolsResponse(
            tools=[_tool(t) for t in self._catalog.list()], load_errors=_errors(self._catalog)
        )

    @grpc_errors
    async def GetTool(
        self, request: pb.GetToolRequest, context: Context[object, object]
    ) -> pb.GetToolResponse:
        return pb.GetToolResponse(tool=_tool(self._catalog.get(request.name)))

    @grpc_errors
    async def ReloadTools(
        self, request: pb.ReloadToolsRequest, context: Context[object, object]
    ) -> pb.ReloadToolsResponse:
        await self._catalog.reload()
        return pb.ReloadToolsResponse(
            tools_count=len(self._catalog.list()), load_errors=_errors(self._catalog)
        )
