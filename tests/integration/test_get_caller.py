"""ServerService.GetCaller: who the request's credentials identify."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import server_service_pb2 as pb
from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from mochi_grpc.stubs import ServerStub
from tests.support import error_info


async def test_with_keys_off_everyone_is_an_admin_without_a_name(server_info: ServerStub) -> None:
    caller = await server_info.GetCaller(pb.GetCallerRequest())

    assert (caller.key_name, caller.admin) == ("", True)


@pytest.fixture
async def keyed_stub(settings: Settings) -> AsyncIterator[tuple[ServerStub, KeyRing]]:
    running: RunningServer = await start(settings.model_copy(update={"auth": "required"}))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield ServerStub(channel), KeyRing(running.store)
    await running.stop(0)


def _as(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def test_with_keys_required_it_names_the_key_and_whether_it_is_an_admins(
    keyed_stub: tuple[ServerStub, KeyRing],
) -> None:
    stub, keys = keyed_stub
    _, alice = await keys.create("alice", admin=False)
    _, root = await keys.create("root", admin=True)

    alices = await stub.GetCaller(pb.GetCallerRequest(), metadata=_as(alice))
    roots = await stub.GetCaller(pb.GetCallerRequest(), metadata=_as(root))

    assert (alices.key_name, alices.admin) == ("alice", False)
    assert (roots.key_name, roots.admin) == ("root", True)


async def test_with_keys_required_a_call_without_a_valid_key_is_unauthenticated(
    keyed_stub: tuple[ServerStub, KeyRing],
) -> None:
    stub, keys = keyed_stub
    _, alice = await keys.create("alice", admin=False)
    await keys.revoke("alice")

    for metadata in ((), _as("mochi_not-a-key"), _as(alice)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetCaller(pb.GetCallerRequest(), metadata=metadata)
        info = error_info(refused.value)
        assert (info.code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
