"""What the domain tells about its work, for metrics and traces.

The domain calls these few named points; what they record (Prometheus
series, OpenTelemetry spans) is the telemetry package's business, wired in
by the server. Nothing here is called per token: token counts come once per
model round.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass
class ModelCall:
    """One request to the model backend, filled in as it goes."""

    model: str
    prompt_tokens: int = 0
    reply_tokens: int = 0


@dataclass
class ToolRun:
    """One tool call; `outcome` is success, error or denied once it ends."""

    tool: str
    outcome: str = "success"


class TurnObservation(Protocol):
    """One accepted turn."""

    def first_token(self) -> None:
        """The first delta (content or thinking) of the turn is out."""
        ...

    def tokens(self, content: int, thinking: int) -> None:
        """Streamed chunks of a model round, counted when the round ends."""
        ...

    def model_call(self, call: ModelCall) -> AbstractContextManager[None]:
        """The block of one model request (an exception leaving it says how
        it ended: a MochiError the backend failed, CancelledError stopped)."""
        ...

    def tool_run(self, run: ToolRun) -> AbstractContextManager[None]:
        """The block of one tool call (its outcome set before it ends)."""
        ...

    def awaiting_confirmation(self) -> AbstractContextManager[None]:
        """The block during which the turn waits for a person's answer."""
        ...

    def finished(self, outcome: str) -> None:
        """How the turn ended (its status: completed, cancelled, ...)."""
        ...


class TurnObserver(Protocol):
    def turn(
        self, session_id: str, turn_id: str, model: str
    ) -> AbstractContextManager[TurnObservation]:
        """The block that runs an accepted turn, to its end."""
        ...


class _Unobserved:
    def first_token(self) -> None:
        pass

    def tokens(self, content: int, thinking: int) -> None:
        pass

    @contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        yield

    @contextmanager
    def tool_run(self, run: ToolRun) -> Iterator[None]:
        yield

    @contextmanager
    def awaiting_confirmation(self) -> Iterator[None]:
        yield

    def finished(self, outcome: str) -> None:
        pass


UNOBSERVED: TurnObservation = _Unobserved()


class NoObserver:
    """Observes nothing (the default)."""

    @contextmanager
    def turn(self, session_id: str, turn_id: str, model: str) -> Iterator[TurnObservation]:
        yield UNOBSERVED


class _Both:
    """Tells every observation of a turn the same."""

    def __init__(self, observations: list[TurnObservation]) -> None:
        self._all = observations

    def first_token(self) -> None:
        for observation in self._all:
            observation.first_token()

    def tokens(self, content: int, thinking: int) -> None:
        for observation in self._all:
            observation.tokens(content, thinking)

    @contextmanager
    def model_call(self, call: ModelCall) -> Iterator[None]:
        with ExitStack() as stack:
            for observation in self._all:
                stack.enter_context(observation.model_call(call))
            yield

    @contextmanager
    def tool_run(self, run: ToolRun) -> Iterator[None]:
        with ExitStack() as stack:
            for observation in self._all:
                stack.enter_context(observation.tool_run(run))
            yield

    @contextmanager
    def awaiting_confirmation(self) -> Iterator[None]:
        with ExitStack() as stack:
            for observation in self._all:
                stack.enter_context(observation.awaiting_confirmation())
            yield

    def finished(self, outcome: str) -> None:
        for observation in self._all:
            observation.finished(outcome)


class Observers:
    """Several observers as one (metrics and traces)."""

    def __init__(self, *observers: TurnObserver) -> None:
        self._observers = observers

    @contextmanager
    def turn(self, session_id: str, turn_id: str, model: str) -> Iterator[TurnObservation]:
        with ExitStack() as stack:
            observations = [
                stack.enter_context(o.turn(session_id, turn_id, model)) for o in self._observers
            ]
            yield _Both(observations)
