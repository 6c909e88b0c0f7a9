"""mochi.v1.ModelService."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import model_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import model_service_pb2_grpc as pb_grpc
from mochi_grpc.llm import LLMBackend
from mochi_grpc.services import convert
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext


class ModelService(pb_grpc.ModelServiceServicer):
    def __init__(self, llm: LLMBackend) -> None:
        self._llm = llm

    @grpc_errors
    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context[object, object]
    ) -> pb.ListModelsResponse:
        models = await self._llm.list_models()
        return pb.ListModelsResponse(models=[convert.model(m) for m in models])

    @grpc_errors
    async def GetModel(
        self, request: pb.GetModelRequest, context: Context[object, object]
    ) -> pb.GetModelResponse:
        return pb.GetModelResponse(model=convert.model(await self._llm.get_model(request.name)))
