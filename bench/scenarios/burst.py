"""Scenario 7: a burst of turns started in the same instant.

N turns (200, then 1,000) start at once, each reply `tokens` long at `rate`
tokens/s with its first token `first_ms` after the request, the way a model
answers. The same burst runs five ways in one run, one after the other on
the same sessions: the official ollama client straight to the fake (direct);
the floor, a bare relay (grpc.aio and the server's Ollama client, nothing
else: bench.bare_grpc) through gRPC and behind the bare Starlette app
(bench.bare_http), which is what the libraries alone cost on this machine;
gRPC ChatStream; the bridge's SSE. For each: the time from each request's
start to its first token (p50, p99, the spread p99 - p1, and how well the
first tokens keep the order the requests were made in), and where the time
went: CPU per turn of every process, and from the server's own metrics the
time from accepting a turn to its first token and the store operations of
the burst.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import ollama
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench import stopping
from bench.clients import StreamResult, direct_stream, grpc_stream, sse_stream
from bench.config import BenchConfig
from bench.processes import LOOPBACK, Meter, Usage
from bench.stack import (
    Bare,
    Channels,
    FakeOllama,
    Mochi,
    create_sessions,
    start_bare,
    start_mochi,
)
from bench.stats import percentile

PATHS = ("direct", "floor-grpc", "floor-bridge", "grpc", "bridge")
# The paths through mochi (they have its metrics), and through the floor.
MOCHI_PATHS = ("grpc", "bridge")
FLOOR_PATHS = ("floor-grpc", "floor-bridge")
SETTLE_SECONDS = 1.0
STREAMS_PER_CLIENT = 50
GRACE_SECONDS = 120.0
# Series of the server's /metrics read before and after each burst.
_TTFT = "mochi_time_to_first_token_seconds"
_STORE = "mochi_store_operation_seconds"


@dataclass
class PathResult:
    path: str
    first_token_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)
    wall_seconds: float = 0.0
    # Spearman's rank correlation of the order the requests were made in and
    # the order their first tokens arrived in (1: first come, first served).
    order: float = math.nan
    # From the server's metrics over the burst: its own time from accepting
    # a turn to the first token (mean, ms), and each store operation's calls
    # and mean duration (ms).
    server_ttft_ms: float = math.nan
    store_ops: dict[str, tuple[int, float]] = field(default_factory=dict)

    def p(self, q: float) -> float:
        return percentile(self.first_token_ms, q)

    @property
    def spread_ms(self) -> float:
        return self.p(99) - self.p(1)

    def cpu_ms_per_turn(self, process: str, turns: int) -> float:
        u = self.usage.get(process)
        if u is None or not turns:
            return math.nan
        return 1000 * u.cpu_seconds / turns


@dataclass
class SizeResult:
    turns: int
    paths: dict[str, PathResult] = field(default_factory=dict)

    def ratio(self, path: str, q: float) -> float:
        direct, other = self.paths.get("direct"), self.paths.get(path)
        if direct is None or other is None or not direct.p(q):
            return math.nan
        return other.p(q) / direct.p(q)


@dataclass
class BurstResult:
    model: str
    sizes: list[SizeResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = float(rank)
    return ranks


def spearman(values: Sequence[float]) -> float:
    """Rank correlation of `values` with their positions (1: the same order)."""
    n = len(values)
    if n < 2:
        return math.nan
    ranks = _ranks(values)
    d2 = sum((r - i) ** 2 for i, r in enumerate(ranks))
    return 1 - 6 * d2 / (n * (n * n - 1))


async def _metrics(mochi: Mochi) -> dict[str, float]:
    """The sums and counts the scenario reads from the server's /metrics."""
    if not mochi.metrics_port:
        return {}
    url = f"http://{LOOPBACK}:{mochi.metrics_port}/metrics"
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(url)
    response.raise_for_status()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in (f"{_TTFT}_sum", f"{_TTFT}_count"):
                found[sample.name] = sample.value
            elif sample.name in (f"{_STORE}_sum", f"{_STORE}_count"):
                key = f"{sample.name}:{sample.labels.get('operation', '')}"
                found[key] = sample.value
    return found


def _server_side(
    result: PathResult, before: Mapping[str, float], after: Mapping[str, float]
) -> None:
    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    count = delta(f"{_TTFT}_count")
    if count:
        result.server_ttft_ms = 1000 * delta(f"{_TTFT}_sum") / count
    for key in after:
        if key.startswith(f"{_STORE}_count:"):
            operation = key.split(":", 1)[1]
            calls = delta(key)
            if calls:
                mean = 1000 * delta(f"{_STORE}_sum:{operation}") / calls
                result.store_ops[operation] = (int(calls), mean)


async def _burst(
    path: str,
    turns: int,
    read: Callable[[int], Coroutine[Any, Any, StreamResult]],
    processes: Mapping[str, psutil.Process],
    mochi: Mochi,
) -> PathResult:
    result = PathResult(path)
    before = await _metrics(mochi) if path in MOCHI_PATHS else {}
    starts = [0.0] * turns

    async def timed(i: int) -> StreamResult:
        starts[i] = time.perf_counter()
        return await read(i)

    async with Meter(processes) as meter:
        tasks = [asyncio.create_task(timed(i)) for i in range(turns)]
        _, pending = await asyncio.wait(tasks, timeout=GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    result.usage, result.wall_seconds = meter.usage, meter.wall_seconds
    if path in MOCHI_PATHS:
        _server_side(result, before, await _metrics(mochi))
    kinds: dict[str, int] = {}
    firsts: list[float] = []
    arrivals: list[float] = []
    for i, task in enumerate(tasks):
        outcome = None if task in pending else task.result()
        if outcome is None or outcome.error is not None or outcome.first_token_s is None:
            result.errors += 1
            kind = "timed out (driver)" if outcome is None else (outcome.error or "no token")
            kinds[kind.split(":", 1)[0][:80]] = kinds.get(kind.split(":", 1)[0][:80], 0) + 1
            continue
        firsts.append(1000 * outcome.first_token_s)
        arrivals.append(starts[i] + outcome.first_token_s)
    result.first_token_ms = firsts
    result.error_kinds = kinds
    result.order = spearman(arrivals)
    return result


async def _size(
    turns: int,
    model: str,
    fake: FakeOllama,
    log_dir: Path,
    progress: Callable[[str], None],
) -> SizeResult:
    result = SizeResult(turns)
    mochi = await start_mochi(f"burst{turns}", fake.url, log_dir)
    try:
        floor = await start_bare(log_dir, mochi.runtime(), relay=(fake.url, model))
    except BaseException:
        mochi.stop()
        raise
    try:
        return await _paths(result, model, fake, mochi, floor, progress)
    finally:
        floor.stop()
        mochi.stop()


async def _paths(
    result: SizeResult,
    model: str,
    fake: FakeOllama,
    mochi: Mochi,
    floor: Bare,
    progress: Callable[[str], None],
) -> SizeResult:
    turns = result.turns
    channels = Channels.open(mochi.grpc_target)
    floor_channels = Channels.open(floor.grpc_target)
    clients = -(-turns // STREAMS_PER_CLIENT)
    limits = httpx.Limits(
        max_connections=STREAMS_PER_CLIENT, max_keepalive_connections=STREAMS_PER_CLIENT
    )
    timeout = httpx.Timeout(connect=30.0, read=60.0, write=30.0, pool=60.0)
    https = [httpx.AsyncClient(limits=limits, timeout=timeout) for _ in range(clients)]
    ollamas = [ollama.AsyncClient(host=fake.url, limits=limits) for _ in range(clients)]
    try:
        progress(f"burst {turns}: creating {turns} sessions")
        sessions = await create_sessions(channels.sessions, model, turns)
        shared = {"fake": fake.child.process, "driver": psutil.Process()}
        ours = {"server": mochi.server.process, "bridge": mochi.bridge.process, **shared}
        bare = {"server": floor.grpc_server.process, "bridge": floor.http_server.process, **shared}
        reads: dict[str, Callable[[int], Coroutine[Any, Any, StreamResult]]] = {
            "direct": lambda i: direct_stream(ollamas[i % clients], model),
            "floor-grpc": lambda i: grpc_stream(floor_channels.chat, sessions[i]),
            "floor-bridge": lambda i: sse_stream(https[i % clients], f"{floor.http_url}/pass/1"),
            "grpc": lambda i: grpc_stream(channels.chat, sessions[i]),
            "bridge": lambda i: sse_stream(https[i % clients], mochi.stream_url(sessions[i])),
        }
        for path in PATHS:
            stopping.check()
            await asyncio.sleep(SETTLE_SECONDS)
            processes = bare if path in FLOOR_PATHS else ours
            outcome = await _burst(path, turns, reads[path], processes, mochi)
            result.paths[path] = outcome
            progress(
                f"  {path}: first token p50 {outcome.p(50):.0f} ms p99 {outcome.p(99):.0f} ms,"
                f" {outcome.errors} errors"
            )
    finally:
        for client in https:
            await client.aclose()
        await channels.close()
        await floor_channels.close()
    return result


async def run(
    config: BenchConfig, fake: FakeOllama, log_dir: Path, *, progress: Callable[[str], None]
) -> BurstResult:
    result = BurstResult(config.burst_model)
    for turns in config.burst_sizes:
        stopping.check()
        try:
            result.sizes.append(await _size(turns, config.burst_model, fake, log_dir, progress))
        except Exception as exc:
            progress(f"  burst {turns} failed: {exc!r}")
            result.failures.append(f"{turns}: {type(exc).__name__}: {exc}")
    return result
