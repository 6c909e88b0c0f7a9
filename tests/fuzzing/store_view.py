"""The store as the API shows it, to tell whether a refused call changed it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

from mochi_grpc._gen.mochi.v1 import session_pb2 as spb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as session_pb
from mochi_grpc._gen.mochi.v1 import system_prompt_service_pb2 as prompt_pb
from mochi_grpc.stubs import SessionStub, SystemPromptStub

SessionView = tuple[spb.Session, tuple[spb.Message, ...], session_pb.GetSessionStatusResponse]


@dataclass(frozen=True)
class Snapshot:
    """Every session with its messages and status, and every prompt file."""

    sessions: dict[str, SessionView]
    order: tuple[str, ...]
    prompts: dict[str, str]


async def snapshot(channel: grpc.aio.Channel, *, deadline: float = 10) -> Snapshot:
    sessions_stub = SessionStub(channel)
    prompts_stub = SystemPromptStub(channel)
    listed: list[spb.Session] = []
    token = ""
    while True:
        page = await sessions_stub.ListSessions(
            session_pb.ListSessionsRequest(page_size=1000, page_token=token), timeout=deadline
        )
        listed.extend(page.sessions)
        if not (token := page.next_page_token):
            break

    async def messages_of(sid: str) -> tuple[spb.Message, ...]:
        messages: list[spb.Message] = []
        token = ""
        while True:
            got = await sessions_stub.ListMessages(
                session_pb.ListMessagesRequest(session_id=sid, page_size=50, page_token=token),
                timeout=deadline,
            )
            messages.extend(got.messages)
            if not (token := got.next_page_token):
                return tuple(messages)

    async def one_session(session: spb.Session) -> SessionView:
        messages, status = await asyncio.gather(
            messages_of(session.session_id),
            sessions_stub.GetSessionStatus(
                session_pb.GetSessionStatusRequest(session_id=session.session_id),
                timeout=deadline,
            ),
        )
        return session, messages, status

    async def prompt_text(filename: str) -> str:
        got = await prompts_stub.GetSystemPrompt(
            prompt_pb.GetSystemPromptRequest(filename=filename), timeout=deadline
        )
        return got.prompt.content

    files = [
        p.filename
        for p in (
            await prompts_stub.ListSystemPrompts(
                prompt_pb.ListSystemPromptsRequest(), timeout=deadline
            )
        ).prompts
    ]
    views, texts = await asyncio.gather(
        asyncio.gather(*(one_session(s) for s in listed)),
        asyncio.gather(*(prompt_text(f) for f in files)),
    )
    return Snapshot(
        {s.session_id: view for s, view in zip(listed, views, strict=True)},
        tuple(s.session_id for s in listed),
        dict(zip(files, texts, strict=True)),
    )


def _short(value: object) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed, one line each, short enough to read."""
    found = []
    for sid in sorted(before.sessions.keys() | after.sessions.keys()):
        old, new = before.sessions.get(sid), after.sessions.get(sid)
        if old is None or new is None:
            found.append(f"session {sid}: {'created' if old is None else 'deleted'}")
            continue
        for part, a, b in zip(("session", "messages", "status"), old, new, strict=True):
            if a != b:
                found.append(f"session {sid} {part}: {_short(a)} -> {_short(b)}")
    if before.order != after.order:
        found.append(f"session order: {before.order} -> {after.order}")
    for name in sorted(before.prompts.keys() | after.prompts.keys()):
        if before.prompts.get(name) != after.prompts.get(name):
            found.append(
                f"prompt {name!r}: {_short(before.prompts.get(name))}"
                f" -> {_short(after.prompts.get(name))}"
            )
    return found
