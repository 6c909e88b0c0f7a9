"""The bridge's one gRPC channel to the server and its stubs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    # The async stub classes exist only in the generated type stubs; at run
    # time the ordinary stub classes serve grpc.aio channels too.
    from mochi_grpc._gen.mochi.v1.chat_service_pb2_grpc import ChatServiceAsyncStub as ChatStub
    from mochi_grpc._gen.mochi.v1.model_service_pb2_grpc import (
        ModelServiceAsyncStub as ModelStub,
    )
    from mochi_grpc._gen.mochi.v1.server_service_pb2_grpc import (
        ServerServiceAsyncStub as ServerStub,
    )
    from mochi_grpc._gen.mochi.v1.session_service_pb2_grpc import (
        SessionServiceAsyncStub as SessionStub,
    )
else:
    from mochi_grpc._gen.mochi.v1.chat_service_pb2_grpc import ChatServiceStub as ChatStub
    from mochi_grpc._gen.mochi.v1.model_service_pb2_grpc import ModelServiceStub as ModelStub
    from mochi_grpc._gen.mochi.v1.server_service_pb2_grpc import ServerServiceStub as ServerStub
    from mochi_grpc._gen.mochi.v1.session_service_pb2_grpc import (
        SessionServiceStub as SessionStub,
    )

# Pings keep a quiet stream (a long prompt being read) open through proxies;
# the server accepts one every 10 s, so 30 s never trips too_many_pings.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]

# Initial metadata the server sends once it accepted a ChatStream turn.
TURN_STARTED = ("mochi-turn", "started")


@dataclass
class Clients:
    channel: grpc.aio.Channel
    sessions: SessionStub
    chat: ChatStub
    models: ModelStub
    server: ServerStub

    @classmethod
    def connect(cls, target: str) -> Clients:
        """Must run inside the event loop that will use the channel."""
        channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        return cls(
            channel,
            SessionStub(channel),
            ChatStub(channel),
            ModelStub(channel),
            ServerStub(channel),
        )

    async def close(self) -> None:
        await self.channel.close()


__all__ = ["TURN_STARTED", "ChatStub", "Clients", "ModelStub", "ServerStub", "SessionStub"]
