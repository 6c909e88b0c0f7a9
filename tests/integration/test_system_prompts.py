"""Prompt files and the session system prompt over gRPC."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as ppb
from mochi_grpc.config import Settings
from mochi_grpc.stubs import ChatStub, SessionStub, SystemPromptStub
from tests.fakes import FakeOllama
from tests.support import error_info

MODEL = "llama3.2:latest"


@pytest.fixture
def prompts(channel: grpc.aio.Channel) -> SystemPromptStub:
    return SystemPromptStub(channel)


@pytest.fixture
def prompts_dir(settings: Settings) -> Path:
    return settings.resolved_system_prompts_dir


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


async def _create(prompts: SystemPromptStub, name: str, content: str) -> ppb.SystemPrompt:
    response = await prompts.CreateSystemPrompt(
        ppb.CreateSystemPromptRequest(filename=name, content=content)
    )
    return response.prompt


async def _messages(sessions: SessionStub, session_id: str) -> list[spb.Message]:
    got = await sessions.GetSession(pb.GetSessionRequest(session_id=session_id))
    return list(got.messages)


async def test_prompt_files_can_be_created_listed_read_updated_and_deleted(
    prompts: SystemPromptStub, prompts_dir: Path
) -> None:
    long_text = "word " * 100
    await _create(prompts, "coder.md", "You write code.")
    await _create(prompts, "a-long.md", long_text)

    listed = (await prompts.ListSystemPrompts(ppb.ListSystemPromptsRequest())).prompts
    updated = await prompts.UpdateSystemPrompt(
        ppb.UpdateSystemPromptRequest(filename="coder.md", content="You review code.")
    )
    got = await prompts.GetSystemPrompt(ppb.GetSystemPromptRequest(filename="coder.md"))
    await prompts.DeleteSystemPrompt(ppb.DeleteSystemPromptRequest(filename="a-long.md"))

    assert [(p.filename, p.word_count) for p in listed] == [("a-long.md", 100), ("coder.md", 3)]
    assert listed[0].preview == long_text[:247].rstrip() + "..."
    assert updated.prompt.content == got.prompt.content == "You review code."
    assert (prompts_dir / "coder.md").read_text() == "You review code."
    assert _files(prompts_dir) == {"coder.md"}


async def test_creating_an_existing_prompt_is_a_conflict(prompts: SystemPromptStub) -> None:
    await _create(prompts, "x.md", "first")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _create(prompts, "x.md", "second")

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.ALREADY_EXISTS, "PROMPT_EXISTS")
    got = await prompts.GetSystemPrompt(ppb.GetSystemPromptRequest(filename="x.md"))
    assert got.prompt.content == "first"


@pytest.mark.parametrize("call", ["get", "update", "delete"])
async def test_a_missing_prompt_is_not_found(prompts: SystemPromptStub, call: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if call == "get":
            await prompts.GetSystemPrompt(ppb.GetSystemPromptRequest(filename="nope.md"))
        elif call == "update":
            await prompts.UpdateSystemPrompt(
                ppb.UpdateSystemPromptRequest(filename="nope.md", content="x")
            )
        else:
            await prompts.DeleteSystemPrompt(ppb.DeleteSystemPromptRequest(filename="nope.md"))

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "PROMPT_NOT_FOUND")


@pytest.mark.parametrize(
    "name",
    ["../x.md", "/etc/passwd", "a/b.md", "x.txt", ".hidden.md", "", "..\\x.md", "a\x00.md", "..md"],
)
async def test_names_that_could_leave_the_directory_are_refused(
    prompts: SystemPromptStub, settings: Settings, name: str
) -> None:
    before = _files(settings.data_dir)

    for attempt in (
        prompts.CreateSystemPrompt(ppb.CreateSystemPromptRequest(filename=name, content="x")),
        prompts.GetSystemPrompt(ppb.GetSystemPromptRequest(filename=name)),
        prompts.UpdateSystemPrompt(ppb.UpdateSystemPromptRequest(filename=name, content="x")),
        prompts.DeleteSystemPrompt(ppb.DeleteSystemPromptRequest(filename=name)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt
        info = error_info(caught.value)
        assert (info.code, info.reason, info.field) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "VALIDATION_ERROR",
            "filename",
        )

    assert _files(settings.data_dir) == before


@pytest.mark.parametrize("name", ["é" * 200 + ".md", "a" * 253 + ".md"], ids=["bytes", "chars"])
async def test_names_longer_than_a_file_system_takes_are_refused(
    prompts: SystemPromptStub, sessions: SessionStub, settings: Settings, name: str
) -> None:
    # Found by the gRPC fuzzing: 203 characters but 403 bytes passed the name
    # rules, and the file system's "File name too long" came out as INTERNAL.
    before = _files(settings.data_dir)

    for attempt in (
        prompts.CreateSystemPrompt(ppb.CreateSystemPromptRequest(filename=name, content="x")),
        prompts.GetSystemPrompt(ppb.GetSystemPromptRequest(filename=name)),
        prompts.UpdateSystemPrompt(ppb.UpdateSystemPromptRequest(filename=name, content="x")),
        prompts.DeleteSystemPrompt(ppb.DeleteSystemPromptRequest(filename=name)),
        sessions.CreateSession(
            pb.CreateSessionRequest(model=MODEL, system_prompt_source_file=name)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt
        info = error_info(caught.value)
        assert (info.code, info.reason, info.field) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "VALIDATION_ERROR",
            "filename",
        )

    assert _files(settings.data_dir) == before


@pytest.mark.parametrize("content", ["", "   \n", "x" * 20_001])
async def test_blank_or_oversized_content_is_refused(
    prompts: SystemPromptStub, prompts_dir: Path, content: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _create(prompts, "p.md", content)

    assert (error_info(caught.value).reason, error_info(caught.value).field) == (
        "VALIDATION_ERROR",
        "content",
    )
    assert not (prompts_dir / "p.md").exists()


async def test_a_session_from_a_prompt_file_sends_its_text_first(
    prompts: SystemPromptStub,
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
) -> None:
    await _create(prompts, "pirate.md", "Talk like a pirate.")

    created = await sessions.CreateSession(
        pb.CreateSessionRequest(model=MODEL, system_prompt_source_file="pirate.md")
    )
    await chat.Chat(cpb.ChatRequest(session_id=created.session.session_id, message="Hi"))
    status = await sessions.GetSessionStatus(
        pb.GetSessionStatusRequest(session_id=created.session.session_id)
    )

    assert fake_ollama.requests[0].messages[0] == {
        "role": "system",
        "content": "Talk like a pirate.",
    }
    assert status.system_prompt_file == "pirate.md"


async def test_a_session_from_a_missing_prompt_file_is_not_created(
    sessions: SessionStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(
            pb.CreateSessionRequest(model=MODEL, system_prompt_source_file="ghost.md")
        )

    assert error_info(caught.value).reason == "PROMPT_NOT_FOUND"
    assert list((await sessions.ListSessions(pb.ListSessionsRequest())).sessions) == []


async def test_the_system_prompt_can_be_set_replaced_and_removed_mid_session(
    prompts: SystemPromptStub,
    sessions: SessionStub,
    chat: ChatStub,
    fake_ollama: FakeOllama,
) -> None:
    await _create(prompts, "terse.md", "Be terse.")
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    session_id = created.session.session_id
    await chat.Chat(cpb.ChatRequest(session_id=session_id, message="one"))

    inserted = await sessions.SetSessionSystemPrompt(
        pb.SetSessionSystemPromptRequest(session_id=session_id, content="Be kind.")
    )
    await chat.Chat(cpb.ChatRequest(session_id=session_id, message="two"))
    replaced = await sessions.SetSessionSystemPrompt(
        pb.SetSessionSystemPromptRequest(
            session_id=session_id, content="ignored", source_file="terse.md"
        )
    )
    after_replace = await _messages(sessions, session_id)
    await sessions.RemoveSessionSystemPrompt(
        pb.RemoveSessionSystemPromptRequest(session_id=session_id)
    )
    await chat.Chat(cpb.ChatRequest(session_id=session_id, message="three"))

    assert (inserted.content, inserted.message_index) == ("Be kind.", 0)
    assert not inserted.HasField("source_file")
    assert fake_ollama.requests[1].messages[0] == {"role": "system", "content": "Be kind."}
    assert (replaced.content, replaced.source_file) == ("Be terse.", "terse.md")
    assert [(m.role, m.content) for m in after_replace[:2]] == [
        (spb.ROLE_SYSTEM, "Be terse."),
        (spb.ROLE_USER, "one"),
    ]
    assert len(after_replace) == 5  # nothing was truncated
    assert fake_ollama.requests[2].messages[0]["role"] == "user"
    assert len(fake_ollama.requests[2].messages) == 5


async def test_edit_indexes_count_the_system_prompt(
    sessions: SessionStub, chat: ChatStub, fake_ollama: FakeOllama
) -> None:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))
    session_id = created.session.session_id
    await chat.Chat(cpb.ChatRequest(session_id=session_id, message="first"))
    await sessions.SetSessionSystemPrompt(
        pb.SetSessionSystemPromptRequest(session_id=session_id, content="sys")
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.EditMessage(
            pb.EditMessageRequest(session_id=session_id, message_index=0, content="x")
        )
    edited = await sessions.EditMessage(
        pb.EditMessageRequest(session_id=session_id, message_index=1, content="changed")
    )

    assert error_info(caught.value).reason == "INVALID_MESSAGE_INDEX"
    assert edited.message.content == "changed"
    assert [m.content for m in await _messages(sessions, session_id)] == ["sys", "changed"]


async def test_removing_a_missing_system_prompt_is_not_found(sessions: SessionStub) -> None:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.RemoveSessionSystemPrompt(
            pb.RemoveSessionSystemPromptRequest(session_id=created.session.session_id)
        )

    info = error_info(caught.value)
    assert (info.code, info.reason) == (grpc.StatusCode.NOT_FOUND, "NO_SYSTEM_PROMPT")


async def test_setting_a_prompt_needs_content_or_a_file(sessions: SessionStub) -> None:
    created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.SetSessionSystemPrompt(
            pb.SetSessionSystemPromptRequest(session_id=created.session.session_id)
        )

    assert error_info(caught.value).reason == "VALIDATION_ERROR"
    assert await _messages(sessions, created.session.session_id) == []


async def test_a_directory_named_like_a_prompt_is_not_a_prompt(
    prompts: SystemPromptStub, prompts_dir: Path
) -> None:
    (prompts_dir / "dir.md").mkdir(parents=True)

    for attempt in (
        prompts.GetSystemPrompt(ppb.GetSystemPromptRequest(filename="dir.md")),
        prompts.DeleteSystemPrompt(ppb.DeleteSystemPromptRequest(filename="dir.md")),
        prompts.UpdateSystemPrompt(ppb.UpdateSystemPromptRequest(filename="dir.md", content="x")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt
        assert error_info(caught.value).reason == "PROMPT_NOT_FOUND"
    assert (prompts_dir / "dir.md").is_dir()


async def test_simultaneous_updates_each_write_a_whole_file(
    prompts: SystemPromptStub, prompts_dir: Path
) -> None:
    await _create(prompts, "busy.md", "start")
    texts = [f"version {i} " * 50 for i in range(10)]

    await asyncio.gather(
        *(
            prompts.UpdateSystemPrompt(ppb.UpdateSystemPromptRequest(filename="busy.md", content=t))
            for t in texts
        )
    )

    assert (prompts_dir / "busy.md").read_text() in texts
    assert _files(prompts_dir) == {"busy.md"}
