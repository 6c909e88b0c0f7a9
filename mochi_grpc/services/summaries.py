"""mochi.v1.SummaryService: translates requests and delegates to the domain."""

from __future__ import annotations

import grpc

from mochi_grpc._gen.mochi.v1 import summary_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import summary_service_pb2_grpc as pb_grpc
from mochi_grpc.chat.summaries import Summarizer
from mochi_grpc.services.auth import caller
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext


class SummaryService(pb_grpc.SummaryServiceServicer):
    def __init__(self, summarizer: Summarizer) -> None:
        self._summarizer = summarizer

    @grpc_errors
    async def SummarizeSession(
        self, request: pb.SummarizeSessionRequest, context: Context[object, object]
    ) -> pb.SummarizeSessionResponse:
        summary, model = await self._summarizer.summarize(
            request.session_id,
            request.model if request.HasField("model") else None,
            principal=caller(),
        )
        return pb.SummarizeSessionResponse(
            summary=summary.summary, topics=summary.topics, model_used=model
        )

    @grpc_errors
    async def GetSessionSummary(
        self, request: pb.GetSessionSummaryRequest, context: Context[object, object]
    ) -> pb.GetSessionSummaryResponse:
        summary, model = await self._summarizer.get(request.session_id, principal=caller())
        return pb.GetSessionSummaryResponse(
            summary=summary.summary, topics=summary.topics, model_used=model
        )
