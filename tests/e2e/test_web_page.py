"""The chat page at / is served with a strict Content-Security-Policy, with
every module it imports, and nothing else of its folder.

What the page does in a browser is tested in tests/browser.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

# `import ... from "./x.js"` and `import "./x.js"` in our modules and the libraries.
_IMPORT = re.compile(r"""(?:^|[;\s])(?:import|export)\s[^"';]*?from\s*["'](\.[^"']+)["']""")


@pytest.fixture
async def site(bridge_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge_url, timeout=10) as client:
        yield client


class _Markup(HTMLParser):
    """The page's scripts, and any inline script or style it would carry."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        inline = [name for name in names if name.startswith("on") or name == "style"]
        self.inline += [f"{tag} {name}" for name in inline]
        if tag == "script":
            self._in_script = True
            self.scripts.append(names.get("src") or "")
        if tag == "style":
            self.inline.append("style element")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


def _page(response: httpx.Response) -> _Markup:
    assert response.status_code == 200, (
        f"{response.status_code}: {response.text} (`make web` builds the page's libraries)"
    )
    markup = _Markup()
    markup.feed(response.text)
    return markup


async def test_the_page_forbids_inline_script_eval_and_other_origins(
    site: httpx.AsyncClient,
) -> None:
    response = await site.get("/")
    markup = _page(response)

    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert markup.inline == []
    assert markup.scripts == ["web/app.js"]


async def test_every_module_the_page_imports_is_served_as_javascript(
    site: httpx.AsyncClient,
) -> None:
    seen: set[str] = set()
    waiting = ["/web/app.js"]
    while waiting:
        path = waiting.pop()
        seen.add(path)
        response = await site.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/javascript", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        folder = path.rsplit("/", 1)[0]
        for target in _IMPORT.findall(response.text):
            resolved = httpx.URL(f"http://page{folder}/").join(target).path
            if resolved not in seen:
                waiting.append(resolved)

    assert {"/web/vendor/marked.esm.js", "/web/vendor/purify.es.mjs"} <= seen
    stylesheet = await site.get("/web/app.css")
    assert stylesheet.headers["content-type"] == "text/css"


@pytest.mark.parametrize(
    "path",
    [
        "/web/package.json",
        "/web/package-lock.json",
        "/web/index.html",
        "/web/node_modules/marked/package.json",
        "/web/node_modules/marked/lib/marked.esm.js",
        "/web/../routes/web.py",
    ],
)
async def test_nothing_else_of_the_page_folder_is_served(
    site: httpx.AsyncClient, path: str
) -> None:
    response = await site.get(path)

    assert response.status_code == 404
