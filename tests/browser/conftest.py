"""A real headless Chromium (Debian's, installed by `make browser`) driven by
Playwright, in front of the bridge on a real uvicorn, the real gRPC server
and the fake Ollama."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Final

import pytest
from playwright.async_api import Browser, Page, async_playwright

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.server import RunningServer
from tests.embedded import EmbeddedServer

# Playwright's own browser download cannot work on these machines.
CHROMIUM: Final = "/usr/bin/chromium"


@pytest.fixture
async def bridge_url(server: RunningServer) -> AsyncIterator[str]:
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}")
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    yield bridge.url
    await bridge.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no {CHROMIUM}: `make browser` installs Debian's chromium")
    async with async_playwright() as playwright:
        # --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()
