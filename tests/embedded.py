"""Serving an ASGI app with a real uvicorn inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, Final, Literal

import uvicorn
from starlette.types import ASGIApp

# How long shutdown lets in-flight handlers finish before cancelling them.
SHUTDOWN_GRACE_S: Final = 2.0
# How long stop() waits for uvicorn before cancelling it outright.
STOP_TIMEOUT_S: Final = 5.0


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server living inside the caller's event loop.

    It leaves signal handling to the host (pytest, asyncio.run), reports
    readiness through an event, and leaves its main loop as soon as asked
    instead of polling every 100 ms.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.exit_requested = asyncio.Event()
        self.url = ""
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["on", "off"] = "off",
    ) -> EmbeddedServer:
        """Bind and serve; return once connections are accepted."""
        server = cls(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                http="h11",
                ws="none",
                lifespan=lifespan,
                log_config=None,
                log_level="warning",
                access_log=False,
                server_header=False,
            )
        )
        task = asyncio.create_task(server._serve_in_loop(), name=f"uvicorn:{host}:{port}")
        ready = asyncio.ensure_future(server.ready.wait())
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            ready.cancel()
        if not server.ready.is_set():
            task.result()  # raises the startup error
            raise RuntimeError("uvicorn exited during startup")
        server._task = task
        bound = int(server.servers[0].sockets[0].getsockname()[1])
        server.url = f"http://{host}:{bound}"
        return server

    async def stop(self) -> None:
        """Shut down promptly even with requests hanging; safe to call twice."""
        task, self._task = self._task, None
        if task is None:
            return
        self.should_exit = True
        self.exit_requested.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve_in_loop(self) -> None:
        """Run uvicorn, turning its SystemExit on bind failure into an ordinary error.

        A SystemExit escaping a task would tear down the whole event loop.
        """
        try:
            await self.serve()
        except SystemExit as exc:
            raise RuntimeError(f"uvicorn could not start (exit code {exc.code})") from None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        """uvicorn's shutdown without its fixed 100 ms grace sleep: waiting for
        the in-flight handlers themselves is enough."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        pending = set(self.server_state.tasks)
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        for server in self.servers:
            await server.wait_closed()
        if self.config.lifespan != "off" and not self.force_exit:
            await self.lifespan.shutdown()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default headers (date) once
        await self.exit_requested.wait()
