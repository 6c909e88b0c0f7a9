"""Against a server that requires API keys and mutual TLS (live_server.py
--secure): the key and the certificates get a client in; without either it
fails fast, with an error. Skipped against a plaintext server."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from conftest import CREDENTIALS_ENV, MODEL, secure_only

from mochi_client import ContentDelta, Done, MochiClient, MochiError, Status

pytestmark = secure_only

MISSING = "0123456789"
# A client that cannot connect must say so at once; this only guards against a hang.
HANG_SECONDS = 15


async def failure(target: str, **settings: Any) -> MochiError:
    """The error of a unary call and of a stream made with these settings (the same)."""
    async with asyncio.timeout(HANG_SECONDS), MochiClient(target, **settings) as client:
        with pytest.raises(MochiError) as unary:
            await client.list_models(timeout=5)
        with pytest.raises(MochiError) as streamed:
            async for _ in client.chat_stream(MISSING, "hi", timeout=5):
                pytest.fail("no event expected")
    assert (streamed.value.code, streamed.value.reason) == (unary.value.code, unary.value.reason)
    return unary.value


@pytest.mark.parametrize("api_key", ["", "not-a-key"], ids=["no key", "wrong key"])
async def test_without_a_valid_key_calls_are_unauthenticated(target: str, api_key: str) -> None:
    error = await failure(target, api_key=api_key)
    assert error.code is Status.UNAUTHENTICATED
    assert error.reason == "UNAUTHENTICATED"


async def test_a_plaintext_client_cannot_connect(target: str) -> None:
    error = await failure(target, ssl=False)
    assert error.code is Status.UNAVAILABLE
    assert error.reason is None


async def test_a_client_without_the_ca_does_not_trust_the_server(target: str) -> None:
    error = await failure(target, ssl=True, ca_file="")  # the system's CAs
    assert error.code is Status.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in error.message


async def test_a_client_without_a_certificate_is_turned_away(target: str) -> None:
    error = await failure(target, cert_file="", key_file="")
    assert error.code is Status.UNAVAILABLE


async def test_with_the_key_and_the_certificates_calls_work(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    api_key = os.environ["MOCHI_API_KEY"]
    ca_file = os.environ["MOCHI_GRPC_TLS_CA_FILE"]
    cert_file = os.environ["MOCHI_GRPC_TLS_CERT_FILE"]
    key_file = os.environ["MOCHI_GRPC_TLS_KEY_FILE"]
    for name in CREDENTIALS_ENV:  # the constructor's arguments alone
        monkeypatch.delenv(name, raising=False)
    async with MochiClient(
        target, api_key=api_key, ca_file=ca_file, cert_file=cert_file, key_file=key_file
    ) as client:
        assert client.secure
        session = await client.create_session(MODEL)
        async with client.chat_stream(session.session_id, "Hello there") as stream:
            events = [event async for event in stream]
        watched = [event async for event in client.watch_turn(session.session_id, stream.turn_id)]
        await client.delete_session(session.session_id)

    text = "".join(e.content for e in events if isinstance(e, ContentDelta))
    assert text == "You said: Hello there"
    assert isinstance(events[-1], Done) and isinstance(watched[-1], Done)


async def test_the_environment_alone_gets_a_client_in() -> None:
    async with MochiClient() as client:
        assert client.secure
        assert any(model.name == MODEL for model in await client.list_models(timeout=5))
