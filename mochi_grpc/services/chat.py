"""mochi.v1.ChatService: turns as unary calls and as event streams."""

from __future__ import annotations

from contextlib import aclosing

import grpc

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as pb
from mochi_grpc._gen.mochi.v1 import chat_service_pb2_grpc as pb_grpc
from mochi_grpc.chat import (
    AgentComplete,
    AgentExecution,
    AgentPlanning,
    AgentStarted,
    AgentToolCall,
    AgentToolResult,
    ChatEngine,
    ConfirmationRequired,
    ContentDelta,
    MessageComplete,
    ThinkingDelta,
    ToolCallStarted,
    ToolContinuation,
    ToolFinished,
    TurnDone,
    TurnFailed,
    TurnOptions,
    TurnStarted,
    TurnWatcher,
)
from mochi_grpc.chat.streaming import Sent
from mochi_grpc.services import convert
from mochi_grpc.services.auth import caller
from mochi_grpc.services.errors import grpc_errors

Context = grpc.aio.ServicerContext

# Sent as initial metadata once a turn is accepted, so that a caller (such as
# the HTTP bridge) can tell a refused request from a started stream before the
# first token, which may take long to come; the turn's id comes with it.
TURN_STARTED = ("mochi-turn", "started")
TURN_ID = "mochi-turn-id"
# Sent as initial metadata by WatchTurn: "events", or "none" when the turn has
# ended and the watcher has seen all of it.
WATCH = "mochi-watch"


def chat_event(sent: Sent) -> pb.ChatEvent:
    event_id, event = sent
    match event:
        case ContentDelta(content=content, role=role):
            return pb.ChatEvent(
                event_id=event_id, content_delta=pb.ContentDelta(content=content, role=role)
            )
        case ThinkingDelta(content=content):
            return pb.ChatEvent(event_id=event_id, thinking_delta=pb.ThinkingDelta(content=content))
        case MessageComplete(message=message, context_window=usage):
            return pb.ChatEvent(
                event_id=event_id,
                message_complete=pb.MessageComplete(
                    message_id=message.message_id,
                    model=message.model or "",
                    eval_count=message.eval_count,
                    prompt_eval_count=message.prompt_eval_count,
                    context_window=convert.window_usage(usage),
                ),
            )
        case ToolCallStarted(tool_name=name, arguments=args, call_index=index, tool_call_id=cid):
            return pb.ChatEvent(
                event_id=event_id,
                tool_call=pb.ToolCallEvent(
                    tool_name=name,
                    arguments=convert.struct(args),
                    call_index=index,
                    tool_call_id=cid,
                ),
            )
        case ConfirmationRequired():
            return pb.ChatEvent(
                event_id=event_id,
                tool_call_confirmation_required=pb.ToolCallConfirmationRequired(
                    tool_name=event.tool_name,
                    arguments=convert.struct(event.arguments),
                    call_index=event.call_index,
                    confirmation_id=event.confirmation_id,
                    tool_call_id=event.tool_call_id,
                ),
            )
        case ToolFinished():
            return pb.ChatEvent(
                event_id=event_id,
                tool_result=pb.ToolResult(
                    tool_name=event.tool_name,
                    success=event.success,
                    result=event.result,
                    error_message=event.error,
                    call_index=event.call_index,
                    tool_call_id=event.tool_call_id,
                ),
            )
        case ToolContinuation(message=text, tool_count=count):
            return pb.ChatEvent(
                event_id=event_id,
                tool_continuation_start=pb.ToolContinuationStart(message=text, tool_count=count),
            )
        case TurnFailed(error=error):
            return pb.ChatEvent(
                event_id=event_id,
                error=pb.StreamError(
                    code=error.code, message=error.message, details=convert.struct(error.details)
                ),
            )
        case TurnDone(session_id=session_id):
            return pb.ChatEvent(event_id=event_id, done=pb.Done(session_id=session_id))
        case AgentStarted(agent_name=name, instruction=instruction):
            return pb.ChatEvent(
                event_id=event_id,
                agent_start=pb.AgentStart(agent_name=name, instruction=instruction),
            )
        case AgentPlanning(content=content):
            return pb.ChatEvent(event_id=event_id, agent_planning=pb.AgentPlanning(content=content))
        case AgentExecution(content=content):
            return pb.ChatEvent(
                event_id=event_id, agent_execution=pb.AgentExecution(content=content)
            )
        case AgentToolCall(agent_name=name, tool_name=tool, arguments=args):
            return pb.ChatEvent(
                event_id=event_id,
                agent_tool_call=pb.AgentToolCall(
                    agent_name=name, tool_name=tool, arguments=convert.struct(args)
                ),
            )
        case AgentToolResult():
            return pb.ChatEvent(
                event_id=event_id,
                agent_tool_result=pb.AgentToolResult(
                    agent_name=event.agent_name,
                    tool_name=event.tool_name,
                    success=event.success,
                    result=event.result,
                ),
            )
        case AgentComplete(agent_name=name, session_id=agent_session, output=output):
            return pb.ChatEvent(
                event_id=event_id,
                agent_complete=pb.AgentComplete(
                    agent_name=name, session_id=agent_session, output=output
                ),
            )
    raise TypeError(f"unknown turn event {event!r}")  # pragma: no cover


# gRPC cancels a handler whose deadline passed a few milliseconds before the
# handler's own clock reaches that deadline.
_DEADLINE_SLACK_SECONDS = 0.1


def _interruption_reason(context: Context[object, object]) -> str:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= _DEADLINE_SLACK_SECONDS:
        return "deadline_exceeded"
    return "cancelled"


class ChatService(pb_grpc.ChatServiceServicer):
    def __init__(self, engine: ChatEngine, watcher: TurnWatcher, *, coalesce: bool = True) -> None:
        self._engine = engine
        self._watcher = watcher
        self._coalesce = coalesce

    @grpc_errors
    async def Chat(
        self, request: pb.ChatRequest, context: Context[object, object]
    ) -> pb.ChatResponse:
        result = await self._engine.run_turn(
            request.session_id,
            request.message if request.HasField("message") else None,
            request.think,
            principal=caller(),
        )
        return pb.ChatResponse(
            session_id=request.session_id,
            message=convert.message(result.message),
            tool_calls_executed=[
                pb.ExecutedToolCall(
                    name=c.name, arguments=convert.struct(c.arguments), success=c.success
                )
                for c in result.executed
            ],
            context_window=convert.window_usage(result.context_window),
        )

    @grpc_errors
    async def ConfirmToolCall(
        self, request: pb.ConfirmToolCallRequest, context: Context[object, object]
    ) -> pb.ConfirmToolCallResponse:
        name = await self._engine.confirm_tool_call(
            request.session_id, request.confirmation_id, request.approved, principal=caller()
        )
        verdict = "approved" if request.approved else "denied"
        return pb.ConfirmToolCallResponse(
            tool_name=name, message=f"Tool '{name}' execution {verdict}"
        )

    @grpc_errors
    async def ChatStream(  # type: ignore[override]
        self, request: pb.ChatStreamRequest, context: Context[object, object]
    ) -> None:
        # Writing (instead of yielding) keeps the cancellation of this call in
        # this coroutine, so closing the turn below runs at once.
        turn = self._engine.stream_turn(
            request.session_id,
            request.message if request.HasField("message") else None,
            TurnOptions(think=request.think, continue_on_disconnect=request.continue_on_disconnect),
            principal=caller(),
            interruption_reason=lambda: _interruption_reason(context),
            coalesce=self._coalesce,
        )
        async with aclosing(turn) as events:
            started = await anext(events)  # raises when the turn is refused
            assert isinstance(started, TurnStarted)
            await context.send_initial_metadata((TURN_STARTED, (TURN_ID, started.turn_id)))
            async for sent in events:
                assert not isinstance(sent, TurnStarted)
                await context.write(chat_event(sent))

    @grpc_errors
    async def WatchTurn(  # type: ignore[override]
        self, request: pb.WatchTurnRequest, context: Context[object, object]
    ) -> None:
        watch = await self._watcher.watch(
            request.session_id, request.turn_id, request.after_event_id, principal=caller()
        )
        await context.send_initial_metadata(
            ((TURN_ID, watch.turn_id), (WATCH, "events" if watch.has_more else "none"))
        )
        async with aclosing(watch.events(coalesce=self._coalesce)) as events:
            async for sent in events:
                await context.write(chat_event(sent))

    @grpc_errors
    async def CancelTurn(
        self, request: pb.CancelTurnRequest, context: Context[object, object]
    ) -> pb.CancelTurnResponse:
        turn_id = await self._watcher.cancel(
            request.session_id, request.turn_id, principal=caller()
        )
        return pb.CancelTurnResponse(turn_id=turn_id)
