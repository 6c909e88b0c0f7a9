"""Serve the fake Ollama until interrupted: ``python -m tests.fakes --port 11434``.

Lets anyone run the service end to end on a machine without Ollama or a GPU;
every chat is answered with the echo reply, except that a chat offering tools
whose last user message is `call NAME {"json": "arguments"}` gets that tool
call (also when a reply without tool calls came after that message, as an
agent's plan does, and when system messages follow it, as an agent's phase
prompts do), the answer after a tool's result tells the result, and a last
user message `fail` gets an error from the model after its first words.

So an agent can be seen at work by hand: enable `wordsmith` (count_words) in
a session and send `call agent {"agent": "wordsmith", "instruction": "call
count_words {\"text\": \"one two three\"}"}`.

A chat whose request carries a `format` (structured output, as summaries
ask for) is answered with JSON of a summary's shape, built from the
conversation the request quotes (its `User: ...` and `Assistant: ...`
lines): {"summary": "<a sentence or two about it>", "topics": [<a few of
the user's words>]}. When the conversation's last user message is exactly
`malformed summary`, the answer is text that is not JSON, every time, so a
summary's error can be seen by hand.
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
_SAID = re.compile(r"^(User|Assistant): (.*)$", re.MULTILINE)
MALFORMED_SUMMARY = "malformed summary"


def _quoted(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary_reply(body: dict[str, Any]) -> Reply:
    """A summary as JSON, made from the conversation quoted in the request's
    first user message that quotes one; not JSON when its last user message
    is `malformed summary`."""
    said: list[tuple[str, str]] = []
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            said = _SAID.findall(str(message.get("content")))
            if said:
                break
    users = [text for who, text in said if who == "User"]
    if users and users[-1].strip() == MALFORMED_SUMMARY:
        return Reply(content=["This ", "is ", "not ", "JSON."])
    summary = f"A conversation of {len(said)} messages."
    if users:
        summary += f' The user began with "{_quoted(users[0])}".'
    words = [w.lower() for text in users for w in re.findall(r"[A-Za-z]{5,}", text)]
    topics = list(dict.fromkeys(words))[:3] or ["conversation"]
    answer = json.dumps({"summary": summary, "topics": topics})
    return Reply(content=[answer[i : i + 16] for i in range(0, len(answer), 16)])


def tool_or_echo(body: dict[str, Any]) -> Reply:
    """A tool call when asked for one, the tool's result after it, an error
    when asked to fail, a summary when asked for structured output, else the
    echo."""
    if body.get("format") is not None:
        return summary_reply(body)
    # Instructions appended as system messages (an agent's phase prompts) do
    # not hide what was asked.
    messages = [m for m in body.get("messages") or [] if m.get("role") != "system"] or [{}]
    last = messages[-1]
    if last.get("role") == "tool":
        words = re.findall(r"\s*\S+|\s+", str(last.get("content")))
        return Reply(content=["The ", "tool ", "said: ", *words])
    if last.get("role") == "user" and last.get("content") == "fail":
        return Reply(content=["Starting", " to", " answer"], error_after=1)
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    # The request the user's words last led to: a new one, or (an agent
    # working after its plan) the next after a reply that called nothing.
    asked_by: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    asked = _CALL.fullmatch(str(asked_by.get("content"))) if last.get("role") != "tool" else None
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
