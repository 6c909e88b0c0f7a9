"""Sessions: create, get, list, delete, and editing a message."""

from __future__ import annotations

import pytest
from conftest import MODEL

from mochi_client import MochiClient, MochiError, Role, Status


async def test_create_get_list_delete(client: MochiClient) -> None:
    session = await client.create_session(MODEL, system_prompt="Be brief.")
    assert len(session.session_id) == 10
    assert session.model == MODEL

    got = await client.get_session(session.session_id)
    assert got.session is not None and got.session.session_id == session.session_id
    assert [(m.role, m.content) for m in got.messages] == [(Role.SYSTEM, "Be brief.")]

    listed = await client.list_sessions(page_size=1)
    assert session.session_id in {s.session_id for s in listed}

    await client.delete_session(session.session_id)
    assert session.session_id not in {s.session_id for s in await client.list_sessions()}
    with pytest.raises(MochiError) as raised:
        await client.get_session(session.session_id)
    assert raised.value.code is Status.NOT_FOUND


async def test_edit_message_truncates_history(client: MochiClient, session_id: str) -> None:
    await client.chat(session_id, "first")
    await client.chat(session_id, "second")
    assert len(await client.list_messages(session_id)) == 4

    edited = await client.edit_message(session_id, 0, "changed")

    assert edited.message_count == 1
    assert edited.message is not None and edited.message.content == "changed"
    messages = await client.list_messages(session_id, page_size=1)
    assert [(m.role, m.content) for m in messages] == [(Role.USER, "changed")]

    answer = await client.chat(session_id)  # answers the edited message
    assert answer.message is not None and answer.message.content == "You said: changed"


async def test_edit_of_a_reply_is_refused(client: MochiClient, session_id: str) -> None:
    await client.chat(session_id, "hi")
    with pytest.raises(MochiError) as raised:
        await client.edit_message(session_id, 1, "not mine")
    assert raised.value.code is Status.INVALID_ARGUMENT
    assert raised.value.reason == "INVALID_MESSAGE_INDEX"
    assert len(await client.list_messages(session_id)) == 2
