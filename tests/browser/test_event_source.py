"""A browser's own EventSource follows a turn and, when the connection drops,
reconnects by itself with Last-Event-ID and gets exactly the rest."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Page

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.server import RunningServer
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import free_port

WORDS = [f" w{i}" for i in range(30)]
GUARD_MS = 15_000

# Collects every event of the turn as the browser delivers it.
FOLLOW = """sessionId => {
  window.received = [];
  window.opened = 0;
  const source = new EventSource(`/api/v1/chat/${sessionId}/stream`);
  source.onopen = () => { window.opened += 1; };
  for (const name of ["content_delta", "message_complete", "done", "error"]) {
    source.addEventListener(name, (event) => {
      window.received.push({ name, id: event.lastEventId, data: JSON.parse(event.data) });
      if (name === "done" || name === "error") source.close();
    });
  }
}"""


async def _bridge(server: RunningServer, port: int) -> EmbeddedServer:
    settings = BridgeSettings(grpc_target=f"127.0.0.1:{server.port}")
    return await EmbeddedServer.start(create_app(settings), port=port, lifespan="on")


async def test_event_source_reconnects_after_a_drop_and_the_reply_completes(
    server: RunningServer, fake_ollama: FakeOllama, page: Page
) -> None:
    port = free_port()
    bridge = await _bridge(server, port)
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as http:
            created = await http.post("/sessions", json={"model": "llama3.2:latest"})
            session_id = created.json()["session_id"]
            fake_ollama.script(Reply(content=WORDS, chunk_delay=0.1))
            body = {"message": "Go", "continue_on_disconnect": True}
            async with http.stream("POST", f"/chat/{session_id}/stream", json=body) as started:
                assert started.status_code == 200  # the turn runs; this caller leaves
        await page.goto(bridge.url + "/api/v1/health")
        await page.evaluate(FOLLOW, session_id)
        await page.wait_for_function("window.received.length >= 2", timeout=GUARD_MS)

        await bridge.stop()  # every connection to it drops
        bridge = await _bridge(server, port)
        await page.wait_for_function(
            "window.received.some(e => e.name === 'done' || e.name === 'error')",
            timeout=GUARD_MS,
        )
        received: list[dict[str, Any]] = await page.evaluate("window.received")
        opened: int = await page.evaluate("window.opened")
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=10) as http:
            messages = (await http.get(f"/sessions/{session_id}/messages")).json()["messages"]
    finally:
        await bridge.stop()

    names = [e["name"] for e in received]
    text = "".join(e["data"]["content"] for e in received if e["name"] == "content_delta")
    assert opened == 2  # it reconnected by itself
    assert names.count("message_complete") == names.count("done") == 1
    assert names[-2:] == ["message_complete", "done"]
    assert text == messages[-1]["content"] == "".join(WORDS)
    positions = [int(e["id"].rsplit(":", 1)[1]) for e in received]
    assert positions == sorted(set(positions))
    assert fake_ollama.requests[0].completed
