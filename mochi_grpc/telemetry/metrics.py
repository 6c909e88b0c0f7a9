"""The server's Prometheus series, and the observer that feeds the turn ones.

Every series is defined once, here, in prometheus_client's default registry:
one per process, so several servers started in one process (the tests) add to
the same series. Label values come from small closed sets only: the methods
the server registered, turn outcomes, model names the backend lists, tool
names of the catalog (any other name a model makes up counts as "unknown"),
store operations. Never ids, never text.

Nothing here is called per token: the domain reports token counts once per
model round (see chat.observing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

from prometheus_client import Counter, Gauge, Histogram

from mochi_grpc.chat.observing import ModelCall, ToolRun, TurnObservation
from mochi_grpc.chat.tool_calls import DENIED
from mochi_grpc.chat.turns import (
    BACKEND_FAILED,
    CANCELLED,
    COMPLETED,
    DEADLINE_EXCEEDED,
    REFUSED,
    SHUTDOWN,
)
from mochi_grpc.store import INTERRUPTED

# A first token comes in 50 ms from a warm small model and after a minute
# from a long prompt on a CPU; the buckets cover both ends.
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# A turn lasts from a refusal (milliseconds) to the maximum turn time (15 min).
TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0)
# gRPC calls: unary ones in milliseconds, a ChatStream as long as its turn.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# --- gRPC calls: the names and labels of the gRPC Prometheus middleware -------------

GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
GRPC_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", GRPC_LABELS)
GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, whatever their status.",
    (*GRPC_LABELS, "grpc_code"),
)
GRPC_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC on the server to its end (a stream: its last message).",
    GRPC_LABELS,
    buckets=CALL_BUCKETS,
)

# --- turns ---------------------------------------------------------------------------

# Every status a turn can end with (chat.turns, store.INTERRUPTED).
TURN_OUTCOMES = (
    COMPLETED,
    CANCELLED,
    DEADLINE_EXCEEDED,
    BACKEND_FAILED,
    SHUTDOWN,
    INTERRUPTED,
    REFUSED,
)
TURNS_STARTED = Counter("mochi_turns_started_total", "Turns accepted.")
TURNS_FINISHED = Counter(
    "mochi_turns_finished_total", "Turns ended, by how they ended.", ("outcome",)
)
TURNS_ACTIVE = Gauge("mochi_turns_active", "Turns running now.")
FIRST_TOKEN_SECONDS = Histogram(
    "mochi_time_to_first_token_seconds",
    "Time from a turn's acceptance to its first content or thinking delta.",
    buckets=FIRST_TOKEN_BUCKETS,
)
TOKENS_STREAMED = Counter(
    "mochi_tokens_streamed_total",
    "Deltas streamed from the model (one per token), by kind.",
    ("kind",),
)
TURN_SECONDS = Histogram(
    "mochi_turn_duration_seconds",
    "Time from a turn's acceptance to its end, stored, by how it ended.",
    ("outcome",),
    buckets=TURN_BUCKETS,
)

# --- the model backend ---------------------------------------------------------------

MODEL_REQUESTS = Counter(
    "mochi_model_requests_total",
    "Requests to the model backend (one per model round), by model and outcome.",
    ("model", "outcome"),
)
MODEL_REQUEST_SECONDS = Histogram(
    "mochi_model_request_duration_seconds",
    "Time of one model request, from sending it to its last chunk.",
    ("model",),
    buckets=TURN_BUCKETS,
)
MODEL_TOKENS = Counter(
    "mochi_model_tokens_total",
    "Tokens the backend reported for completed requests: the prompt it read, the reply it wrote.",
    ("model", "kind"),
)

# --- tools ---------------------------------------------------------------------------

TOOL_CALLS = Counter(
    "mochi_tool_calls_total",
    "Tool calls the model asked for, by tool and outcome.",
    ("tool", "outcome"),
)
TOOL_CALL_SECONDS = Histogram(
    "mochi_tool_call_duration_seconds",
    "Time a tool ran (denied calls do not run and are not timed).",
    ("tool",),
    buckets=TOOL_BUCKETS,
)
CONFIRMATIONS_PENDING = Gauge(
    "mochi_tool_confirmations_pending", "Tool calls waiting for a person's yes or no."
)

# --- the store -----------------------------------------------------------------------

STORE_SECONDS = Histogram(
    "mochi_store_operation_seconds",
    "Time of one store operation, by its name.",
    ("operation",),
    buckets=STORE_BUCKETS,
)

# Outcomes of a model request and extra ones of a tool call.
SUCCESS, ERROR = "success", "error"
UNKNOWN_TOOL = "unknown"

# Series of known label values exist from the start (at 0), so rates over
# them work before the first event.
for _outcome in TURN_OUTCOMES:
    TURNS_FINISHED.labels(_outcome)
_CONTENT = TOKENS_STREAMED.labels("content")
_THINKING = TOKENS_STREAMED.labels("thinking")


def _stopped(exc: BaseException) -> bool:
    """An exception that stops a block without anything having failed."""
    return isinstance(exc, asyncio.CancelledError | GeneratorExit)


class _TurnMetrics:
    """One turn's observation: series updated as the domain reports."""

    def __init__(self, known_tool: Callable[[str], bool]) -> None:
        self._known_tool = known_tool
        self.accepted = perf_counter()
        self.outcome = INTERRUPTED  # if the domain never says otherwise

    def first_token(self) -> None:
        FIRST_TOKEN_SECONDS.observe(perf_counter() - self.accepted)

    def tokens(self, content: int, thinking: int) -> None:
        if content:
            _CONTENT.inc(content)
        if thinking:
            _THINKING.inc(thinking)

    @contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        started = perf_counter()
        outcome = ERROR
        try:
            yield
            outcome = SUCCESS
            if call.prompt_tokens:
                MODEL_TOKENS.labels(call.model, "prompt").inc(call.prompt_tokens)
            if call.reply_tokens:
                MODEL_TOKENS.labels(call.model, "reply").inc(call.reply_tokens)
        except BaseException as exc:
            outcome = CANCELLED if _stopped(exc) else ERROR
            raise
        finally:
            MODEL_REQUESTS.labels(call.model, outcome).inc()
            MODEL_REQUEST_SECONDS.labels(call.model).observe(perf_counter() - started)

    @contextmanager
    def tool_run(self, run: ToolRun) -> Iterator[None]:
        tool = run.tool if self._known_tool(run.tool) else UNKNOWN_TOOL
        started = perf_counter()
        outcome = ERROR
        try:
            yield
            outcome = run.outcome
        except BaseException as exc:
            outcome = CANCELLED if _stopped(exc) else ERROR
            raise
        finally:
            TOOL_CALLS.labels(tool, outcome).inc()
            if run.outcome != DENIED:
                TOOL_CALL_SECONDS.labels(tool).observe(perf_counter() - started)

    @contextmanager
    def awaiting_confirmation(self) -> Iterator[None]:
        CONFIRMATIONS_PENDING.inc()
        try:
            yield
        finally:
            CONFIRMATIONS_PENDING.dec()

    def finished(self, outcome: str) -> None:
        self.outcome = outcome
        TURNS_FINISHED.labels(outcome).inc()


class MetricsObserver:
    """The domain's observer that keeps the turn, model and tool series.

    `known_tool` says whether a tool name is one of the catalog's: the model
    may call any name, and only known ones become label values."""

    def __init__(self, known_tool: Callable[[str], bool]) -> None:
        self._known_tool = known_tool

    @contextmanager
    def turn(self, session_id: str, turn_id: str, model: str) -> Iterator[TurnObservation]:
        observation = _TurnMetrics(self._known_tool)
        TURNS_STARTED.inc()
        TURNS_ACTIVE.inc()
        try:
            yield observation
        finally:
            TURNS_ACTIVE.dec()
            TURN_SECONDS.labels(observation.outcome).observe(perf_counter() - observation.accepted)
