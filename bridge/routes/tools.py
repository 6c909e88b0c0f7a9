"""The /api/v1/tools endpoints: the tools the server discovered."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge import payloads
from bridge.routes.context import clients
from mochi_grpc._gen.mochi.v1 import tool_service_pb2 as pb


async def list_tools(request: Request) -> JSONResponse:
    listed = await clients(request).tools.ListTools(pb.ListToolsRequest())
    return JSONResponse(payloads.tool_list(listed))


async def get_tool(request: Request) -> JSONResponse:
    got = await clients(request).tools.GetTool(
        pb.GetToolRequest(name=request.path_params["tool_name"])
    )
    return JSONResponse(payloads.tool(got.tool))


async def reload_tools(request: Request) -> JSONResponse:
    reloaded = await clients(request).tools.ReloadTools(pb.ReloadToolsRequest())
    return JSONResponse(payloads.tools_reloaded(reloaded))


# GET /tools/reload is the lookup of a tool named "reload", like any other name.
routes = [
    Route("/tools", list_tools, methods=["GET"]),
    Route("/tools/reload", reload_tools, methods=["POST"]),
    Route("/tools/{tool_name}", get_tool, methods=["GET"]),
]
