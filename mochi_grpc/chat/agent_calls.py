"""A call of the `agent` tool: a task the model delegates to an agent.

A session whose agent settings enable agents offers its model one more
tool, `agent` (arguments: `agent`, `instruction`, optional `session_id` to
go on with an earlier conversation of that agent). A call runs in the
agent's own session (kind agent: stored, readable, never in the user's
list), in two phases:

- planning: the agent's system prompt (SKILL.md, as it is now), the
  conversation so far and the instruction, with a planning prompt added to
  the request only; no tools. The plan is stored.
- execution: the same with an execution prompt, and the agent's tools.
  Tool calls run (without asking: the person answered for the `agent` call
  itself) and their results go back; a first round without tool calls gets
  one more round (models often announce before they act); after that, a
  round without tool calls ends the work. At most `max_iterations` rounds.

Everything streams as agent events inside the main turn; what the agent did
(its session id first) becomes the `agent` tool's result, and the main turn
goes on. Stopped (the turn is cancelled), the model request is closed at
once and what the agent produced is stored, the reply cut short marked with
the reason. An agent that fails (its model, an unknown agent, bad
arguments) is a failed tool call: the main model is told why.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from mochi_grpc.agents import Agent, AgentCatalog
from mochi_grpc.chat.events import (
    AgentComplete,
    AgentExecution,
    AgentPlanning,
    AgentStarted,
    AgentToolCall,
    AgentToolResult,
    TurnEvent,
)
from mochi_grpc.chat.history import to_model_messages
from mochi_grpc.chat.model_requests import stream_reply
from mochi_grpc.chat.observing import ToolRun, TurnObservation
from mochi_grpc.chat.reply import ReplyBuilder
from mochi_grpc.coordination import Coordination
from mochi_grpc.entities import (
    ContextWindowConfig,
    ExecutionPolicy,
    Message,
    Role,
    Session,
    ToolCall,
    ToolSettings,
    utc_now,
)
from mochi_grpc.errors import MochiError, SessionBusy, SessionNotFound
from mochi_grpc.llm import ChatRequest, LLMBackend
from mochi_grpc.store import SessionStore
from mochi_grpc.tools import ToolOutcome, ToolRunner

AGENT_TOOL = "agent"
# The partial_reason of an agent's reply cut short by its model failing.
BACKEND_FAILED = "ollama_error"

PLANNING_PROMPT = (
    "Before you act, plan. Read the instruction above and write a short, numbered plan:"
    " the steps you will take and which of your tools each step needs. Do not call any"
    " tool now and do not carry out the plan yet."
)
EXECUTION_PROMPT = (
    "Now carry out your plan step by step, calling your tools where a step needs one."
    " When the work is done, answer with the result for the one who gave you the"
    " instruction, without calling a tool."
)

_ARGUMENTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["agent", "instruction"],
    "properties": {
        "agent": {"type": "string", "description": "The name of the agent to delegate to."},
        "instruction": {
            "type": "string",
            "description": "A detailed instruction: what the agent is to do and what to"
            " answer with.",
        },
        "session_id": {
            "type": "string",
            "description": "Optional: the Session ID of an earlier conversation with this"
            " agent, to go on with it.",
        },
    },
}


def agent_tool_schema(agents: list[Agent]) -> dict[str, Any]:
    """The `agent` tool as Ollama takes it, listing the agents offered."""
    listed = "\n".join(f"- {a.name}: {a.description}" for a in agents)
    description = (
        "Delegate a task to a specialised agent, which plans it, carries it out with its"
        f" own tools and reports back.\n\nAvailable agents:\n{listed}\n\nReturns the agent's"
        " response, beginning with its Session ID (pass it as session_id to go on with"
        " the same conversation)."
    )
    parameters = json.loads(json.dumps(_ARGUMENTS_SCHEMA))
    parameters["properties"]["agent"]["enum"] = [a.name for a in agents]
    return {
        "type": "function",
        "function": {"name": AGENT_TOOL, "description": description, "parameters": parameters},
    }


@dataclass
class AgentWork:
    """What one agent call has produced so far; `outcome` is set at its end."""

    session: Session | None = None
    keep: int = 0
    new: list[Message] = field(default_factory=list)
    reply: ReplyBuilder | None = None
    # Said after the work when it was stopped by the round limit.
    note: str = ""
    outcome: ToolOutcome | None = None


class _Refused(Exception):
    """The call cannot run; the text tells the main model why."""


@dataclass(frozen=True)
class _Arguments:
    agent: str
    instruction: str
    session_id: str | None


def _arguments(arguments: dict[str, Any]) -> _Arguments:
    agent, instruction = arguments.get("agent"), arguments.get("instruction")
    session_id = arguments.get("session_id") or None
    if not isinstance(agent, str) or not agent:
        raise _Refused("Invalid arguments for tool 'agent': agent: a name is required")
    if not isinstance(instruction, str) or not instruction.strip():
        raise _Refused("Invalid arguments for tool 'agent': instruction: text is required")
    if session_id is not None and not isinstance(session_id, str):
        raise _Refused("Invalid arguments for tool 'agent': session_id: must be text")
    return _Arguments(agent, instruction, session_id)


def agent_output(session_id: str, produced: list[Message], note: str = "") -> str:
    """The `agent` tool's result: the agent session's id, then each reply,
    tool call and tool result since the instruction."""
    parts = [f"Session ID: {session_id}"]
    for message in produced:
        if message.role is Role.ASSISTANT:
            if message.content.strip():
                parts.append(message.content.strip())
            parts.extend(
                f"Tool call: {c.name}({json.dumps(c.arguments, ensure_ascii=False)})"
                for c in message.tool_calls
            )
        elif message.role is Role.TOOL:
            parts.append(f"Tool result ({message.tool_name}): {message.content}")
    if note:
        parts.append(note)
    return "\n\n".join(parts)


class AgentCaller:
    def __init__(
        self,
        catalog: AgentCatalog,
        store: SessionStore,
        llm: LLMBackend,
        runner: ToolRunner,
        coordination: Coordination,
        *,
        max_iterations: int = 50,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._llm = llm
        self._runner = runner
        self._coordination = coordination
        self._max_iterations = max_iterations

    def offered(self, session: Session) -> list[Agent]:
        """The session's enabled agents that can run."""
        return [
            agent
            for name in session.agent_settings.enabled_agents
            if (agent := self._catalog.find(name)) is not None and agent.valid
        ]

    def schema(self, session: Session) -> dict[str, Any] | None:
        """The `agent` tool for the session, or None when it offers no agent."""
        agents = self.offered(session)
        return agent_tool_schema(agents) if agents else None

    async def run(
        self,
        session: Session,
        arguments: dict[str, Any],
        work: AgentWork,
        observation: TurnObservation,
        stop_reason: Callable[[], str],
    ) -> AsyncGenerator[TurnEvent, None]:
        """Runs one call, streaming its events; work.outcome is its result.
        Cancelled, it stores the agent's work (cut short with stop_reason())."""
        try:
            call = _arguments(arguments)
            agent = self._agent(session, call.agent)
            agent_session, history = await self._conversation(session, agent, call)
        except _Refused as refused:
            work.outcome = ToolOutcome(False, "", str(refused))
            return
        try:
            claim = await self._coordination.claim(agent_session.session_id)
        except SessionBusy:
            work.outcome = ToolOutcome(
                False,
                "",
                f"The conversation {agent_session.session_id} of agent"
                f" '{agent.name}' is busy with another task",
            )
            return
        work.session, work.keep = agent_session, len(history)
        try:
            yield AgentStarted(agent.name, call.instruction)
            work.new.append(Message(Role.USER, call.instruction))
            async for event in self._work(agent, history, work, observation):
                yield event
            output = agent_output(agent_session.session_id, work.new[1:], work.note)
            await self._save(work)
            work.outcome = ToolOutcome(True, output)
            yield AgentComplete(agent.name, agent_session.session_id, output)
        except MochiError as exc:
            await self._save(work, BACKEND_FAILED)
            work.outcome = ToolOutcome(False, "", f"Agent '{agent.name}' failed: {exc.message}")
        except asyncio.CancelledError:
            await asyncio.shield(self._save(work, stop_reason()))
            raise
        finally:
            await asyncio.shield(self._coordination.release(agent_session.session_id, claim))

    def _agent(self, session: Session, name: str) -> Agent:
        if name not in session.agent_settings.enabled_agents:
            raise _Refused(f"Agent '{name}' is not enabled in this session")
        agent = self._catalog.find(name)
        if agent is None:
            raise _Refused(f"Agent '{name}' not found")
        if agent.error is not None:
            raise _Refused(f"Agent '{name}' cannot run: {agent.error}")
        return agent

    async def _conversation(
        self, session: Session, agent: Agent, call: _Arguments
    ) -> tuple[Session, list[Message]]:
        """The agent session to work in (an earlier one, or a new one), with
        its system prompt as SKILL.md says now."""
        system = Message(Role.SYSTEM, agent.system_prompt, source_file="SKILL.md")
        model = await self._model(agent, session)
        if call.session_id is None:
            created = Session(
                model=model,
                owner=session.owner,
                agent_name=agent.name,
                tool_settings=ToolSettings(
                    tools=sorted(agent.tools), execution_policy=ExecutionPolicy.NEVER_CONFIRM
                ),
                # The window the delegating session uses is one its model holds.
                context_window=ContextWindowConfig(
                    current_window=session.context_window.current_window
                ),
            )
            await self._store.create_session(created, [system])
            return created, [system]
        try:
            earlier, history = await self._store.get_conversation(call.session_id)
        except SessionNotFound:
            earlier, history = None, []
        if earlier is None or earlier.agent_name != agent.name or earlier.owner != session.owner:
            raise _Refused(f"There is no conversation {call.session_id} of agent '{agent.name}'")
        earlier.model = model
        earlier.tool_settings = replace(earlier.tool_settings, tools=sorted(agent.tools))
        if history and history[0].role is Role.SYSTEM:
            if history[0].content != system.content:
                await self._store.splice(earlier, 0, 1, [system])
                history[0] = system
        else:
            await self._store.splice(earlier, 0, 0, [system])
            history.insert(0, system)
        return earlier, history

    async def _model(self, agent: Agent, session: Session) -> str:
        """The agent's own model when it names one the backend has, else the
        session's."""
        if agent.model is None:
            return session.model
        try:
            return (await self._llm.get_model(agent.model)).name
        except MochiError:
            return session.model

    async def _work(
        self,
        agent: Agent,
        history: list[Message],
        work: AgentWork,
        observation: TurnObservation,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Planning, then execution rounds until one calls no tool."""
        assert work.session is not None
        session = work.session
        tools = [tool.schema for _, tool in sorted(agent.tools.items())]
        async for piece in self._round(session, history, work, PLANNING_PROMPT, None, observation):
            yield AgentPlanning(piece)
        await self._save(work)
        for iteration in range(self._max_iterations):
            async for piece in self._round(
                session, history, work, EXECUTION_PROMPT, tools, observation
            ):
                yield AgentExecution(piece)
            message = work.new[-1]
            if message.tool_calls:
                for tool_call in message.tool_calls:
                    async for event in self._call_tool(agent, tool_call, work, observation):
                        yield event
            await self._save(work)
            if not message.tool_calls and iteration > 0:
                return
        work.note = (
            f"(The agent was stopped after {self._max_iterations} rounds, the most it may take;"
            " its work may be unfinished.)"
        )

    async def _round(
        self,
        session: Session,
        history: list[Message],
        work: AgentWork,
        prompt: str,
        tools: list[dict[str, Any]] | None,
        observation: TurnObservation,
    ) -> AsyncGenerator[str, None]:
        """One model request; yields the reply's text as it comes and adds
        the reply to the work."""
        request = ChatRequest(
            model=session.model,
            messages=[
                *to_model_messages([*history, *work.new]),
                {"role": "system", "content": prompt},  # for this request only
            ],
            options={"num_ctx": session.context_window.current_window},
            tools=tools,
        )
        reply = work.reply = ReplyBuilder(model=session.model)
        async with aclosing(stream_reply(self._llm, request, reply, observation)) as chunks:
            async for chunk in chunks:
                if chunk.content:
                    yield chunk.content
        work.new.append(reply.message())
        work.reply = None

    async def _call_tool(
        self, agent: Agent, call: ToolCall, work: AgentWork, observation: TurnObservation
    ) -> AsyncGenerator[TurnEvent, None]:
        yield AgentToolCall(agent.name, call.name, call.arguments)
        tool = agent.tools.get(call.name)
        run = ToolRun(call.name)
        with observation.tool_run(run):
            outcome = (
                await self._runner.run(tool, call.arguments)
                if tool is not None
                else ToolOutcome(False, "", f"Agent '{agent.name}' has no tool '{call.name}'")
            )
            run.outcome = "success" if outcome.success else "error"
        yield AgentToolResult(agent.name, call.name, outcome.success, outcome.text)
        work.new.append(Message(Role.TOOL, outcome.text, tool_name=call.name))

    async def _save(self, work: AgentWork, cut_short: str | None = None) -> None:
        """Stores the agent session's messages so far; with `cut_short`, the
        reply being generated is kept, marked with that reason."""
        if work.session is None:
            return
        messages = list(work.new)
        if cut_short is not None and work.reply is not None and work.reply.has_output:
            messages.append(work.reply.message(cut_short))
        work.session.updated_at = utc_now()
        await self._store.replace_tail(work.session, work.keep, messages)
