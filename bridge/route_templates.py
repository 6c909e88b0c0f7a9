"""The template a request's route is known by (`/api/v1/sessions/{session_id}`),
never its path: the name of its span and its `http.route`, the route label of
its metrics. Templates are a small set, whatever paths clients send.

A path convertor is left out (`{model_name:path}` is `{model_name}`); a mount
of an app (not of routes) is its prefix and `/{path}`. A mount of routes is
no route itself: a request it takes but none of its routes does has no
template.

Two moments ask: before routing (the span is named when the request comes
in), matched as the router will match it; after routing, by the route the
router picked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

_CONVERTOR: Final = re.compile(r"\{(\w+):\w+\}")


def route_template(routes: Iterable[BaseRoute], scope: Scope, prefix: str = "") -> str | None:
    """The template of the route that will take the request, through mounts;
    None when none does. A route that takes the path but not the method
    still names it."""
    named: str | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        path = prefix + getattr(route, "path", "")
        if isinstance(route, Mount) and route.routes:
            return route_template(route.routes, {**scope, **child}, path)
        template = _spelled(route, path)
        if match is Match.FULL:
            return template
        named = named or template
    return named


def templates(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[BaseRoute, str]]:
    """Every route that answers requests, with its template."""
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            yield from templates(route.routes, prefix + route.path)
        elif isinstance(route, Mount | Route):
            yield route, _spelled(route, prefix + route.path)


def _spelled(route: BaseRoute, path: str) -> str:
    template = _CONVERTOR.sub(r"{\1}", path)
    return template + "/{path}" if isinstance(route, Mount) else template
