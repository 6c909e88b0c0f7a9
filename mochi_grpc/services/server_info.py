"""mochi.v1.ServerService."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import server_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import server_service_pb2_grpc as pb_grpc
from mochi_grpc.config import VERSION
from mochi_grpc.llm import LLMBackend
from mochi_grpc.services.auth import caller
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext


class ServerService(pb_grpc.ServerServiceServicer):
    def __init__(self, llm: LLMBackend, ollama_host: str) -> None:
        self._llm = llm
        self._ollama_host = ollama_host

    @grpc_errors
    async def GetServerInfo(
        self, request: pb.GetServerInfoRequest, context: Context[object, object]
    ) -> pb.GetServerInfoResponse:
        # With the embedded model serving, Ollama is not in use at all.
        uses_ollama = self._llm.name == "ollama"
        return pb.GetServerInfoResponse(
            version=VERSION,
            backend=self._llm.name,
            ollama_host=self._ollama_host,
            ollama_connected=uses_ollama and await self._llm.is_connected(),
        )

    @grpc_errors
    async def GetCaller(
        self, request: pb.GetCallerRequest, context: Context[object, object]
    ) -> pb.GetCallerResponse:
        # Lets a front end (the bridge's /metrics) ask whether a key is an
        # admin's without holding keys itself; the key's token is not told.
        principal = caller()
        return pb.GetCallerResponse(key_name=principal.name or "", admin=principal.admin)
