"""The Grafana dashboard queries series that a live server and bridge expose.

Every metric name in the dashboard's PromQL (panels and variables) must be
on the server's /metrics or the bridge's, and every label it filters or
groups by must be on that metric's samples, after a turn with a tool call
has gone through the bridge so that the labelled series exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.config import Settings
from mochi_grpc.server import RunningServer, start
from tests.e2e.sse_support import stream_events
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import free_port
from tests.tools_fixture import write_tools

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "mochi-dashboard.json"
MODEL = "llama3.2:latest"
# Labels Prometheus adds to every series it scrapes, not in any exposition.
TARGET_LABELS = frozenset({"job", "instance"})

# -- reading PromQL -------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|[A-Za-z0-9_]+)")  # Grafana's $name, ${name}
_RANGE = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


@dataclass
class Query:
    """What one PromQL expression reads: metric names, each with the labels
    its selector matches on, and the labels it groups by."""

    text: str
    metrics: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def read_promql(expr: str) -> Query:
    query = Query(expr)
    rest = _VARIABLE.sub(" ", _STRING.sub('""', expr))
    for name, matchers in _SELECTOR.findall(rest):
        if name and name not in _KEYWORDS:
            query.metrics.setdefault(name, set()).update(_MATCHER.findall(matchers))
    rest = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", rest)
    for labels in _GROUPING.findall(rest):
        query.grouping.update(label.strip() for label in labels.split(",") if label.strip())
    rest = _GROUPING.sub(" ", rest)
    rest = _NUMBER.sub(" ", _RANGE.sub(" ", rest))
    for found in _IDENTIFIER.finditer(rest):
        name = found.group()
        calls = rest[found.end() :].lstrip().startswith("(")
        if not calls and name not in _KEYWORDS:
            query.metrics.setdefault(name, set())
    return query


def test_promql_reading_finds_metrics_matchers_and_grouping() -> None:
    query = read_promql(
        'histogram_quantile(0.95, sum by (tool, le) (rate(a_seconds_bucket{job=~"$j",'
        ' tool!="x}"}[$__rate_interval]))) / on (tool) b_total + sum(c) without (z) > bool 2e3'
        " + d offset $__interval"
    )

    assert query.metrics == {
        "a_seconds_bucket": {"job", "tool"},
        "b_total": set(),
        "c": set(),
        "d": set(),
    }
    assert query.grouping == {"tool", "le", "z"}


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    """The PromQL of every panel (rows' nested ones too) and every variable."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield read_promql(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        definition = variable["query"]
        text = definition["query"] if isinstance(definition, dict) else definition
        label_values = _LABEL_VALUES.match(text)
        assert label_values, f"variable {variable['name']}: not label_values(...): {text}"
        query = read_promql(label_values.group(1))
        query.grouping.add(label_values.group(2))
        yield query


# -- what a live server and bridge expose -------------------------------------------

# The names of a family's samples, by its type (the parser strips a
# counter's _total from the family's name).
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exposed(text: str) -> dict[str, set[str]]:
    """Each series name an exposition offers (a family's name and its
    type's sample names, even before any sample), with its samples' labels."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[tuple[RunningServer, str]]:
    """A server with metrics on and the test tools, and a bridge over it."""
    write_tools(settings.resolved_tools_dir)
    server = await start(settings.model_copy(update={"metrics_port": free_port()}))
    bridge = await EmbeddedServer.start(
        create_app(BridgeSettings(grpc_target=f"127.0.0.1:{server.port}")), lifespan="on"
    )
    try:
        yield server, bridge.url
    finally:
        await bridge.stop()
        await server.stop(0)


async def _turn_with_a_tool_call(http: httpx.AsyncClient, fake_ollama: FakeOllama) -> None:
    tools = {"tools": ["multiply_numbers"], "execution_policy": "never_confirm"}
    created = await http.post("/api/v1/sessions", json={"model": MODEL, "tool_settings": tools})
    assert created.status_code == 201, created.text
    fake_ollama.script(
        Reply(tool_calls=[{"name": "multiply_numbers", "arguments": {"a": 6, "b": 7}}]),
        Reply(content=["42"]),
    )
    session_id = created.json()["session_id"]
    events = await stream_events(http, f"/api/v1/chat/{session_id}/stream", {"message": "6*7?"})
    assert [e.name for e in events][-1] == "done"


async def test_every_series_the_dashboard_queries_is_exposed(
    running: tuple[RunningServer, str], fake_ollama: FakeOllama
) -> None:
    server, bridge_url = running
    async with httpx.AsyncClient(base_url=bridge_url, timeout=10) as http:
        await _turn_with_a_tool_call(http, fake_ollama)
        assert (await http.get("/api/v1/sessions/no-such-session")).status_code == 404
        bridge_text = (await http.get("/metrics")).text
        server_text = (await http.get(f"http://127.0.0.1:{server.metrics_port}/metrics")).text
    series = exposed(server_text)
    for name, labels in exposed(bridge_text).items():
        series.setdefault(name, set()).update(labels)
    queries = list(dashboard_queries(json.loads(DASHBOARD.read_text())))

    missing = sorted({name for q in queries for name in q.metrics if name not in series})
    unlabelled = sorted(
        f"{name}{{{label}}}"
        for q in queries
        for name, labels in q.metrics.items()
        for label in labels - TARGET_LABELS
        if name in series and label not in series[name]
    )
    ungrouped = sorted(
        f"{label} in {q.text}"
        for q in queries
        for label in q.grouping - TARGET_LABELS
        if not any(label in series.get(name, set()) for name in q.metrics)
    )
    assert len(queries) > 20  # every panel's and variable's query was read
    assert missing == [], "queried but not exposed"
    assert unlabelled == [], "matched on labels the series do not have"
    assert ungrouped == [], "grouped by labels none of the query's series have"
