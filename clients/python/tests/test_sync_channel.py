"""The grpcio sync stubs over ``sync_channel()``: the environment's key and TLS
as MochiClient has them; against the secure server, turned away without them."""

from __future__ import annotations

import os

import grpc
import pytest
from conftest import MODEL, SECURE, secure_only

from mochi_client import sync_channel
from mochi_client.v1 import (
    ChatServiceSyncStub,
    CreateSessionRequest,
    DeleteSessionRequest,
    ModelServiceSyncStub,
    SessionServiceSyncStub,
    WatchTurnRequest,
)

MISSING = "0123456789"


@pytest.mark.usefixtures("target")
def test_sync_stubs_work_with_the_environment_s_settings() -> None:
    with sync_channel() as channel:
        models = ModelServiceSyncStub(channel).list_models()
        sessions = SessionServiceSyncStub(channel)
        session = sessions.create_session(CreateSessionRequest(model=MODEL)).session
        assert session is not None
        sessions.delete_session(DeleteSessionRequest(session_id=session.session_id))
    assert MODEL in [model.name for model in models.models]


@pytest.mark.usefixtures("target")
def test_a_sync_stream_carries_the_settings_too() -> None:
    with sync_channel() as channel, pytest.raises(grpc.RpcError) as raised:
        list(ChatServiceSyncStub(channel).watch_turn(WatchTurnRequest(session_id=MISSING)))
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


@secure_only
@pytest.mark.usefixtures("target")
def test_a_sync_channel_without_the_key_is_unauthenticated() -> None:
    with sync_channel(api_key="") as channel, pytest.raises(grpc.RpcError) as raised:
        ModelServiceSyncStub(channel).list_models()
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED


@secure_only
@pytest.mark.usefixtures("target")
def test_a_plaintext_sync_channel_cannot_connect() -> None:
    with sync_channel(ssl=False) as channel, pytest.raises(grpc.RpcError) as raised:
        ModelServiceSyncStub(channel).list_models()
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE


def test_a_sync_channel_takes_a_list_of_replicas(target: str) -> None:
    # The server and the proxy in front of it: two addresses of one service.
    replicas = f"ipv4:{target},{os.environ['MOCHI_DROPPABLE_TARGET']}"
    # The certificate names localhost; a list of addresses names no host.
    with sync_channel(replicas, server_name="localhost" if SECURE else None) as channel:
        listed = [ModelServiceSyncStub(channel).list_models() for _ in range(4)]
    assert all(MODEL in [model.name for model in models.models] for models in listed)


def test_tls_to_a_list_of_replicas_needs_the_certificate_s_name() -> None:
    with pytest.raises(ValueError, match="server_name"):
        sync_channel("ipv4:127.0.0.1:50051,127.0.0.1:50052", ssl=True, server_name="")
