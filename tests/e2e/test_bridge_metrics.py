"""The bridge's /metrics: requests by method, route template and status,
their durations, event streams (open, events sent, clients that left early),
and who may read them when the server requires API keys.

The bridge counts a request when its response has ended, which may be just
after the client has read it; tests scrape until what they wait for is there
(bounded by a guard), then check the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Final

import httpx
import pytest
from httpx_sse import aconnect_sse
from prometheus_client.parser import text_string_to_metric_families

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.auth import KeyRing
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.e2e.sse_support import GUARD
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply

MODEL: Final = "llama3.2:latest"
SESSION_ROUTE: Final = "/api/v1/sessions/{session_id}"
STREAM_ROUTE: Final = "/api/v1/chat/{session_id}/stream"

# (metric sample name, its labels as sorted pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parsed(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the bridge has not written it (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return value(samples, "http_requests_total", method=method, route=route, status=str(status))


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return parsed(response.text)


async def scrape_until(http: httpx.AsyncClient, ready: Callable[[Samples], bool]) -> Samples:
    async with asyncio.timeout(GUARD):
        while not ready(samples := await scrape(http)):
            pass
    return samples


@pytest.fixture
async def http(bridge_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """At the bridge's root, where /metrics is."""
    async with httpx.AsyncClient(base_url=bridge_url, timeout=GUARD) as client:
        yield client


async def _session(http: httpx.AsyncClient) -> str:
    created = await http.post("/api/v1/sessions", json={"model": MODEL})
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


async def test_requests_count_by_method_route_template_and_status(
    http: httpx.AsyncClient,
) -> None:
    sid = await _session(http)
    await http.get(f"/api/v1/sessions/{sid}")
    await http.get(f"/api/v1/sessions/{sid}")
    await http.get("/api/v1/sessions/0123456789")
    await http.get("/api/v1/models/llama3.2:latest")

    samples = await scrape_until(
        http, lambda s: requests(s, "GET", "/api/v1/models/{model_name}", 200) == 1
    )

    assert requests(samples, "POST", "/api/v1/sessions", 201) == 1
    assert requests(samples, "GET", SESSION_ROUTE, 200) == 2
    assert requests(samples, "GET", SESSION_ROUTE, 404) == 1
    durations = value(
        samples, "http_request_duration_seconds_count", method="GET", route=SESSION_ROUTE
    )
    assert durations == 3
    labels = {dict(key[1]).get("route") for key in samples}
    assert not any(sid in str(route) for route in labels)


async def test_unknown_paths_and_methods_share_one_label_value(http: httpx.AsyncClient) -> None:
    for path in ("/nope", "/api/v1/nope/1", "/api/v1/nope/2", "/api/v1/sessions/a/b/c"):
        assert (await http.get(path)).status_code == 404
    assert (await http.request("BREW", "/api/v1/health")).status_code == 405

    samples = await scrape_until(http, lambda s: requests(s, "GET", "unmatched", 404) == 4)

    assert requests(samples, "other", "/api/v1/health", 405) == 1
    routes = {dict(labels).get("route") for name, labels in samples if name.startswith("http_")}
    assert not any("nope" in str(route) for route in routes)


async def test_a_stream_counts_once_when_it_ends_with_the_events_it_sent(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    sid = await _session(http)
    fake_ollama.script(Reply(content=["Hel", "lo", "!"]))

    async with aconnect_sse(
        http, "POST", f"/api/v1/chat/{sid}/stream", json={"message": "Hi"}
    ) as source:
        events = [event.event async for event in source.aiter_sse()]
    samples = await scrape_until(http, lambda s: requests(s, "POST", STREAM_ROUTE, 200) == 1)

    assert events[-1] == "done"
    assert value(samples, "mochi_sse_events_sent_total") == len(events)
    assert value(samples, "mochi_sse_streams_active") == 0
    assert value(samples, "mochi_sse_disconnects_total") == 0
    durations = value(
        samples, "http_request_duration_seconds_count", method="POST", route=STREAM_ROUTE
    )
    assert durations == 1


async def test_a_client_leaving_a_stream_before_its_end_is_a_disconnect(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    sid = await _session(http)
    fake_ollama.script(Reply(content=["one", " two"], hang_after=1))

    async with aconnect_sse(
        http, "POST", f"/api/v1/chat/{sid}/stream", json={"message": "Hi"}
    ) as source:
        events = source.aiter_sse()
        first = await asyncio.wait_for(anext(events), GUARD)
        while_open = await scrape(http)
    # Leaving the block closed the connection with the turn still running.
    samples = await scrape_until(http, lambda s: value(s, "mochi_sse_disconnects_total") == 1)

    assert first.event == "content_delta"
    assert value(while_open, "mochi_sse_streams_active") == 1
    assert value(samples, "mochi_sse_streams_active") == 0
    assert value(samples, "mochi_sse_events_sent_total") == 1
    after_leaving = await scrape_until(http, lambda s: requests(s, "POST", STREAM_ROUTE, 200) == 1)
    assert value(after_leaving, "mochi_sse_disconnects_total") == 1


async def test_a_watch_replaying_a_turn_is_a_stream_too(http: httpx.AsyncClient) -> None:
    sid = await _session(http)
    await http.post(f"/api/v1/chat/{sid}", json={"message": "Hi"})

    # The turn is over and the client has seen nothing of it: it gets the
    # whole turn, then the stream ends.
    async with aconnect_sse(http, "GET", f"/api/v1/chat/{sid}/stream") as source:
        replayed = [event.event async for event in source.aiter_sse()]
    samples = await scrape_until(http, lambda s: requests(s, "GET", STREAM_ROUTE, 200) == 1)

    assert replayed[-1] == "done"
    assert value(samples, "mochi_sse_events_sent_total") == len(replayed)
    assert value(samples, "mochi_sse_streams_active") == 0
    assert value(samples, "mochi_sse_disconnects_total") == 0


async def test_openmetrics_is_answered_when_asked_for(http: httpx.AsyncClient) -> None:
    plain = await http.get("/metrics")
    open_metrics = await http.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )

    assert plain.headers["content-type"].startswith("text/plain")
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")
    assert "process_cpu_seconds_total" in plain.text


async def test_metrics_answer_503_when_the_server_cannot_be_reached(
    http: httpx.AsyncClient, server: RunningServer
) -> None:
    await server.stop(0)

    refused = await http.get("/metrics")

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


# -- with API keys required ---------------------------------------------------


@pytest.fixture
async def keyed_server(settings: Settings) -> AsyncIterator[RunningServer]:
    running = await start(settings.model_copy(update={"auth": "required"}))
    yield running
    await running.stop(0)


@pytest.fixture
async def keyed_http(keyed_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    bridge = await EmbeddedServer.start(
        create_app(BridgeSettings(grpc_target=f"127.0.0.1:{keyed_server.port}")), lifespan="on"
    )
    async with httpx.AsyncClient(base_url=bridge.url, timeout=GUARD) as client:
        yield client
    await bridge.stop()


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_with_keys_required_only_an_admin_key_reads_the_metrics(
    keyed_http: httpx.AsyncClient, keyed_server: RunningServer
) -> None:
    keys = KeyRing(keyed_server.store)
    _, user = await keys.create("alice", admin=False)
    _, admin = await keys.create("root", admin=True)

    without = await keyed_http.get("/metrics")
    wrong = await keyed_http.get("/metrics", headers=_as("mochi_not-a-key"))
    users = await keyed_http.get("/metrics", headers=_as(user))
    admins = await keyed_http.get("/metrics", headers=_as(admin))
    await keys.revoke("root")
    revoked = await keyed_http.get("/metrics", headers=_as(admin))

    for refused in (without, wrong, revoked):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
    assert (users.status_code, users.json()["error"]["code"]) == (403, "PERMISSION_DENIED")
    assert admins.status_code == 200
    assert requests(parsed(admins.text), "GET", "/metrics", 401) == 2
    assert user not in admins.text and admin not in admins.text
