"""What the bridge records of every HTTP request, in one pass around it.

The request gets its id (see request_ids): kept in its scope for the routes,
sent back as `X-Request-Id` on the response's head, and on the log lines
written while it is handled (see logs). When its response has ended, it is
counted with the status that response's head carried (see metrics); a
request whose handling failed before answering counts as the 500 the error
handler sends, one cancelled before any answer (the bridge shutting down)
is not counted. The route is the template of the route the router picked
(see route_templates), so that label stays a small set.

A plain ASGI middleware, not Starlette's BaseHTTPMiddleware (which runs the
app in a task of its own and passes the body through a memory stream): each
event of a stream passes here through one small function that only looks at
the message's type.
"""

from __future__ import annotations

import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge import logs, request_ids
from bridge.metrics import UNMATCHED, BridgeMetrics
from bridge.route_templates import templates

_HEADER: Final = request_ids.HEADER.lower().encode("latin-1")


class ObservedRequests:
    def __init__(self, app: ASGIApp, metrics: BridgeMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # id(route) -> its template; read from the app on the first request,
        # when every route is in place.
        self._templates: dict[int, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_ids.accepted(_header(scope, _HEADER))
        request_ids.give(scope, request_id)
        header = (_HEADER, request_id.encode("ascii"))
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = time.perf_counter()
        try:
            with logs.about(scope):
                await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette's outermost handler answers it with a 500.
            status = 500 if status is None else status
            raise
        finally:
            if status is not None:
                self.metrics.request_answered(
                    scope["method"], self._route(scope), status, time.perf_counter() - started
                )

    def _route(self, scope: Scope) -> str:
        """The template of the route that took the request, or UNMATCHED."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if self._templates is None:
            routes = scope["app"].routes
            self._templates = {id(route): template for route, template in templates(routes)}
        return self._templates.get(id(route), UNMATCHED)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
