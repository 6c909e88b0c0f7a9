"""Conversation summaries, written by a model in structured output.

The model is asked for JSON that fits a schema (ConversationSummary, sent as
the request's `format`, which Ollama and llama.cpp enforce with a grammar):
two to five sentences and a few topics, made from the user's and the
assistant's messages (system prompts, tool calls and tool results are not
the conversation). An answer that does not fit is sent back once with what
was wrong; a second that does not fit is SummaryInvalid, and nothing is
stored. A summary that fits is stored with the model that wrote it.

The model: the one the request names; else the session's; else, when the
session's model is gone, the one that wrote the session's last summary.

Automatic summaries (after each completed reply, when the server is set up
for them) run in the background: they never delay or fail the turn, a
failure is only logged, and a session has at most one running in this
process. A reply completed while its session's summary runs is not dropped:
one more summary follows when that one ends, so the stored summary catches
up with the conversation (at most one waits, however many replies came).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mochi_grpc.auth import NOBODY_IN_PARTICULAR, Principal
from mochi_grpc.chat import context_window
from mochi_grpc.entities import Message, Role, Session, Summary
from mochi_grpc.errors import (
    EmptyHistory,
    InvalidRequest,
    MochiError,
    ModelNotFound,
    SummaryInvalid,
    SummaryNotFound,
)
from mochi_grpc.llm import ChatRequest, LLMBackend, ModelInfo
from mochi_grpc.store import SessionStore

log = logging.getLogger(__name__)

SUMMARY_MAX_CHARS: Final = 1000
TOPICS_MAX: Final = 5
TOPIC_MAX_CHARS: Final = 40
# Tokens a summary's answer may take: room for a short reasoning of a
# thinking model and the JSON; a model that loops is stopped there.
ANSWER_MAX_TOKENS: Final = 2048
# Tokens of the window kept for the instruction and the answer; the rest
# holds the conversation, at a cautious 3 characters a token.
RESERVED_TOKENS: Final = 1000
CHARS_PER_TOKEN: Final = 3
MIN_TRANSCRIPT_CHARS: Final = 2000
# How much of an answer that does not fit its error shows.
EXCERPT_CHARS: Final = 120

Topic = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TOPIC_MAX_CHARS)
]


# The answer the model must give: its JSON schema is the request's `format`
# (a docstring here would go to the model too), and answers are checked by it.
class ConversationSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(
        min_length=1,
        max_length=SUMMARY_MAX_CHARS,
        description="Two to five sentences: what the conversation was about and what came of it.",
    )
    topics: list[Topic] = Field(
        max_length=TOPICS_MAX,
        description="The few main topics talked about, one to four words each.",
    )


SUMMARY_SCHEMA: Final[dict[str, Any]] = ConversationSummary.model_json_schema()

INSTRUCTION: Final = (
    "You write short summaries of conversations between a user and an assistant. "
    'Answer with a JSON object only: "summary" is two to five sentences saying what '
    'the conversation was about and what came of it; "topics" lists the few main '
    "topics talked about, one to four words each."
)
LEFT_OUT: Final = "[earlier messages left out]"


def _said(messages: list[Message]) -> list[str]:
    """The user's and the assistant's messages as lines of a transcript."""
    return [
        f"{'User' if m.role is Role.USER else 'Assistant'}: {m.content.strip()}"
        for m in messages
        if m.role in (Role.USER, Role.ASSISTANT) and m.content.strip()
    ]


def transcript(messages: list[Message], limit_chars: int) -> str:
    """The user's and the assistant's messages as text ("User: ...",
    "Assistant: ..."), the newest that fit in `limit_chars`; "" when there
    are none."""
    said = _said(messages)
    kept: list[str] = []
    room = limit_chars
    for entry in reversed(said):
        if len(entry) > room:
            if not kept:  # the newest alone is too long: its end
                kept.append("..." + entry[len(entry) - room :])
            kept.append(LEFT_OUT)
            break
        kept.append(entry)
        room -= len(entry) + 2
    return "\n\n".join(reversed(kept))


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


class Summarizer:
    def __init__(self, store: SessionStore, llm: LLMBackend) -> None:
        self._store = store
        self._llm = llm
        # Automatic summaries: the one running per session, and the sessions
        # whose conversation grew while theirs ran.
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._closed = False

    async def summarize(
        self, session_id: str, model: str | None, *, principal: Principal
    ) -> tuple[Summary, str]:
        """Has a model summarize the session and stores the summary; returns
        it and the model that wrote it."""
        if model is not None and not model.strip():
            raise InvalidRequest("model must not be empty", field="model")
        session, messages = await self._store.get_conversation(session_id)
        principal.check_owns(session)
        if not _said(messages):
            raise EmptyHistory(
                f"Session {session_id} has no conversation to summarize",
                details={"session_id": session_id},
            )
        info = await self._model(session, model)
        window = (
            session.context_window.current_window
            if info.name == session.model
            else context_window.initial_window(info.context_length)
        )
        limit = max((window - RESERVED_TOKENS) * CHARS_PER_TOKEN, MIN_TRANSCRIPT_CHARS)
        summary = await self._ask(session_id, info.name, window, transcript(messages, limit))
        await self._store.set_summary(session_id, summary, info.name)
        return summary, info.name

    async def get(self, session_id: str, *, principal: Principal) -> tuple[Summary, str]:
        """The stored summary and the model that wrote it."""
        session = principal.check_owns(await self._store.get_session(session_id))
        if session.summary is None:
            raise SummaryNotFound(
                f"Session {session_id} has no summary yet", details={"session_id": session_id}
            )
        return session.summary, session.summary_model or ""

    async def _model(self, session: Session, requested: str | None) -> ModelInfo:
        if requested is not None:
            return await self._llm.get_model(requested)
        try:
            return await self._llm.get_model(session.model)
        except ModelNotFound as gone:
            if not session.summary_model or session.summary_model == session.model:
                raise
            try:
                return await self._llm.get_model(session.summary_model)
            except ModelNotFound:
                raise gone from None  # the session's model is the one to name

    async def _ask(self, session_id: str, model: str, window: int, text: str) -> Summary:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": f"Summarize this conversation:\n\n{text}"},
        ]
        answer = await self._answer(model, window, messages)
        try:
            return self._checked(answer)
        except ValidationError as exc:
            problem = _problem(exc)
        # Once more, told what was wrong with the first answer.
        messages += [
            {"role": "assistant", "content": answer},
            {
                "role": "user",
                "content": f"That answer does not fit ({problem}). Answer again with the"
                " JSON object only.",
            },
        ]
        second = await self._answer(model, window, messages)
        try:
            return self._checked(second)
        except ValidationError as exc:
            raise SummaryInvalid(
                f"Model '{model}' did not answer with a summary that fits its schema"
                f" ({_problem(exc)}), twice",
                details={"session_id": session_id, "model": model, "answer": _excerpt(second)},
            ) from exc

    async def _answer(self, model: str, window: int, messages: list[dict[str, Any]]) -> str:
        request = ChatRequest(
            model=model,
            messages=messages,
            options={"num_ctx": window, "num_predict": ANSWER_MAX_TOKENS},
            format=SUMMARY_SCHEMA,
        )
        content: list[str] = []
        async with aclosing(self._llm.chat_stream(request)) as chunks:
            async for chunk in chunks:
                content.append(chunk.content)
        return "".join(content)

    @staticmethod
    def _checked(answer: str) -> Summary:
        parsed = ConversationSummary.model_validate_json(answer)
        return Summary(summary=parsed.summary.strip(), topics=list(parsed.topics))

    # -- automatic summaries -----------------------------------------------

    def schedule(self, session_id: str) -> None:
        """Summarizes the session in the background (after a completed reply);
        returns at once and never raises, so the turn that calls it goes on."""
        if self._closed:
            return
        if session_id in self._running:
            self._again.add(session_id)
            return
        try:
            task = asyncio.get_running_loop().create_task(self._automatic(session_id))
        except Exception:
            log.exception("automatic summary of session %s could not start", session_id)
            return
        self._running[session_id] = task

    def running(self, session_id: str) -> asyncio.Task[None] | None:
        """The task of the session's automatic summaries, while it runs (it
        ends after the one that waited for it, if any)."""
        return self._running.get(session_id)

    async def _automatic(self, session_id: str) -> None:
        try:
            while True:
                self._again.discard(session_id)
                await self._summarize_quietly(session_id)
                if session_id not in self._again or self._closed:
                    return
        finally:
            self._running.pop(session_id, None)
            self._again.discard(session_id)

    async def _summarize_quietly(self, session_id: str) -> None:
        try:
            await self.summarize(session_id, None, principal=NOBODY_IN_PARTICULAR)
        except MochiError as exc:
            log.warning(
                "automatic summary of session %s failed: %s (%s)", session_id, exc.message, exc.code
            )
        except Exception:
            log.exception("automatic summary of session %s failed", session_id)

    async def close(self) -> None:
        """Stops the automatic summaries still running (nothing is stored for them)."""
        self._closed = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
