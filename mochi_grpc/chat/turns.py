"""A conversation turn: the user's message in, the model's reply streamed out.

A turn is one or more model rounds: a round that calls tools is followed by
another with the tools' results, until the model answers without tools. The
turn is stored once, when it ends, in one transaction with the user message.
A turn cut short (the caller cancels, its deadline passes, the model backend
fails, the server shuts down) stores what it had produced so far, the partial
reply marked with the reason, and closes the model request at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

from mochi_grpc.chat import context_window
from mochi_grpc.chat.events import (
    ContentDelta,
    ExecutedCall,
    MessageComplete,
    ThinkingDelta,
    ToolContinuation,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    WindowUsage,
)
from mochi_grpc.chat.history import to_model_messages
from mochi_grpc.chat.locks import SessionLocks
from mochi_grpc.chat.reply import ReplyBuilder
from mochi_grpc.chat.tool_calls import ToolCaller, ToolRoundState, denied_text
from mochi_grpc.entities import Message, Role, Session, utc_now
from mochi_grpc.errors import (
    ConfirmationNotFound,
    ConfirmationRequiresStreaming,
    EmptyHistory,
    MochiError,
    Overloaded,
)
from mochi_grpc.llm import ChatRequest, LLMBackend
from mochi_grpc.store import SessionStore

log = logging.getLogger(__name__)

SHUTDOWN = "shutdown"
CANCELLED = "cancelled"
BACKEND_FAILED = "ollama_error"


@dataclass(frozen=True)
class TurnResult:
    """The outcome of a whole (non-streamed) turn."""

    message: Message
    context_window: WindowUsage
    executed: tuple[ExecutedCall, ...]


@dataclass
class _Plan:
    """What a turn will store: the first `keep` messages stay, then `new`."""

    session: Session
    keep: int
    new: list[Message]
    context: list[Message]


class ChatEngine:
    def __init__(
        self,
        store: SessionStore,
        llm: LLMBackend,
        locks: SessionLocks,
        *,
        tools: ToolCaller | None = None,
        max_tool_rounds: int = 10,
        max_concurrent_turns: int = 256,
    ) -> None:
        self._store = store
        self._llm = llm
        self._locks = locks
        self._tools = tools
        self._max_rounds = max_tool_rounds + 1
        self._max_turns = max_concurrent_turns
        self._active_turns = 0
        self._saves: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.shutting_down = False

    async def stream_turn(
        self,
        session_id: str,
        message: str | None,
        think: bool = False,
        *,
        interruption_reason: Callable[[], str] = lambda: CANCELLED,
        can_confirm: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Runs one turn. Errors found before the model is asked (unknown
        session, nothing to answer, session busy) are raised; then TurnStarted
        comes, and later failures end the stream with TurnFailed."""
        if self._active_turns >= self._max_turns:
            raise Overloaded("Too many turns are running; try again shortly")
        with self._locks.hold(session_id):
            self._active_turns += 1
            self._idle.clear()
            try:
                plan = await self._plan(session_id, message)
                yield TurnStarted(session_id)
                async for event in self._run(plan, think, interruption_reason, can_confirm):
                    yield event
            finally:
                self._active_turns -= 1
                if self._active_turns == 0:
                    self._idle.set()

    def confirm_tool_call(self, session_id: str, confirmation_id: str, approved: bool) -> str:
        """Answers a turn waiting for a person; returns the tool's name."""
        if self._tools is None:
            raise ConfirmationNotFound(
                f"Confirmation ID '{confirmation_id}' not found or expired",
                details={"confirmation_id": confirmation_id},
            )
        return self._tools.answer(session_id, confirmation_id, approved)

    async def run_turn(
        self, session_id: str, message: str | None, think: bool = False
    ) -> TurnResult:
        """Runs one turn to its end; raises the error of a failed turn."""
        turn = self.stream_turn(session_id, message, think, can_confirm=False)
        async with aclosing(turn) as events:
            async for event in events:
                if isinstance(event, TurnFailed):
                    raise event.error
                if isinstance(event, MessageComplete):
                    return TurnResult(event.message, event.context_window, event.executed)
        raise RuntimeError("turn ended without a reply")  # pragma: no cover

    async def _plan(self, session_id: str, message: str | None) -> _Plan:
        session, history = await self._store.get_conversation(session_id)
        if session.context_window.model_max_context is None:
            await self._learn_model_context(session)
        keep = len(history)
        new: list[Message] = []
        if message is not None:
            new.append(Message(Role.USER, message))
        elif history and history[-1].role is Role.ASSISTANT:
            keep -= 1  # answering again replaces the last reply
        context = history[:keep] + new
        if not context:
            raise EmptyHistory(
                "There is nothing to answer: send a message first",
                details={"session_id": session_id},
            )
        return _Plan(session, keep, new, context)

    async def _learn_model_context(self, session: Session) -> None:
        """Sessions stored before the model's context length was kept learn
        it once, so their window can grow past the default."""
        try:
            info = await self._llm.get_model(session.model)
        except MochiError:
            return  # the turn will report the backend's failure itself
        session.context_window = replace(
            session.context_window, model_max_context=info.context_length
        )

    async def _run(
        self,
        plan: _Plan,
        think: bool,
        interruption_reason: Callable[[], str],
        can_confirm: bool,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Model rounds until one answers without tool calls; the whole turn
        is stored once at its end, or what it produced when it is cut short."""
        session = plan.session
        tools = self._tools.schemas(session.tool_settings) if self._tools else None
        state = ToolRoundState()
        produced: list[Message] = []  # this turn's messages after the user's
        reply: ReplyBuilder | None = None  # the round being streamed, if any
        settled = False
        try:
            for round_number in range(self._max_rounds):
                last_round = round_number == self._max_rounds - 1
                request = ChatRequest(
                    model=session.model,
                    messages=to_model_messages([*plan.context, *produced]),
                    think=think,
                    options={"num_ctx": session.context_window.current_window},
                    # The last round may not call tools, so the turn ends.
                    tools=None if last_round else tools,
                )
                reply = ReplyBuilder(model=session.model)
                async with aclosing(self._llm.chat_stream(request)) as chunks:
                    async for chunk in chunks:
                        reply.add(chunk)
                        if chunk.thinking:
                            yield ThinkingDelta(chunk.thinking)
                        if chunk.content:
                            yield ContentDelta(chunk.content)
                message = reply.message()
                if not message.tool_calls or self._tools is None:
                    break
                produced.append(message)
                reply = None
                async for event in self._tools.run_calls(
                    session, message.tool_calls, state, produced, can_confirm=can_confirm
                ):
                    yield event
                yield ToolContinuation("Processing tool results...", len(state.executed))
            settled = True
            if reply is not None and reply.done:
                session.context_window = context_window.after_turn(
                    session.context_window, reply.usage_tokens
                )
            await self._save(plan, [*produced, message])
            usage = WindowUsage(
                current_window=session.context_window.current_window,
                usage_tokens=reply.usage_tokens if reply else 0,
                reason=session.context_window.last_adjustment,
            )
            yield MessageComplete(message, usage, tuple(state.executed))
            yield TurnDone(session.session_id)
        except ConfirmationRequiresStreaming as exc:
            settled = True  # a refused turn changes nothing; the client retries streamed
            yield TurnFailed(exc)
        except MochiError as exc:
            settled = True
            log.warning("turn on session %s failed: %s", session.session_id, exc.message)
            kept = self._cut_short(produced, reply, state, BACKEND_FAILED)
            if kept:  # a turn that failed before producing anything leaves no trace
                await self._save(plan, kept)
            yield TurnFailed(exc)
        finally:
            if not settled:
                # Cancelled or closed early: keep the user message and whatever
                # the turn had produced.
                reason = SHUTDOWN if self.shutting_down else interruption_reason()
                await self._save(plan, self._cut_short(produced, reply, state, reason))

    @staticmethod
    def _cut_short(
        produced: list[Message], reply: ReplyBuilder | None, state: ToolRoundState, reason: str
    ) -> list[Message]:
        """What a turn that stopped early keeps: its messages so far, the
        partial reply, and a denial for a confirmation left unanswered."""
        kept = list(produced)
        if state.awaiting is not None:
            # The reply that asked for the call is where the turn was cut.
            asked = next(m for m in reversed(kept) if m.role is Role.ASSISTANT)
            asked.partial_reason = reason
            name = state.awaiting.name
            kept.append(Message(Role.TOOL, denied_text(name), tool_name=name))
        if reply is not None and reply.has_output:
            kept.append(reply.message(reason))
        return kept

    async def _save(self, plan: _Plan, produced: list[Message]) -> None:
        """Stores the turn, shielded so that a second cancellation cannot cut
        the write short; shutdown waits for it through drain()."""
        new = [*plan.new, *produced]
        if not new:
            return
        plan.session.updated_at = utc_now()
        await self._shielded(self._store.replace_tail(plan.session, plan.keep, new))

    async def _shielded(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)
        await asyncio.shield(task)

    async def drain(self) -> None:
        """Waits until no turn runs and every write is done (shutdown uses it)."""
        await self._idle.wait()
        if self._saves:
            await asyncio.gather(*self._saves, return_exceptions=True)
