"""The /api/v1/system-prompts endpoints: the prompt files of the server.

File names and texts go to the server as given; it decides which it accepts.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge import payloads
from bridge.bodies import CreateSystemPromptBody, UpdateSystemPromptBody
from bridge.routes.context import body, clients
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as pb


def _filename(request: Request) -> str:
    filename: str = request.path_params["filename"]
    return filename


async def list_prompts(request: Request) -> JSONResponse:
    listed = await clients(request).prompts.ListSystemPrompts(pb.ListSystemPromptsRequest())
    return JSONResponse({"prompts": [payloads.system_prompt_item(p) for p in listed.prompts]})


async def get_prompt(request: Request) -> JSONResponse:
    got = await clients(request).prompts.GetSystemPrompt(
        pb.GetSystemPromptRequest(filename=_filename(request))
    )
    return JSONResponse(payloads.system_prompt(got.prompt))


async def create_prompt(request: Request) -> JSONResponse:
    data = await body(request, CreateSystemPromptBody)
    created = await clients(request).prompts.CreateSystemPrompt(
        pb.CreateSystemPromptRequest(filename=data.filename, content=data.content)
    )
    return JSONResponse(payloads.system_prompt(created.prompt), status_code=201)


async def update_prompt(request: Request) -> JSONResponse:
    data = await body(request, UpdateSystemPromptBody)
    updated = await clients(request).prompts.UpdateSystemPrompt(
        pb.UpdateSystemPromptRequest(filename=_filename(request), content=data.content)
    )
    return JSONResponse(payloads.system_prompt(updated.prompt))


async def delete_prompt(request: Request) -> Response:
    await clients(request).prompts.DeleteSystemPrompt(
        pb.DeleteSystemPromptRequest(filename=_filename(request))
    )
    return Response(status_code=204)


# {filename} matches one path segment: a name with "/" in it matches no route.
routes = [
    Route("/system-prompts", list_prompts, methods=["GET"]),
    Route("/system-prompts", create_prompt, methods=["POST"]),
    Route("/system-prompts/{filename}", get_prompt, methods=["GET"]),
    Route("/system-prompts/{filename}", update_prompt, methods=["PUT"]),
    Route("/system-prompts/{filename}", delete_prompt, methods=["DELETE"]),
]
