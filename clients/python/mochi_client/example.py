"""Stream one reply to the terminal: ``python -m mochi_client.example "Hello"``.

Creates a session for $MOCHI_MODEL (default llama3.2:latest) on the server at
$MOCHI_GRPC_TARGET (default localhost:50051) and prints the reply on stdout as
it arrives; the session id goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from mochi_client import (
    ContentDelta,
    MessageComplete,
    MochiClient,
    MochiError,
    StreamError,
    ToolCallConfirmationRequired,
)

DEFAULT_MODEL = "llama3.2:latest"


async def run(prompt: str, model: str) -> int:
    """Create a session, stream the reply to ``prompt``; the exit status."""
    async with MochiClient() as client:
        session = await client.create_session(model)
        print(f"session {session.session_id} on {client.target}", file=sys.stderr)
        async with client.chat_stream(session.session_id, prompt) as events:
            async for event in events:
                match event:
                    case ContentDelta(content=text):
                        print(text, end="", flush=True)
                    case MessageComplete():
                        print()
                    case ToolCallConfirmationRequired(tool_name=name, confirmation_id=cid):
                        print(f"\n[denying tool call {name}]", file=sys.stderr)
                        await client.confirm_tool_call(session.session_id, cid, approved=False)
                    case StreamError(code=code, message=message):
                        print(f"\nerror: {code}: {message}", file=sys.stderr)
                        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mochi_client.example", description=__doc__)
    parser.add_argument("prompt", nargs="+", help="the message to send")
    args = parser.parse_args(argv)
    model = os.environ.get("MOCHI_MODEL") or DEFAULT_MODEL
    try:
        return asyncio.run(run(" ".join(args.prompt), model))
    except MochiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
