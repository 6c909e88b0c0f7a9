"""A TCP proxy to the server whose connections can be cut, for the clients'
resume tests.

    python clients/drop_proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT

Forwards every connection to the target. On SIGUSR1 it aborts every
connection open at that moment (both sides see a reset, as when a network
drops), and goes on accepting new ones, so a client can reconnect.
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen_port: int, target: str) -> None:
    host, port = target.rsplit(":", 1)
    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        server_reader, server = await asyncio.open_connection(host, int(port))
        pair = {client, server}
        open_writers.update(pair)
        try:
            await asyncio.gather(_pipe(client_reader, server), _pipe(server_reader, client))
        finally:
            open_writers.difference_update(pair)

    def drop() -> None:
        for writer in list(open_writers):
            writer.transport.abort()
        open_writers.clear()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, drop)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
