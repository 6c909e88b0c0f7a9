"""Serve the fake Ollama until interrupted: ``python -m tests.fakes --port 11434``.

Lets anyone run the service end to end on a machine without Ollama or a GPU;
every chat is answered with the echo reply, except that a chat offering tools
whose last user message is `call NAME {"json": "arguments"}` gets that tool
call, the answer after a tool's result tells the result, and a last user
message `fail` gets an error from the model after its first words.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import signal
import time
from typing import Any

from tests.fakes.fake_ollama import (
    DEFAULT_MODEL,
    FakeModel,
    FakeOllama,
    RecordedChat,
    Reply,
    echo_reply,
)

_CALL = re.compile(r"call (\w+)\s*(\{.*\})?\s*", re.DOTALL)


def tool_or_echo(body: dict[str, Any]) -> Reply:
    """A tool call when asked for one, the tool's result after it, an error
    when asked to fail, else the echo."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    if last.get("role") == "tool":
        words = re.findall(r"\s*\S+|\s+", str(last.get("content")))
        return Reply(content=["The ", "tool ", "said: ", *words])
    if last.get("role") == "user" and last.get("content") == "fail":
        return Reply(content=["Starting", " to", " answer"], error_after=1)
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    asked = _CALL.fullmatch(str(last.get("content"))) if last.get("role") == "user" else None
    if asked is not None and asked.group(1) in offered:
        try:
            arguments = json.loads(asked.group(2) or "{}")
        except ValueError:
            arguments = {}
        return Reply(tool_calls=[{"name": asked.group(1), "arguments": arguments}])
    return echo_reply(body)


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line: where to listen and how fast to stream."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=11434, help="port to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=0.05,
        help="seconds between streamed chunks, to make streaming visible (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help=f"a model it has, as Ollama lists it (repeatable; default: {DEFAULT_MODEL.name})",
    )
    parser.add_argument(
        "--show-requests",
        action="store_true",
        help="print what each chat request asks for (messages, options, tools),"
        " and how it ended: written to its end, or the caller hung up",
    )
    return parser.parse_args(argv)


async def _serve(
    host: str, port: int, chunk_delay: float, show_requests: bool, models: list[str] | None
) -> None:
    """Run until Ctrl-C (asyncio.run cancels this task) or SIGTERM, then shut down cleanly."""

    def slow_echo(body: dict[str, Any]) -> Reply:
        if show_requests:
            shown = {k: body.get(k) for k in ("model", "messages", "options", "tools")}
            print(json.dumps(shown, ensure_ascii=False), flush=True)
        return dataclasses.replace(tool_or_echo(body), chunk_delay=chunk_delay)

    fake = FakeOllama(
        None if models is None else [FakeModel(name) for name in models], host=host, port=port
    )
    fake.default_reply = slow_echo
    async with fake:
        print(f"fake Ollama listening on {fake.url} (Ctrl-C to stop)", flush=True)
        if not show_requests:
            await _until_terminated()
            return
        endings = asyncio.create_task(_show_endings(fake))
        try:
            await _until_terminated()
        finally:
            endings.cancel()


async def _show_endings(fake: FakeOllama) -> None:
    """Prints, for each chat request, how it ended and when."""
    watchers: set[asyncio.Task[None]] = set()

    async def watch(number: int, rec: RecordedChat, started: float) -> None:
        await fake.wait_for_end(rec)
        seconds = time.monotonic() - started
        how = (
            "ran to its end"
            if rec.completed
            else "stopped: the caller hung up"
            if rec.disconnected.is_set()
            else "stopped"
        )
        print(
            f"request {number}: {how} after {rec.chunks_sent} lines, {seconds:.2f} s",
            flush=True,
        )

    number = 0
    while True:
        number += 1
        rec = await fake.wait_for_request(number)
        task = asyncio.create_task(watch(number, rec, time.monotonic()))
        watchers.add(task)
        task.add_done_callback(watchers.discard)


async def _until_terminated() -> None:
    """Block until SIGTERM (where the platform lets us listen for it) or cancellation."""
    terminated = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, terminated.set)
    try:
        await terminated.wait()
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    """Entry point for ``python -m tests.fakes``."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_serve(args.host, args.port, args.chunk_delay, args.show_requests, args.model))
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:  # e.g. the port is taken; uvicorn has logged why
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
