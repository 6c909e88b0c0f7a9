"""The Ollama backend, through the official `ollama` AsyncClient."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncGenerator, Awaitable, Mapping
from contextlib import aclosing
from typing import Any, TypeVar, cast

import aiohttp
import httpx
import ollama
from httpx_aiohttp import AiohttpTransport

from mochi_grpc.entities import ToolCall
from mochi_grpc.errors import BackendError, ModelNotFound, OllamaError, OllamaUnreachable
from mochi_grpc.llm.base import DEFAULT_CONTEXT_LENGTH, ChatChunk, ChatRequest, ModelInfo
from mochi_grpc.llm.model_names import find_listed

log = logging.getLogger(__name__)

T = TypeVar("T")

# No read timeout: a large prompt can take minutes before the first token.
# Callers bound a turn with their own deadline, which closes the request.
_TIMEOUT = httpx.Timeout(None, connect=10.0)

_UNREACHABLE = (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)
# What a request may raise: the client's errors, httpx's (the transport maps
# aiohttp's to them), and any of aiohttp's it leaves as they are.
_FAILURES = (ollama.ResponseError, httpx.HTTPError, aiohttp.ClientError, ConnectionError)

# How long an idle connection to Ollama stays open for the next request.
_KEEPALIVE_SECONDS = 60.0


def _translate(
    exc: BaseException, host: str, model: str | None = None
) -> BackendError | ModelNotFound:
    if isinstance(exc, _UNREACHABLE):
        return OllamaUnreachable(f"Cannot reach Ollama at {host}", details={"ollama_host": host})
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404 and model is not None:
            return ModelNotFound(model)
        return OllamaError(f"Ollama error: {exc.error}", details={"status_code": exc.status_code})
    return OllamaError(f"Ollama request failed: {exc!r}")


def _chunk(part: ollama.ChatResponse) -> ChatChunk:
    message = part.message
    calls = tuple(
        ToolCall(name=c.function.name, arguments=dict(c.function.arguments or {}))
        for c in message.tool_calls or ()
    )
    return ChatChunk(
        content=message.content or "",
        thinking=message.thinking or "",
        tool_calls=calls,
        done=bool(part.done),
        done_reason=part.done_reason,
        eval_count=part.eval_count,
        prompt_eval_count=part.prompt_eval_count,
    )


def _context_length(info: Mapping[str, Any], family: str) -> int:
    architecture = info.get("general.architecture") or family
    for key in (f"{architecture}.context_length", f"{family}.context_length", "context_length"):
        value = info.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT_LENGTH


class OllamaBackend:
    """LLMBackend over Ollama's HTTP API."""

    name = "ollama"

    def __init__(self, host: str, *, max_connections: int = 256) -> None:
        self.host = host
        # The official client, its HTTP carried by aiohttp (httpx-aiohttp):
        # a request costs a third of the CPU httpx's own transport takes, so
        # a burst of turns reaches Ollama sooner. One connection per running
        # turn (a turn must never wait in a pool behind others: Ollama queues
        # what it cannot run); idle ones are kept a minute, so the next burst
        # finds them open.
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=_KEEPALIVE_SECONDS,
        )
        # Made once: making a TLS context loads the CA bundle.
        transport = AiohttpTransport(verify=ssl.create_default_context(), limits=limits)
        self._client = ollama.AsyncClient(host=host, timeout=_TIMEOUT, transport=transport)

    async def _call(self, call: Awaitable[T], model: str | None = None) -> T:
        try:
            return await call
        except _FAILURES as exc:
            raise _translate(exc, self.host, model) from exc

    async def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        try:
            stream = await self._client.chat(
                model=request.model,
                messages=request.messages,
                tools=request.tools,
                format=request.format,
                stream=True,
                think=True if request.think else None,
                options=request.options,
            )
            # The client returns an async generator; closing it closes the request.
            async with aclosing(cast(AsyncGenerator[ollama.ChatResponse, None], stream)):
                async for part in stream:
                    yield _chunk(part)
        except _FAILURES as exc:
            raise _translate(exc, self.host, request.model) from exc

    async def _describe(self, entry: ollama.ListResponse.Model) -> ModelInfo:
        name = entry.model or ""
        shown = await self._call(self._client.show(name), name)
        details = shown.details or entry.details
        family = (details.family if details else None) or "unknown"
        return ModelInfo(
            name=name,
            size_bytes=int(entry.size or 0),
            format=(details.format if details else None) or "unknown",
            family=family,
            parameter_size=(details.parameter_size if details else None) or "unknown",
            quantization_level=(details.quantization_level if details else None) or "unknown",
            capabilities=list(shown.capabilities or ["completion"]),
            context_length=_context_length(shown.modelinfo or {}, family),
        )

    async def _entries(self) -> list[ollama.ListResponse.Model]:
        listed = await self._call(self._client.list())
        return list(listed.models)

    async def list_models(self) -> list[ModelInfo]:
        entries = await self._entries()
        results = await asyncio.gather(
            *(self._describe(e) for e in entries), return_exceptions=True
        )
        models: list[ModelInfo] = []
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("skipping model %s: %s", entry.model, result)
                continue
            if "completion" in result.capabilities:
                models.append(result)
        return models

    async def get_model(self, name: str) -> ModelInfo:
        """The listed model `name` stands for under Ollama's name rules
        (`llama3.2` is `llama3.2:latest`); its info carries the listed name."""
        entries = {entry.model or "": entry for entry in await self._entries()}
        listed = find_listed(name, entries)
        if listed is None:
            raise ModelNotFound(name)
        return await self._describe(entries[listed])

    async def is_connected(self) -> bool:
        try:
            await self._client.list()
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]
