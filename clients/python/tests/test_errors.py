"""Failures raise MochiError with the status code and the ErrorInfo reason."""

from __future__ import annotations

import socket

import pytest
from conftest import MODEL, StoredReply

from mochi_client import ContentDelta, MochiClient, MochiError, Status

MISSING = "0123456789"


async def test_unknown_session_is_session_not_found(client: MochiClient) -> None:
    with pytest.raises(MochiError) as raised:
        await client.get_session(MISSING)

    error = raised.value
    assert error.code is Status.NOT_FOUND
    assert error.reason == "SESSION_NOT_FOUND"
    assert error.error_info is not None and error.error_info.domain == "mochi.v1"
    assert "SESSION_NOT_FOUND" in str(error)


async def test_stream_of_unknown_session_raises_before_any_event(client: MochiClient) -> None:
    with pytest.raises(MochiError) as raised:
        async for _ in client.chat_stream(MISSING, "hi"):
            pytest.fail("no event expected")
    assert raised.value.code is Status.NOT_FOUND
    assert raised.value.reason == "SESSION_NOT_FOUND"


async def test_unknown_model_is_model_not_found(client: MochiClient) -> None:
    with pytest.raises(MochiError) as raised:
        await client.create_session("no-such-model:latest")
    assert raised.value.code is Status.NOT_FOUND
    assert raised.value.reason == "MODEL_NOT_FOUND"


async def test_missing_field_names_the_field(client: MochiClient) -> None:
    with pytest.raises(MochiError) as raised:
        await client.create_session("")
    assert raised.value.code is Status.INVALID_ARGUMENT
    assert raised.value.reason == "VALIDATION_ERROR"
    assert "model" in raised.value.field_violations


async def test_second_turn_while_one_runs_is_session_busy(
    client: MochiClient, session_id: str, stored_reply: StoredReply
) -> None:
    async with client.chat_stream(session_id, "one two three four five six") as stream:
        async for event in stream:
            if isinstance(event, ContentDelta):
                with pytest.raises(MochiError) as raised:
                    await client.chat(session_id, "again")
                break
    assert raised.value.code is Status.FAILED_PRECONDITION
    assert raised.value.reason == "SESSION_BUSY"
    await stored_reply(session_id)  # the stopped turn is over


async def test_unknown_confirmation_is_confirmation_not_found(
    client: MochiClient, session_id: str
) -> None:
    with pytest.raises(MochiError) as raised:
        await client.confirm_tool_call(session_id, "conf_000000000000", approved=True)
    assert raised.value.code is Status.NOT_FOUND
    assert raised.value.reason == "CONFIRMATION_NOT_FOUND"


async def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with MochiClient(f"127.0.0.1:{port}") as client:
            with pytest.raises(MochiError) as raised:
                await client.create_session(MODEL, timeout=5)
    assert raised.value.code is Status.UNAVAILABLE
    assert raised.value.reason is None
