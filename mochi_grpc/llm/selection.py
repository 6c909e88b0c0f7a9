"""Choosing the model backend at start-up (MOCHI_BACKEND)."""

from __future__ import annotations

import logging

from mochi_grpc.config import Settings
from mochi_grpc.llm.base import LLMBackend
from mochi_grpc.llm.embedded import EmbeddedBackend, EmbeddedModelError
from mochi_grpc.llm.ollama import OllamaBackend

log = logging.getLogger(__name__)


async def _embedded(settings: Settings) -> LLMBackend:

    backend: LLMBackend = await EmbeddedBackend.open(threads=settings.embedded_threads)
    return backend


async def select_backend(settings: Settings) -> LLMBackend:
    """`ollama` and `embedded` are taken as asked; `auto` uses Ollama when it
    answers now, else the embedded model when it is installed, else Ollama
    (which may come up later)."""
    ollama = OllamaBackend(settings.ollama_host, max_connections=settings.max_concurrent_turns + 16)
    if settings.backend == "ollama":
        return ollama
    if settings.backend == "auto" and await ollama.is_connected():
        log.info("Ollama answers at %s: serving its models", settings.ollama_host)
        return ollama
    try:
        backend = await _embedded(settings)
    except EmbeddedModelError as exc:
        if settings.backend == "embedded":
            raise
        log.warning("no Ollama at %s and no embedded model (%s)", settings.ollama_host, exc)
        return ollama
    await ollama.close()
    log.info("serving the embedded model (no Ollama at %s)", settings.ollama_host)
    return backend
