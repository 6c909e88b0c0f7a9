"""What the domain needs from a model backend."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from mochi_grpc.entities import ToolCall

DEFAULT_CONTEXT_LENGTH = 2048


@dataclass(frozen=True)
class ChatChunk:
    """One piece of a streamed reply."""

    content: str = ""
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    done: bool = False
    done_reason: str | None = None
    eval_count: int | None = None
    prompt_eval_count: int | None = None


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    think: bool = False
    options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    # Structured output: a JSON schema the reply's content must fit.
    format: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    size_bytes: int = 0
    format: str = "unknown"
    family: str = "unknown"
    parameter_size: str = "unknown"
    quantization_level: str = "unknown"
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    context_length: int = DEFAULT_CONTEXT_LENGTH


class LLMBackend(Protocol):
    """A source of streamed chat replies and model facts.

    Failures are raised as OllamaUnreachable, OllamaError or ModelNotFound.
    """

    name: str
    host: str

    def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """Streams the reply. Closing the iterator early closes the request at
        once, so the model stops generating."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def get_model(self, name: str) -> ModelInfo:
        """Lookup by Ollama's name rules (llm.model_names); the info carries the
        name as listed. Raises ModelNotFound."""
        ...

    async def is_connected(self) -> bool: ...

    async def close(self) -> None: ...
