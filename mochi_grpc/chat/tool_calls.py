"""The tool calls of one model round: policy, confirmation, execution.

Calls run one after another, in the order the model made them. Each gives a
tool message for the next round: the result, the error text when the tool
failed (so the model learns what went wrong), or a note that it was denied.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from mochi_grpc.chat.agent_calls import AGENT_TOOL, AgentCaller, AgentWork
from mochi_grpc.chat.events import (
    AgentStarted,
    ConfirmationRequired,
    ExecutedCall,
    ToolCallStarted,
    ToolFinished,
    TurnEvent,
)
from mochi_grpc.chat.observing import UNOBSERVED, ToolRun, TurnObservation
from mochi_grpc.coordination import Coordination
from mochi_grpc.entities import ExecutionPolicy, Message, Role, Session, ToolCall, ToolSettings
from mochi_grpc.errors import ConfirmationRequiresStreaming
from mochi_grpc.tools import Confirmations, Tool, ToolCatalog, ToolOutcome, ToolRunner


def effective_policy(settings: ToolSettings, tool_name: str) -> ExecutionPolicy:
    return settings.tool_policies.get(tool_name, settings.execution_policy)


def denied_text(tool_name: str) -> str:
    return f"Tool '{tool_name}' was denied by user"


def stopped_text(tool_name: str, reason: str, note: str = "") -> str:
    text = f"Tool '{tool_name}' was stopped before it finished ({reason})"
    return f"{text}; {note}" if note else text


@dataclass
class ToolRoundState:
    """What the turn's tool calls produced so far (kept if the turn is cut)."""

    executed: list[ExecutedCall] = field(default_factory=list)
    calls_made: int = 0
    # The call waiting for a person's answer, if any: cut off, it counts as denied.
    awaiting: ToolCall | None = None
    # The agent call running, if any, and what to say of it if it is cut off.
    running: ToolCall | None = None
    running_note: str = ""


# Outcomes of a tool call, for the observers.
SUCCESS, FAILED, DENIED = "success", "error", "denied"


class ToolCaller:
    def __init__(
        self,
        catalog: ToolCatalog,
        runner: ToolRunner,
        confirmations: Confirmations,
        coordination: Coordination,
        agents: AgentCaller | None = None,
    ) -> None:
        self._catalog = catalog
        self._runner = runner
        self._confirmations = confirmations
        self._coordination = coordination
        self._agents = agents

    def answer(self, session_id: str, confirmation_id: str, approved: bool) -> str:
        """Answers a pending confirmation; returns its tool's name."""
        return self._confirmations.answer(session_id, confirmation_id, approved)

    def schemas(self, session: Session) -> list[dict[str, Any]] | None:
        """Ollama's `tools` for the session: its enabled tools that exist, and
        the `agent` tool when it enables agents that can run."""
        settings = session.tool_settings
        agent = self._agents.schema(session) if self._agents is not None else None
        if not settings.tools and agent is None:
            return None
        tools = [t.schema for name in settings.tools if (t := self._catalog.find(name))]
        return [*tools, agent] if agent is not None else tools

    def offers_agents(self, session: Session) -> bool:
        return self._agents is not None and bool(self._agents.offered(session))

    async def run_calls(
        self,
        session: Session,
        calls: list[ToolCall],
        state: ToolRoundState,
        produced: list[Message],
        *,
        can_confirm: bool,
        confirmation_timeout: float | None = None,
        observation: TurnObservation = UNOBSERVED,
        stop_reason: Callable[[], str] = lambda: "cancelled",
    ) -> AsyncGenerator[TurnEvent, None]:
        """Runs the calls in order; a confirmation not answered within
        `confirmation_timeout` seconds (None: as long as the turn runs) counts
        as a denial."""
        for call in calls:
            index, call_id = state.calls_made, f"call_{secrets.token_hex(4)}"
            state.calls_made += 1
            agents = self._agents if self._delegates(session, call) else None
            tool = None if agents is not None else self._available(session, call)
            if (tool is None and agents is None) or (
                effective_policy(session.tool_settings, call.name) is ExecutionPolicy.NEVER_CONFIRM
            ):
                # A call that cannot run needs nobody's consent to fail.
                yield ToolCallStarted(call.name, call.arguments, index, call_id)
                approved = True
            elif not can_confirm:
                raise ConfirmationRequiresStreaming(
                    f"Tool '{call.name}' needs a confirmation, which only a streamed turn"
                    " can ask for",
                    details={"tool_name": call.name},
                )
            else:
                with self._confirmations.ask(session.session_id, call.name) as pending:
                    # Answerable through any process before the caller hears of it.
                    await self._coordination.confirmation_asked(
                        session.session_id, pending.confirmation_id, call.name
                    )
                    try:
                        yield ConfirmationRequired(
                            call.name, call.arguments, index, call_id, pending.confirmation_id
                        )
                        state.awaiting = call
                        try:
                            with observation.awaiting_confirmation():
                                approved = await asyncio.wait_for(
                                    pending.answer, confirmation_timeout
                                )
                        except TimeoutError:
                            approved = False
                        state.awaiting = None
                    finally:
                        await asyncio.shield(
                            self._coordination.confirmation_closed(pending.confirmation_id)
                        )
            if not approved:
                with observation.tool_run(ToolRun(call.name, DENIED)):
                    produced.append(Message(Role.TOOL, denied_text(call.name), tool_name=call.name))
                continue
            run = ToolRun(call.name)
            with observation.tool_run(run):
                if agents is not None:
                    work = AgentWork()
                    state.running = call
                    async for event in agents.run(
                        session, call.arguments, work, observation, stop_reason
                    ):
                        if isinstance(event, AgentStarted) and work.session is not None:
                            state.running_note = (
                                f"its work so far is in session {work.session.session_id}"
                            )
                        yield event
                    state.running, state.running_note = None, ""
                    assert work.outcome is not None
                    outcome = work.outcome
                else:
                    outcome = (
                        await self._runner.run(tool, call.arguments)
                        if tool
                        else ToolOutcome(
                            False, "", f"Tool '{call.name}' is not available in this session"
                        )
                    )
                run.outcome = SUCCESS if outcome.success else FAILED
            state.executed.append(ExecutedCall(call.name, call.arguments, outcome.success))
            yield ToolFinished(
                call.name, outcome.success, outcome.result, outcome.error, index, call_id
            )
            produced.append(Message(Role.TOOL, outcome.text, tool_name=call.name))

    def _delegates(self, session: Session, call: ToolCall) -> bool:
        """Whether the call is one of the `agent` tool the session offers."""
        return call.name == AGENT_TOOL and self.offers_agents(session)

    def _available(self, session: Session, call: ToolCall) -> Tool | None:
        """The tool, if it exists and the session enabled it."""
        if call.name not in session.tool_settings.tools:
            return None
        return self._catalog.find(call.name)
