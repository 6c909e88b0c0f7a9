"""Stream one reply to the terminal: ``python -m mochi_client.example "Hello"``.

Creates a session for $MOCHI_MODEL on the server at $MOCHI_GRPC_TARGET
(default localhost:50051) and prints the reply on stdout as it arrives. Without
MOCHI_MODEL it uses the first chat model the server lists, and says which on
stderr; the session id goes to stderr too. A server that wants an API key
gets $MOCHI_API_KEY; $MOCHI_GRPC_TLS_CA_FILE makes the connection TLS, with
the client certificate $MOCHI_GRPC_TLS_CERT_FILE and its key
$MOCHI_GRPC_TLS_KEY_FILE when the server asks for one.
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


async def pick_model(client: MochiClient) -> str | None:
    """$MOCHI_MODEL, else the first chat model the server lists (None: none)."""
    chosen = os.environ.get("MOCHI_MODEL")
    if chosen:
        return chosen
    models = await client.list_models()
    if not models:
        print("error: the server lists no chat model; set MOCHI_MODEL", file=sys.stderr)
        return None
    print(f"model {models[0].name} (set MOCHI_MODEL to choose another)", file=sys.stderr)
    return models[0].name


async def run(prompt: str) -> int:
    """Create a session, stream the reply to ``prompt``; the exit status."""
    async with MochiClient() as client:
        model = await pick_model(client)
        if model is None:
            return 1
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
    try:
        return asyncio.run(run(" ".join(args.prompt)))
    except MochiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a bad setting: the target, the key, the TLS files
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
