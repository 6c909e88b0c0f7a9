"""mochi.v1.ServerService."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import server_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import server_service_pb2_grpc as pb_grpc
from mochi_grpc.config import VERSION
from mochi_grpc.llm import LLMBackend
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext


class ServerService(pb_grpc.ServerServiceServicer):
    def __init__(self, llm: LLMBackend) -> None:
        self._llm = llm

    @grpc_errors
    async def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: Context[object, object]
    ) -> pb.GetServerInfoResponse:
        return pb.GetServerInfoResponse(
            version=VERSION,
            backend=self._llm.name,
            ollama_host=self._llm.host,
            ollama_connected=await self._llm.is_connected(),
        )
