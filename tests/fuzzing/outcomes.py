"""Calling a method, and what every call must end with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as prompt_pb
from mochi_grpc.stubs import SystemPromptStub
from tests.fuzzing.rpcs import Rpc


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]
    responses: list[Any]


async def invoke(
    channel: grpc.aio.Channel, rpc: Rpc, request: Message | bytes, *, deadline: float
) -> Outcome:
    """Calls the method with a message or with raw bytes as they are; never raises
    for a status, so the caller can check it."""
    serializer: Callable[[Any], bytes] | None = (
        (lambda m: m.SerializeToString()) if isinstance(request, Message) else None
    )
    deserializer = rpc.response.FromString
    responses: list[Any] = []
    try:
        if rpc.streaming:
            stream_call = channel.unary_stream(
                rpc.path, request_serializer=serializer, response_deserializer=deserializer
            )(request, timeout=deadline)
            async for response in stream_call:
                responses.append(response)
            code = await stream_call.code()
            return Outcome(code, await stream_call.details(), (), responses)
        unary = channel.unary_unary(
            rpc.path, request_serializer=serializer, response_deserializer=deserializer
        )
        responses.append(await unary(request, timeout=deadline))
        return Outcome(grpc.StatusCode.OK, "", (), responses)
    except grpc.aio.AioRpcError as exc:
        return Outcome(
            exc.code(), exc.details() or "", tuple(exc.trailing_metadata() or ()), responses
        )


# The statuses a call may end with: the SPEC's errors, and OK.
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
}


def is_too_large(outcome: Outcome) -> bool:
    """gRPC's own refusal of a request over the server's message limit."""
    return (
        outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in outcome.details
    )


def is_grpc_decode_refusal(outcome: Outcome) -> bool:
    """grpc.aio's own answer to a request its deserializer refused."""
    return outcome.code == grpc.StatusCode.UNKNOWN and outcome.details.startswith(
        "Unexpected <class 'google.protobuf.message.DecodeError'>"
    )


def error_info(outcome: Outcome) -> error_details_pb2.ErrorInfo | None:
    raw = dict(outcome.trailing_metadata).get("grpc-status-details-bin")
    if not isinstance(raw, bytes):
        return None
    status = status_pb2.Status.FromString(raw)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def check_outcome(rpc: Rpc, outcome: Outcome, *, tolerate: Callable[[Outcome], bool]) -> None:
    """A clean status; an error of ours says which in an ErrorInfo; the
    events of a turn (ChatStream, WatchTurn) end with done or error."""
    shown = f"{rpc}: {outcome.code.name} {outcome.details[:300]!r}"
    if tolerate(outcome):
        return
    assert outcome.code != grpc.StatusCode.DEADLINE_EXCEEDED, f"hang: {shown}"
    assert outcome.code in ALLOWED, f"unclean status: {shown}"
    if outcome.code != grpc.StatusCode.OK and not is_too_large(outcome):
        info = error_info(outcome)
        assert info is not None, f"no google.rpc.ErrorInfo: {shown}"
        assert info.domain == "mochi.v1" and info.reason, f"ErrorInfo {info}: {shown}"
    if rpc.response is chat_pb.ChatEvent and outcome.code == grpc.StatusCode.OK:
        # A turn's events end with done or error; a watcher that has seen
        # them all gets none.
        last = outcome.responses[-1] if outcome.responses else None
        kind = last.WhichOneof("event") if isinstance(last, chat_pb.ChatEvent) else None
        ended = kind in ("done", "error") or (kind is None and rpc.name == "WatchTurn")
        assert ended, f"{shown}: the stream ended with {kind}"


async def check_serving(channel: grpc.aio.Channel, *, deadline: float = 10) -> None:
    """The health check answers SERVING and a simple call succeeds."""
    health: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=deadline)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    await SystemPromptStub(channel).ListSystemPrompts(
        prompt_pb.ListSystemPromptsRequest(), timeout=deadline
    )
