"""mochi.v1.SystemPromptService."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2_grpc as pb_grpc
from mochi_grpc.chat.prompts import PromptFile, PromptLibrary
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext


def _prompt(p: PromptFile, *, with_content: bool = True) -> pb.SystemPrompt:
    return pb.SystemPrompt(
        filename=p.filename,
        content=p.content if with_content else "",
        preview=p.preview,
        word_count=p.word_count,
    )


class SystemPromptService(pb_grpc.SystemPromptServiceServicer):
    def __init__(self, prompts: PromptLibrary) -> None:
        self._prompts = prompts

    @grpc_errors
    async def ListSystemPrompts(
        self, request: pb.ListSystemPromptsRequest, context: Context[object, object]
    ) -> pb.ListSystemPromptsResponse:
        prompts = await self._prompts.list()
        return pb.ListSystemPromptsResponse(
            prompts=[_prompt(p, with_content=False) for p in prompts]
        )

    @grpc_errors
    async def GetSystemPrompt(
        self, request: pb.GetSystemPromptRequest, context: Context[object, object]
    ) -> pb.GetSystemPromptResponse:
        return pb.GetSystemPromptResponse(prompt=_prompt(await self._prompts.get(request.filename)))

    @grpc_errors
    async def CreateSystemPrompt(
        self, request: pb.CreateSystemPromptRequest, context: Context[object, object]
    ) -> pb.CreateSystemPromptResponse:
        created = await self._prompts.create(request.filename, request.content)
        return pb.CreateSystemPromptResponse(prompt=_prompt(created))

    @grpc_errors
    async def UpdateSystemPrompt(
        self, request: pb.UpdateSystemPromptRequest, context: Context[object, object]
    ) -> pb.UpdateSystemPromptResponse:
        updated = await self._prompts.update(request.filename, request.content)
        return pb.UpdateSystemPromptResponse(prompt=_prompt(updated))

    @grpc_errors
    async def DeleteSystemPrompt(
        self, request: pb.DeleteSystemPromptRequest, context: Context[object, object]
    ) -> pb.DeleteSystemPromptResponse:
        await self._prompts.delete(request.filename)
        return pb.DeleteSystemPromptResponse()
