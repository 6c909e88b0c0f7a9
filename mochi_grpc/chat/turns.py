"""A conversation turn: the user's message in, the model's reply streamed out.

A turn is first accepted or refused: the session exists and is free, there is
something to answer, the server is not at its limit. A refused turn changes
nothing. An accepted one gets an id and is stored at once (the user message,
before the model is asked), then runs in a task of its own: one or more model
rounds (a round that calls tools is followed by another with the tools'
results, until the model answers without tools), each event appended to the
turn's log with its id, the reply so far stored at a bounded rate with
partial_reason in_progress. Readers follow the log: the caller that started
the turn and any number of watchers.

When the turn ends it is stored whole, then its last events are sent. A turn
cut short (stopped: the caller went away or cancelled it, a deadline, a
shutdown; or the model backend failed) closes the model request at once and
stores what it produced, the partial reply marked with the reason. By default
the caller going away stops the turn; one started with continue_on_disconnect
runs on, bounded by the maximum turn time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace

from mochi_grpc.auth import Principal
from mochi_grpc.chat import context_window
from mochi_grpc.chat.admission import Admission
from mochi_grpc.chat.checkpoints import Ending, TurnJournal, TurnProgress
from mochi_grpc.chat.event_records import encode
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
from mochi_grpc.chat.live_turns import LiveTurn, LiveTurns, TurnOptions
from mochi_grpc.chat.model_requests import stream_reply
from mochi_grpc.chat.observing import NoObserver, TurnObservation, TurnObserver
from mochi_grpc.chat.rate_limits import TurnRateLimit
from mochi_grpc.chat.reply import ReplyBuilder
from mochi_grpc.chat.streaming import Sent, deliver
from mochi_grpc.chat.tool_calls import ToolCaller, ToolRoundState, denied_text, stopped_text
from mochi_grpc.chat.turn_log import TurnLog
from mochi_grpc.coordination import Coordination, Receivers
from mochi_grpc.entities import Message, Role, Session, new_id, utc_now
from mochi_grpc.errors import (
    AgentsUnsupported,
    ConfirmationNotFound,
    ConfirmationRequiresStreaming,
    EmptyHistory,
    MochiError,
    Overloaded,
    SessionBusy,
    TurnStopped,
)
from mochi_grpc.llm import ChatRequest, LLMBackend
from mochi_grpc.store import INTERRUPTED, SessionStore

log = logging.getLogger(__name__)

SHUTDOWN = "shutdown"
CANCELLED = "cancelled"
DEADLINE_EXCEEDED = "deadline_exceeded"
BACKEND_FAILED = "ollama_error"
# Statuses of turns that ended without being cut short.
COMPLETED = "completed"
REFUSED = "refused"


@dataclass(frozen=True)
class TurnResult:
    """The outcome of a whole (non-streamed) turn."""

    message: Message
    context_window: WindowUsage
    executed: tuple[ExecutedCall, ...]


def stopped_error(session_id: str, reason: str) -> TurnStopped:
    """What watchers of a turn that was cut short are told last."""
    return TurnStopped(
        f"The turn was stopped ({reason}); the reply so far is stored",
        details={"session_id": session_id, "partial_reason": reason},
    )


class ChatEngine:
    def __init__(
        self,
        store: SessionStore,
        llm: LLMBackend,
        coordination: Coordination,
        *,
        tools: ToolCaller | None = None,
        max_tool_rounds: int = 10,
        max_concurrent_turns: int = 256,
        max_starting_turns: int = 16,
        checkpoint_interval_seconds: float = 0.5,
        max_turn_seconds: float = 900.0,
        confirmation_timeout_seconds: float = 300.0,
        turns_per_minute: int = 0,
        observer: TurnObserver | None = None,
        on_reply_completed: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._llm = llm
        self._coordination = coordination
        self._tools = tools
        self._max_rounds = max_tool_rounds + 1
        self._max_turn_seconds = max_turn_seconds
        self._confirmation_timeout = confirmation_timeout_seconds
        self._journal = TurnJournal(store, checkpoint_interval_seconds)
        self._rate_limit = TurnRateLimit(turns_per_minute)
        self._observer = observer or NoObserver()
        # Told the session's id after each turn that completed (e.g. to
        # summarize it); it must return at once and never raise.
        self._on_reply_completed = on_reply_completed
        self.live = LiveTurns()
        self._admission = Admission(max_concurrent_turns, max_starting_turns)
        self._tasks: set[asyncio.Task[None]] = set()
        self.shutting_down = False

    async def open(self) -> None:
        """Ends the turns a process that died left running, takes requests
        from the other processes, then starts the writer of running turns."""
        await self._coordination.open(
            Receivers(
                stop_turn=self._stop_here,
                answer_confirmation=self._answer_here,
                interruption=encode(0, TurnFailed(stopped_error("", INTERRUPTED))),
            )
        )
        self._journal.start()

    async def start_turn(
        self, session_id: str, message: str | None, options: TurnOptions, principal: Principal
    ) -> LiveTurn:
        """Accepts a turn (or raises why not), stores its start and runs it."""
        if self.shutting_down:
            raise Overloaded(
                "The server is shutting down; try another one or try again shortly",
                retry_after_seconds=1,  # another replica can take it at once
            )
        self._rate_limit.check(principal.name)
        self._admission.reserve()
        try:
            async with self._admission.starting():
                claim, progress = await self._begin(session_id, message, principal)
        except BaseException:
            self._admission.release()
            raise
        self._rate_limit.started(principal.name)
        live = LiveTurn(session_id, progress.turn_id, options, progress.log, claim)
        self.live.add(live)
        live.task = asyncio.create_task(self._drive(live, progress))
        self._tasks.add(live.task)
        live.task.add_done_callback(self._tasks.discard)
        return live

    async def _begin(
        self, session_id: str, message: str | None, principal: Principal
    ) -> tuple[str, TurnProgress]:
        """Claims the session and stores the turn's start; on failure the
        session is free again."""
        try:
            claim = await self._coordination.claim(session_id)
        except SessionBusy:
            # Busy or not, another key's session does not exist for this caller.
            principal.check_owns(await self._store.get_session(session_id))
            raise
        try:
            progress = await self._plan(session_id, message, principal)
            await self._journal.begin(progress)
        except BaseException:
            await self._coordination.release(session_id, claim)
            raise
        return claim, progress

    async def stream_turn(
        self,
        session_id: str,
        message: str | None,
        options: TurnOptions,
        *,
        principal: Principal,
        interruption_reason: Callable[[], str] = lambda: CANCELLED,
        coalesce: bool = True,
    ) -> AsyncGenerator[TurnStarted | Sent, None]:
        """Starts a turn and follows it: TurnStarted, then each event with its
        id. Closed early, it stops the turn (with the reason given) unless the
        turn continues on disconnect."""
        live = await self.start_turn(session_id, message, options, principal)
        try:
            yield TurnStarted(session_id, live.turn_id)
            async with aclosing(deliver(live.log, coalesce=coalesce)) as events:
                async for sent in events:
                    yield sent
        finally:
            if live.running and not options.continue_on_disconnect:
                live.stop(interruption_reason())
                await live.wait()  # the partial reply is stored before the caller is let go

    async def confirm_tool_call(
        self, session_id: str, confirmation_id: str, approved: bool, *, principal: Principal
    ) -> str:
        """Answers a turn waiting for a person; returns the tool's name."""
        principal.check_owns(await self._store.get_session(session_id))
        if self._tools is not None:
            try:
                return self._tools.answer(session_id, confirmation_id, approved)
            except ConfirmationNotFound:
                pass  # a turn of another process may wait for it
        tool_name = await self._coordination.answer_elsewhere(session_id, confirmation_id, approved)
        if tool_name is None:
            raise ConfirmationNotFound(
                f"Confirmation ID '{confirmation_id}' not found or expired",
                details={"confirmation_id": confirmation_id},
            )
        return tool_name

    def _answer_here(self, session_id: str, confirmation_id: str, approved: bool) -> None:
        """Another process took the answer to a confirmation; one of this
        process's turns may wait for it."""
        if self._tools is not None:
            with contextlib.suppress(ConfirmationNotFound):
                self._tools.answer(session_id, confirmation_id, approved)

    def _stop_here(self, session_id: str, turn_id: str) -> None:
        """Another process was asked to stop a turn; this one may run it."""
        live = self.live.of_session(session_id)
        if live is not None and live.turn_id == turn_id:
            live.stop(CANCELLED)

    async def run_turn(
        self, session_id: str, message: str | None, think: bool = False, *, principal: Principal
    ) -> TurnResult:
        """Runs one turn to its end; raises the error of a failed turn."""
        options = TurnOptions(think=think, can_confirm=False)
        turn = self.stream_turn(session_id, message, options, principal=principal)
        async with aclosing(turn) as events:
            async for item in events:
                if isinstance(item, TurnStarted):
                    continue
                _, event = item
                if isinstance(event, TurnFailed):
                    raise event.error
                if isinstance(event, MessageComplete):
                    return TurnResult(event.message, event.context_window, event.executed)
        raise RuntimeError("turn ended without a reply")  # pragma: no cover

    async def shutdown(self, grace: float) -> None:
        """Refuses new turns, lets the running ones finish for `grace` seconds,
        then stops them; returns once every turn is stored."""
        self.shutting_down = True
        running = [asyncio.ensure_future(turn.wait()) for turn in self.live.all()]
        if running:
            await asyncio.wait(running, timeout=grace)
        for turn in self.live.all():
            turn.stop(SHUTDOWN)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for waiter in running:
            waiter.cancel()
        await self._journal.close()
        await self._coordination.close()

    async def drain(self) -> None:
        """Waits until no turn runs; each is stored by then."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _plan(
        self, session_id: str, message: str | None, principal: Principal
    ) -> TurnProgress:
        session, history = await self._store.get_conversation(session_id)
        principal.check_owns(session)
        if self._tools is not None and self._tools.offers_agents(session):
            await self._check_tool_calling(session)
        if session.context_window.model_max_context is None:
            await self._learn_model_context(session)
        keep = len(history)
        new: list[Message] = []
        if message is not None:
            new.append(Message(Role.USER, message))
        elif history and history[-1].role is Role.ASSISTANT:
            keep -= 1  # answering again replaces the last reply
        if not history[:keep] and not new:
            raise EmptyHistory(
                "There is nothing to answer: send a message first",
                details={"session_id": session_id},
            )
        session.updated_at = utc_now()
        turn_id = new_id()
        return TurnProgress(
            session,
            turn_id,
            keep,
            new,
            TurnLog(turn_id),
            history=history[:keep],
            replaced=history[keep:],
        )

    async def _check_tool_calling(self, session: Session) -> None:
        """A session that delegates to agents needs a model that calls tools:
        refused before it starts rather than failing in the middle."""
        try:
            info = await self._llm.get_model(session.model)
        except MochiError:
            return  # the turn will report the backend's failure itself
        if "tools" not in info.capabilities:
            agents = ", ".join(session.agent_settings.enabled_agents)
            raise AgentsUnsupported(
                f"Model '{session.model}' cannot call tools, so it cannot delegate to the"
                f" session's agents ({agents}): choose a model that can, or remove the agents"
                " from the session's agent_settings",
                details={"session_id": session.session_id, "model": session.model},
            )

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

    async def _drive(self, live: LiveTurn, progress: TurnProgress) -> None:
        """The turn's task: runs it, stores its end, then sends its last events."""
        deadline = None
        if live.options.continue_on_disconnect:
            deadline = asyncio.get_running_loop().call_later(
                self._max_turn_seconds, live.stop, DEADLINE_EXCEEDED
            )
        observed = self._observer.turn(live.session_id, live.turn_id, progress.session.model)
        try:
            with observed as observation:
                ending = await self._outcome(live, progress, observation)
                observation.finished(ending.status)
                live.stoppable = False  # what is left is storing the end and sending it
                try:
                    await asyncio.shield(self._journal.finish(progress, ending))
                except Exception:
                    log.exception("the end of turn %s could not be stored", live.turn_id)
                else:
                    if ending.status == COMPLETED and self._on_reply_completed is not None:
                        self._on_reply_completed(live.session_id)
                for event in ending.events:
                    live.log.append(event)
        finally:
            if deadline is not None:
                deadline.cancel()
            live.log.close()
            self.live.remove(live)
            self._admission.release()
            try:
                await self._coordination.release(live.session_id, live.claim)
            except Exception:
                log.exception("the session of turn %s could not be freed", live.turn_id)
            finally:
                live.ended()

    async def _outcome(
        self, live: LiveTurn, progress: TurnProgress, observation: TurnObservation
    ) -> Ending:
        state = ToolRoundState()
        session_id = progress.session.session_id
        waiting_for_first = True
        try:
            rounds = self._rounds(
                progress, state, live.options, observation, lambda: self._stop_reason(live)
            )
            async for event in rounds:
                if waiting_for_first and isinstance(event, ContentDelta | ThinkingDelta):
                    waiting_for_first = False
                    observation.first_token()
                live.log.append(event)
                self._journal.changed(progress)
            return self._completed(progress, state)
        except ConfirmationRequiresStreaming as exc:
            # A refused turn changes nothing; the client retries streamed.
            return Ending(REFUSED, progress.replaced, [TurnFailed(exc)])
        except MochiError as exc:
            log.warning("turn on session %s failed: %s", session_id, exc.message)
            kept = self._kept(progress, state, BACKEND_FAILED)
            return Ending(BACKEND_FAILED, kept, [TurnFailed(exc)])
        except Exception:
            # A fault of ours: the turn still ends, stored and reported.
            log.exception("turn %s on session %s failed", live.turn_id, session_id)
            kept = self._kept(progress, state, INTERRUPTED)
            return Ending(INTERRUPTED, kept, [TurnFailed(MochiError("Internal error"))])
        except asyncio.CancelledError:
            reason = self._stop_reason(live)
            error = stopped_error(session_id, reason)
            return Ending(reason, self._kept(progress, state, reason), [TurnFailed(error)])

    async def _rounds(
        self,
        progress: TurnProgress,
        state: ToolRoundState,
        options: TurnOptions,
        observation: TurnObservation,
        stop_reason: Callable[[], str],
    ) -> AsyncGenerator[TurnEvent, None]:
        """Model rounds until one answers without tool calls; the final reply
        is the last of progress.produced."""
        session = progress.session
        tools = self._tools.schemas(session) if self._tools else None
        timeout = self._confirmation_timeout if options.continue_on_disconnect else None
        for round_number in range(self._max_rounds):
            last_round = round_number == self._max_rounds - 1
            request = ChatRequest(
                model=session.model,
                messages=to_model_messages([*progress.history, *progress.new, *progress.produced]),
                think=options.think,
                options={"num_ctx": session.context_window.current_window},
                # The last round may not call tools, so the turn ends.
                tools=None if last_round else tools,
            )
            reply = progress.reply = ReplyBuilder(model=session.model)
            async with aclosing(stream_reply(self._llm, request, reply, observation)) as chunks:
                async for chunk in chunks:
                    if chunk.thinking:
                        yield ThinkingDelta(chunk.thinking)
                    if chunk.content:
                        yield ContentDelta(chunk.content)
            message = reply.message()
            progress.produced.append(message)
            progress.reply = None
            if not message.tool_calls or self._tools is None:
                break
            async for event in self._tools.run_calls(
                session,
                message.tool_calls,
                state,
                progress.produced,
                can_confirm=options.can_confirm,
                confirmation_timeout=timeout,
                observation=observation,
                stop_reason=stop_reason,
            ):
                yield event
            yield ToolContinuation("Processing tool results...", len(state.executed))
        if reply.done:
            session.context_window = context_window.after_turn(
                session.context_window, reply.usage_tokens
            )
        progress.usage_tokens = reply.usage_tokens

    def _stop_reason(self, live: LiveTurn) -> str:
        return SHUTDOWN if self.shutting_down else live.stop_reason or CANCELLED

    def _completed(self, progress: TurnProgress, state: ToolRoundState) -> Ending:
        session = progress.session
        message = progress.produced[-1]
        session.updated_at = utc_now()
        usage = WindowUsage(
            current_window=session.context_window.current_window,
            usage_tokens=progress.usage_tokens,
            reason=session.context_window.last_adjustment,
        )
        return Ending(
            COMPLETED,
            [*progress.new, *progress.produced],
            [MessageComplete(message, usage, tuple(state.executed)), TurnDone(session.session_id)],
        )

    @staticmethod
    def _kept(progress: TurnProgress, state: ToolRoundState, reason: str) -> list[Message] | None:
        """What a turn that stopped early keeps: the user message, its
        messages so far, the partial reply, and a denial for a confirmation
        left unanswered (None when it has nothing to store)."""
        kept = [*progress.new, *progress.produced]
        cut = state.awaiting or state.running
        if cut is not None:
            # The reply that asked for the call is where the turn was cut.
            asked = next(m for m in reversed(kept) if m.role is Role.ASSISTANT)
            asked.partial_reason = reason
            text = (
                denied_text(cut.name)
                if state.awaiting is not None
                else stopped_text(cut.name, reason, state.running_note)
            )
            kept.append(Message(Role.TOOL, text, tool_name=cut.name))
        if progress.reply is not None and progress.reply.has_output:
            kept.append(progress.reply.message(reason))
        progress.session.updated_at = utc_now()
        return kept or None
