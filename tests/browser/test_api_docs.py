"""The interactive API docs work in a browser with no internet.

/docs leads to the Swagger UI page, which renders every operation of the
OpenAPI document and runs "Try it out" against the bridge, loading nothing
from any other host and logging no error (a violation of the page's
Content-Security-Policy would be one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import ConsoleMessage, Page, Request, expect

from bridge.openapi import document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _rendered_operations() -> int:
    """How many operation blocks Swagger UI shows: one per operation and tag."""
    return sum(
        len(operation.get("tags") or ["default"])
        for item in document()["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    )


class PageRecord:
    """The requests a page made and the errors it reported."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._on_request)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _on_request(self, request: Request) -> None:
        self.urls.append(request.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def hosts(self) -> set[str]:
        """Every host the page asked for something (data: URLs are no request)."""
        return {urlsplit(url).netloc for url in self.urls if not url.startswith("data:")}


async def test_docs_page_runs_try_it_out_on_health_from_the_bridge_alone(
    page: Page, bridge_url: str, tmp_path: Path
) -> None:
    record = PageRecord(page)

    response = await page.goto(bridge_url + "/docs")
    assert response is not None
    assert page.url == bridge_url + "/api/v1/docs"
    headers = await response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"

    await expect(page.locator(".opblock")).to_have_count(_rendered_operations())
    # Swagger UI's id for an operation: operations-{tag}-{operationId}.
    health = page.locator("#operations-health-getHealth")
    await health.locator(".opblock-summary-control").click()
    await health.get_by_role("button", name="Try it out").click()
    await health.get_by_role("button", name="Execute").click()

    live = health.locator(".live-responses-table")
    await expect(live.locator("tbody .response-col_status")).to_have_text("200")
    shown: Any = json.loads(await live.locator("tbody .highlight-code pre").inner_text())
    async with httpx.AsyncClient() as http:
        expected = (await http.get(bridge_url + "/api/v1/health")).json()
    assert shown == expected
    await page.screenshot(path=tmp_path / "docs.png", full_page=True)

    assert record.hosts() == {urlsplit(bridge_url).netloc}
    assert record.errors == []


async def test_docs_serve_only_the_files_the_page_loads(bridge_url: str) -> None:
    async with httpx.AsyncClient(base_url=bridge_url + "/api/v1/docs/assets") as http:
        for name in ("swagger-ui-bundle.js", "docs.js"):
            script = await http.get("/" + name)
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
            assert script.headers["x-content-type-options"] == "nosniff"
        # Swagger UI's sample page, which would load its petstore from the internet.
        for name in ("index.html", "swagger-initializer.js"):
            assert (await http.get("/" + name)).status_code == 404
