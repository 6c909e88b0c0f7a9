"""The bridge's one gRPC channel to the server and its stubs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from bridge.config import GrpcTls
from mochi_grpc.stubs import (
    AgentStub,
    ChatStub,
    ModelStub,
    ServerStub,
    SessionStub,
    SummaryStub,
    SystemPromptStub,
    ToolStub,
)

# Calls go to the target's addresses in turn, each call to a replica that is
# connected: one that is down is left out until it is back. (gRPC's default,
# pick_first, would send everything to the first address that answers.)
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

# Pings keep a quiet stream (a long prompt being read) open through proxies;
# the server accepts one every 10 s, so 30 s never trips too_many_pings.
CHANNEL_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.service_config", ROUND_ROBIN),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]

# Initial metadata the server sends once it accepted a ChatStream turn.
TURN_STARTED = ("mochi-turn", "started")
# ... and once it found the turn a WatchTurn call follows: "none" when the
# turn has ended and the caller has seen all of it.
WATCH = "mochi-watch"


@dataclass
class Clients:
    channel: grpc.aio.Channel
    sessions: SessionStub
    chat: ChatStub
    models: ModelStub
    server: ServerStub
    prompts: SystemPromptStub
    tools: ToolStub
    agents: AgentStub
    summaries: SummaryStub

    @classmethod
    def connect(
        cls,
        target: str,
        tls: GrpcTls | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> Clients:
        """Must run inside the event loop that will use the channel; `target`
        is a gRPC target (several addresses are balanced round-robin), and
        without `tls` the channel is plaintext. `interceptors` (tracing's)
        see every call."""
        # None, not an empty list: calls are then not wrapped at all.
        intercepting = list(interceptors) or None
        channel = (
            grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=intercepting)
            if tls is None
            else grpc.aio.secure_channel(
                target,
                _credentials(tls),
                options=[*CHANNEL_OPTIONS, *_tls_options(tls)],
                interceptors=intercepting,
            )
        )
        return cls(
            channel,
            SessionStub(channel),
            ChatStub(channel),
            ModelStub(channel),
            ServerStub(channel),
            SystemPromptStub(channel),
            ToolStub(channel),
            AgentStub(channel),
            SummaryStub(channel),
        )

    async def close(self) -> None:
        await self.channel.close()


def _credentials(tls: GrpcTls) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca_file.read_bytes(),
        private_key=tls.key_file.read_bytes() if tls.key_file is not None else None,
        certificate_chain=tls.cert_file.read_bytes() if tls.cert_file is not None else None,
    )


def _tls_options(tls: GrpcTls) -> list[tuple[str, str]]:
    # The name checked in the server's certificate; the target's host otherwise.
    if tls.server_name is None:
        return []
    return [("grpc.ssl_target_name_override", tls.server_name)]
