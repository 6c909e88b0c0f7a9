"""`/metrics` over HTTP, on the server's host and a port of its own.

prometheus_client's own exposition server answers scrapes on a thread of
its own, so a scrape never waits for the event loop (nor the loop for it).
It is plain HTTP: the series carry counts and names, no ids or text.
"""

from __future__ import annotations

import asyncio
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server


class MetricsEndpoint:
    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @classmethod
    def start(cls, host: str, port: int) -> MetricsEndpoint:
        """Serving before this returns; raises OSError when the port is taken."""
        server, thread = start_http_server(port, addr=host)
        return cls(server, thread)

    @property
    def port(self) -> int:
        return self._server.server_port

    async def stop(self) -> None:
        """Stops answering and frees the port (its loop notices within half a second)."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
