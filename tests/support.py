"""Small helpers shared by the tests: reading gRPC errors and event streams."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message as ProtoMessage
from google.rpc import error_details_pb2, status_pb2

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as chat_pb


@dataclass(frozen=True)
class ErrorInfo:
    code: grpc.StatusCode
    reason: str
    domain: str
    message: str
    field: str | None
    # The ErrorInfo's metadata: the error's details.
    details: dict[str, str]


def error_info(exc: grpc.aio.AioRpcError) -> ErrorInfo:
    """The status code and the google.rpc details of a failed call."""
    raw = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes), f"no rich status details in {exc!r}"
    status = status_pb2.Status.FromString(raw)
    reason = domain = ""
    at: str | None = None
    details: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, details = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            at = bad.field_violations[0].field
    return ErrorInfo(exc.code(), reason, domain, status.message, at, details)


def case(event: chat_pb.ChatEvent) -> str:
    name = event.WhichOneof("event")
    assert name is not None
    return name


def payload(event: chat_pb.ChatEvent) -> ProtoMessage:
    message: ProtoMessage = getattr(event, case(event))
    return message


async def collect(stream: AsyncIterable[chat_pb.ChatEvent]) -> list[chat_pb.ChatEvent]:
    return [event async for event in stream]


def runs(names: list[str]) -> list[str]:
    """Event kinds with repeats collapsed: deltas a slow reader did not take in
    time arrive merged, so tests of order look at runs, not counts."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


async def read_text(
    call: grpc.aio.UnaryStreamCall[chat_pb.ChatStreamRequest, chat_pb.ChatEvent], expected: str
) -> None:
    """Reads content deltas until exactly `expected` has arrived."""
    received = ""
    while received != expected:
        event = await call.read()
        assert isinstance(event, chat_pb.ChatEvent) and case(event) == "content_delta", event
        received += event.content_delta.content
        assert expected.startswith(received), received


async def read_rest(
    call: grpc.aio.UnaryStreamCall[chat_pb.ChatStreamRequest, chat_pb.ChatEvent],
) -> list[chat_pb.ChatEvent]:
    """The remaining events of a call already read with read()."""
    events = []
    while (event := await call.read()) is not grpc.aio.EOF:
        assert isinstance(event, chat_pb.ChatEvent)
        events.append(event)
    return events


def text_of(events: list[chat_pb.ChatEvent]) -> str:
    return "".join(e.content_delta.content for e in events if case(e) == "content_delta")
