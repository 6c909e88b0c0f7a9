"""GET /api/v1/docs: the OpenAPI document as an interactive page (Swagger UI).

Everything the page loads comes from the bridge itself, so it works on a
machine with no internet: Swagger UI's files from the pinned
swagger-ui-bundle-v2 package, and our start-up script (bridge/static/docs.js)
from this package. The page has no inline script; its Content-Security-Policy
allows scripts, styles and requests from this origin only, so "Try it out"
reaches this API and nothing else. GET /docs redirects here, where users of
FastAPI services look first.

These are pages for people, not API operations: the OpenAPI document does not
list them.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from bridge.routes.page_headers import PAGE_HEADERS

# The files the page loads (and the stylesheet's source map, which only
# browser developer tools ask for); nothing else of either folder is served.
ASSETS: Final = frozenset(
    {"swagger-ui.css", "swagger-ui.css.map", "swagger-ui-bundle.js", "favicon-32x32.png", "docs.js"}
)

PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mochi-grpc HTTP API</title>
<link rel="icon" type="image/png" href="{favicon}">
<link rel="stylesheet" href="{stylesheet}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
"""


class DocsAssets(StaticFiles):
    """Swagger UI's files and ours, limited to ASSETS, with the page's headers."""

    def __init__(self) -> None:
        super().__init__(directory=Path(str(swagger_ui_path)), packages=[("bridge", "static")])

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in ASSETS:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        return response


def _asset(request: Request, name: str) -> str:
    return escape(request.url_for("docs_assets", path=name).path)


async def docs(request: Request) -> HTMLResponse:
    page = PAGE.format(
        favicon=_asset(request, "favicon-32x32.png"),
        stylesheet=_asset(request, "swagger-ui.css"),
        bundle=_asset(request, "swagger-ui-bundle.js"),
        start=_asset(request, "docs.js"),
        openapi=escape(request.url_for("openapi").path),
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


async def to_docs(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("docs").path)


# Under the API prefix, beside the document they show.
routes: list[BaseRoute] = [
    Route("/docs", docs, methods=["GET"], name="docs", include_in_schema=False),
    Mount("/docs/assets", app=DocsAssets(), name="docs_assets"),
]

# At the root of the site.
shortcuts: list[BaseRoute] = [
    Route("/docs", to_docs, methods=["GET"], name="to_docs", include_in_schema=False),
]
