"""GET /: the chat page, and its files under /web/.

The page is static: bridge/web/index.html, our ES modules and stylesheet
beside it, and the two npm libraries it renders replies with (marked and
DOMPurify), which `make web` copies into bridge/web/vendor/. It talks to the
public HTTP API under /api/v1 like any other client; the bridge knows nothing
of it beyond serving its files.

Model output is untrusted, so replies are rendered through a sanitiser; the
Content-Security-Policy is the second line: scripts, styles and requests from
this origin only, no inline script, no eval, nothing framed.

A page for people, not an API operation: the OpenAPI document does not list it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import PurePosixPath
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from bridge.routes.page_headers import PAGE_HEADERS

# What the page loads; nothing else of the folder (package.json, node_modules)
# is served.
ASSET_SUFFIXES: Final = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
# What `make web` puts in vendor/.
LIBRARIES: Final = ("vendor/marked.esm.js", "vendor/purify.es.mjs")

NOT_BUILT: Final = (
    "The chat page's libraries are not built: run `make web` (or `make run`) "
    "in the mochi-grpc checkout.\n"
)


class WebAssets(StaticFiles):
    """The page's scripts and stylesheet, with the page's headers."""

    def __init__(self) -> None:
        super().__init__(packages=[("bridge", "web")])

    async def get_response(self, path: str, scope: Scope) -> Response:
        parts = PurePosixPath(path)
        media_type = ASSET_SUFFIXES.get(parts.suffix)
        if media_type is None or "node_modules" in parts.parts:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        response.headers["Content-Type"] = media_type
        # Revalidated each time (ETag), so a rebuilt page is never stale.
        response.headers["Cache-Control"] = "no-cache"
        return response


async def page(request: Request) -> Response:
    web = files("bridge") / "web"
    if not all((web / library).is_file() for library in LIBRARIES):
        return PlainTextResponse(NOT_BUILT, status_code=503, headers=PAGE_HEADERS)
    return HTMLResponse(
        (web / "index.html").read_text(encoding="utf-8"),
        headers={**PAGE_HEADERS, "Cache-Control": "no-cache"},
    )


routes: list[BaseRoute] = [
    Route("/", page, methods=["GET"], name="chat_page", include_in_schema=False),
    Mount("/web", app=WebAssets(), name="web"),
]
