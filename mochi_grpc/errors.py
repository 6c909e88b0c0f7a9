"""The errors the service reports, each with its machine-readable code.

Transport layers map these classes to gRPC status codes (and the bridge maps
those to HTTP); nothing else needs to know the wire form.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MochiError(Exception):
    """Base of every error a client is meant to see."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    # Seconds after which the same request may succeed; None when waiting
    # alone will not help. Sent as google.rpc.RetryInfo (HTTP Retry-After).
    retry_after_seconds: float | None = None

    def __init__(
        self, message: str, *, details: dict[str, Any] | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # Strings only: they travel as google.rpc.ErrorInfo metadata.
        self.details: dict[str, str] = {k: str(v) for k, v in (details or {}).items()}
        self.field = field


class NotFound(MochiError):
    """Something named by the request does not exist."""


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} not found", details={"session_id": session_id})


class ModelNotFound(NotFound):
    code = "MODEL_NOT_FOUND"

    def __init__(self, model: str) -> None:
        super().__init__(f"Model '{model}' not found", details={"model": model}, field="model")


class PromptNotFound(NotFound):
    code = "PROMPT_NOT_FOUND"


class NoSystemPrompt(NotFound):
    code = "NO_SYSTEM_PROMPT"


class ConfirmationNotFound(NotFound):
    code = "CONFIRMATION_NOT_FOUND"


class ToolNotFound(NotFound):
    code = "TOOL_NOT_FOUND"


class TurnNotFound(NotFound):
    code = "TURN_NOT_FOUND"


class AgentNotFound(NotFound):
    code = "AGENT_NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"Agent '{name}' not found", details={"agent_name": name})


class SummaryNotFound(NotFound):
    code = "SUMMARY_NOT_FOUND"


class InvalidRequest(MochiError):
    """The request itself is wrong; sending it again will not help."""

    code = "VALIDATION_ERROR"


class InvalidMessageIndex(InvalidRequest):
    code = "INVALID_MESSAGE_INDEX"


class EmptyHistory(InvalidRequest):
    code = "EMPTY_HISTORY"


class ConfirmationRequiresStreaming(InvalidRequest):
    code = "CONFIRMATION_REQUIRES_STREAMING"


class Conflict(MochiError):
    """The request clashes with the current state."""


class SessionBusy(Conflict):
    code = "SESSION_BUSY"

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"Session {session_id} is answering another turn; try again when it is done",
            details={"session_id": session_id},
        )


class PromptExists(Conflict):
    code = "PROMPT_EXISTS"


class KeyExists(Conflict):
    code = "KEY_EXISTS"


class AgentInvalid(Conflict):
    """The agent exists but cannot run (its SKILL.md or its tools are wrong)."""

    code = "AGENT_INVALID"


class AgentsUnsupported(Conflict):
    """The session's model cannot call tools, so it cannot delegate to agents."""

    code = "AGENTS_UNSUPPORTED"


class Unauthenticated(MochiError):
    """No valid API key came with a request that needs one."""

    code = "UNAUTHENTICATED"


class PermissionDenied(MochiError):
    """The key is valid but may not do this (an admin key may)."""

    code = "PERMISSION_DENIED"


class BackendError(MochiError):
    """The model backend failed."""


class OllamaUnreachable(BackendError):
    code = "OLLAMA_UNREACHABLE"


class OllamaError(BackendError):
    code = "OLLAMA_ERROR"


class SummaryInvalid(BackendError):
    """The model's answer did not fit the summary's schema, twice."""

    code = "SUMMARY_INVALID"


class TurnStopped(MochiError):
    """A turn ended before its reply was whole (cancelled, a deadline, a
    shutdown, a server that died); what it produced is stored. Reported to
    those still watching the turn."""

    code = "TURN_STOPPED"


class Overloaded(MochiError):
    """Refused for load (too many turns at once, a server shutting down, a
    model with a full queue): the same request may succeed after
    `retry_after_seconds`, which the place that refuses chooses. The delay is
    also in the details, for clients that only see an error event."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: float = 1.0,
        details: dict[str, Any] | None = None,
    ) -> None:
        if retry_after_seconds <= 0:
            raise ValueError("retry_after_seconds must be positive")
        super().__init__(
            message,
            details={**(details or {}), "retry_after_seconds": f"{retry_after_seconds:g}"},
        )
        self.retry_after_seconds = retry_after_seconds


class RateLimited(Overloaded):
    """This key started as many turns as the rate limit allows for now."""

    code = "RATE_LIMITED"


_RECORDED: dict[str, type[MochiError]] = {}


def recorded_error(code: str, message: str, details: dict[str, str]) -> MochiError:
    """An error read back from a turn's stored events: its class is gone, its
    code, message and details are what a client sees again."""
    cls = _RECORDED.get(code)
    if cls is None:
        cls = _RECORDED[code] = type(f"Recorded{code.title()}", (MochiError,), {"code": code})
    return cls(message, details=details)
