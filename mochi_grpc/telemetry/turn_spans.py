"""Spans of a turn: the turn, each model request and each tool call.

The turn runs in a task of its own, created inside the gRPC call that
started it; the task inherits the call's context, so the `chat turn` span is
a child of the call's server span even when the turn outlives the call
(continue_on_disconnect). Model requests and tool calls are the turn's
children, named and described by the OpenTelemetry GenAI conventions
(`chat {model}`, `execute_tool {name}`, gen_ai.* attributes). The model
request is the hop out to the backend: the backend's HTTP client has no
instrumentation of its own.

Each span is the current one while it lasts, so what runs inside it (a log
line that notes the current span, a further span) sees it. Nothing here runs
per token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from mochi_grpc.chat.observing import ModelCall, ToolRun, TurnObservation
from mochi_grpc.chat.tool_calls import FAILED
from mochi_grpc.chat.turns import BACKEND_FAILED
from mochi_grpc.config import VERSION
from mochi_grpc.store import INTERRUPTED

# Turn outcomes that are failures (a person stopping a turn, a deadline, a
# shutdown or a refusal is not).
FAILED_OUTCOMES = frozenset({BACKEND_FAILED, INTERRUPTED})

# Our own attributes; ids are fine on spans (never on metric labels).
TURN_ID = "mochi.turn.id"
OUTCOME = "mochi.outcome"

# The GenAI semantic conventions' names. gen_ai.system is the older name of
# gen_ai.provider.name: both are set, for trace stores that look for either.
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_CONVERSATION = "gen_ai.conversation.id"
GEN_AI_MODEL = "gen_ai.request.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOOL = "gen_ai.tool.name"
ERROR_TYPE = "error.type"


class _TurnSpans:
    def __init__(self, tracer: Tracer, turn: Span, system: str) -> None:
        self._tracer = tracer
        self._turn = turn
        self._system = system

    def first_token(self) -> None:
        self._turn.add_event("first token")

    def tokens(self, content: int, thinking: int) -> None:
        pass  # the model request's span carries the token counts

    @contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        # A backend failure (an Exception) is recorded and marks the span
        # failed on its way out.
        with self._tracer.start_as_current_span(
            f"chat {call.model}",
            kind=SpanKind.CLIENT,
            attributes={
                GEN_AI_OPERATION: "chat",
                GEN_AI_SYSTEM: self._system,
                GEN_AI_PROVIDER: self._system,
                GEN_AI_MODEL: call.model,
            },
        ) as span:
            try:
                yield
            except asyncio.CancelledError:
                span.set_attribute(OUTCOME, "cancelled")
                raise
            except Exception as exc:
                span.set_attribute(OUTCOME, "failed")
                span.set_attribute(ERROR_TYPE, type(exc).__name__)
                raise
            span.set_attribute(OUTCOME, "completed")
            span.set_attribute(GEN_AI_INPUT_TOKENS, call.prompt_tokens)
            span.set_attribute(GEN_AI_OUTPUT_TOKENS, call.reply_tokens)

    @contextmanager
    def tool_run(self, run: ToolRun) -> Iterator[None]:
        with self._tracer.start_as_current_span(
            f"execute_tool {run.tool}",
            attributes={GEN_AI_OPERATION: "execute_tool", GEN_AI_TOOL: run.tool},
        ) as span:
            try:
                yield
            except asyncio.CancelledError:
                span.set_attribute(OUTCOME, "cancelled")
                raise
            span.set_attribute(OUTCOME, run.outcome)
            if run.outcome == FAILED:
                span.set_status(Status(StatusCode.ERROR, "the tool failed"))

    @contextmanager
    def awaiting_confirmation(self) -> Iterator[None]:
        with self._tracer.start_as_current_span("await confirmation"):
            yield

    def finished(self, outcome: str) -> None:
        self._turn.set_attribute(OUTCOME, outcome)
        if outcome in FAILED_OUTCOMES:
            self._turn.set_status(Status(StatusCode.ERROR, outcome))


class TracingObserver:
    """Spans for every turn, through the domain's observer interface;
    `system` names the model backend (ollama, embedded)."""

    def __init__(self, tracer_provider: TracerProvider, system: str) -> None:
        self._tracer = tracer_provider.get_tracer("mochi_grpc", VERSION)
        self._system = system

    @contextmanager
    def turn(self, session_id: str, turn_id: str, model: str) -> Iterator[TurnObservation]:
        with self._tracer.start_as_current_span(
            "chat turn",
            attributes={GEN_AI_CONVERSATION: session_id, TURN_ID: turn_id, GEN_AI_MODEL: model},
        ) as span:
            yield _TurnSpans(self._tracer, span, self._system)
