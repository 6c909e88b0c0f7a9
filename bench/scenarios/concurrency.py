"""Scenario 4: many simultaneous slow streams through the bridge.

Each level gets a fresh server and bridge, so memory figures do not inherit
the previous level's high-water mark. Sessions are created first (one per
stream); then every stream starts at once. Each token carries its emission
time, so the delay the service adds is measured per token.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import sqlite3
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import stopping
from bench.clients import StreamResult, sse_stream
from bench.config import BenchConfig, Level
from bench.processes import Meter, Usage
from bench.stack import Channels, FakeOllama, Runtime, create_sessions, start_mochi
from bench.stats import percentile

SETTLE_SECONDS = 1.0
# The server's default MOCHI_CHECKPOINT_INTERVAL_MS.
CHECKPOINT_INTERVAL_S = 0.5
# A level that has not finished this long after its nominal length is cut off.
# Streams one HTTP client carries.
STREAMS_PER_CLIENT = 50
GRACE_SECONDS = 120.0


@dataclass
class LevelResult:
    level: Level
    completed: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    delays_ms: list[float] = field(default_factory=list)
    # Added delay of the tokens emitted once every stream had begun: the
    # steady state, without the burst of all streams starting at once.
    steady_delays_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    first_token_s: list[float] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)
    tokens: int = 0
    usage: dict[str, Usage] = field(default_factory=dict)
    wall_seconds: float = 0.0
    open_file_limits: dict[str, int] = field(default_factory=dict)
    # The most chat requests the fake Ollama served at once during the level.
    peak_ollama_requests: int = 0
    runtime: Runtime | None = None
    # How many store writes each turn took (start, checkpoints, end).
    store_writes: list[int] = field(default_factory=list)

    def store_write_bound(self, interval_s: float = CHECKPOINT_INTERVAL_S) -> float:
        """2 + the longest turn's seconds ÷ the checkpoint interval."""
        longest = max(self.durations_s, default=self.level.seconds)
        return 2 + longest / interval_s

    def rss_per_stream_kb(self, process: str) -> float:
        u = self.usage.get(process)
        if u is None:
            return math.nan
        return (u.rss_peak - u.rss_before) / self.level.streams / 1024

    def cpu_share(self, process: str) -> float:
        """CPU time over wall time, in % of one core."""
        u = self.usage.get(process)
        if u is None or self.wall_seconds <= 0:
            return math.nan
        return 100 * u.cpu_seconds / self.wall_seconds

    def cpu_us_per_token(self, process: str) -> float:
        u = self.usage.get(process)
        if u is None or self.tokens == 0:
            return math.nan
        return u.cpu_seconds * 1e6 / self.tokens

    def delay(self, q: float) -> float:
        return percentile(self.delays_ms, q)

    def steady_delay(self, q: float) -> float:
        return percentile(self.steady_delays_ms, q)


@dataclass
class ConcurrencyResult:
    levels: list[LevelResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _classify(error: str) -> str:
    return error.split(":", 1)[0][:80]


async def measure_streams(
    result: LevelResult,
    sessions: Sequence[str],
    read: Callable[[int, str], Coroutine[Any, Any, StreamResult]],
    processes: Mapping[str, psutil.Process],
) -> None:
    """Starts one stream per session at once (``read(i, session_id)``, timed),
    measures `processes` meanwhile, and fills in `result`: tokens, added
    delays, first tokens, stream times, errors, usage. A stream still running
    `GRACE_SECONDS` after the level's nominal length is cut off (an error)."""
    level = result.level
    async with Meter(processes) as meter:
        tasks = [asyncio.create_task(read(i, s)) for i, s in enumerate(sessions)]
        _, pending = await asyncio.wait(tasks, timeout=level.seconds + GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    result.usage = meter.usage
    result.wall_seconds = meter.wall_seconds
    outcomes = [t.result() for t in tasks if t not in pending]
    all_started = max((o.emitted_ns[0] for o in outcomes if o.emitted_ns), default=0)
    for o in outcomes:
        result.steady_delays_ms += [
            d for d, e in zip(o.delays_ms, o.emitted_ns, strict=True) if e > all_started
        ]
    kinds: collections.Counter[str] = collections.Counter()
    for task in tasks:
        if task in pending:
            result.errors += 1
            kinds["timed out (driver)"] += 1
            continue
        outcome: StreamResult = task.result()
        result.tokens += outcome.tokens
        result.delays_ms += outcome.delays_ms
        result.gaps_ms += outcome.gaps_ms
        if outcome.first_token_s is not None:
            result.first_token_s.append(outcome.first_token_s)
        if outcome.error is not None:
            result.errors += 1
            kinds[_classify(outcome.error)] += 1
        elif outcome.completed and outcome.tokens == level.tokens:
            result.completed += 1
            result.durations_s.append(outcome.elapsed_s)
        else:
            result.errors += 1
            kinds[f"incomplete ({outcome.tokens}/{level.tokens} tokens)"] += 1
    result.error_kinds = dict(kinds)


async def _level(
    level: Level, fake: FakeOllama, log_dir: Path, progress: Callable[[str], None]
) -> LevelResult:
    result = LevelResult(level)
    mochi = await start_mochi(f"c{level.streams}x{level.rate:g}", fake.url, log_dir)
    result.runtime = mochi.runtime()
    channels = Channels.open(mochi.grpc_target)
    # Several small clients: each start and end of a request scans its
    # client's whole connection pool, which would stall the driver at 1,000.
    limits = httpx.Limits(max_connections=STREAMS_PER_CLIENT, max_keepalive_connections=8)
    timeout = httpx.Timeout(connect=30.0, read=60.0, write=30.0, pool=60.0)
    https = [
        httpx.AsyncClient(limits=limits, timeout=timeout)
        for _ in range(-(-level.streams // STREAMS_PER_CLIENT))
    ]
    try:
        result.open_file_limits = {
            "server": mochi.server.open_file_limit(),
            "bridge": mochi.bridge.open_file_limit(),
        }
        progress(f"concurrency {level.label}: creating {level.streams} sessions")
        sessions = await create_sessions(channels.sessions, level.model, level.streams)
        await asyncio.sleep(SETTLE_SECONDS)
        await fake.reset_stats()
        processes: dict[str, psutil.Process] = {
            "server": mochi.server.process,
            "bridge": mochi.bridge.process,
            "fake": fake.child.process,
            "driver": psutil.Process(),
        }
        progress(f"concurrency {level.label}: {level.streams} streams of {level.tokens} tokens")
        await measure_streams(
            result,
            sessions,
            lambda i, s: sse_stream(https[i % len(https)], mochi.stream_url(s), timed=True),
            processes,
        )
        result.peak_ollama_requests = (await fake.stats())["peak"]
        progress(
            f"  completed {result.completed}/{level.streams}, errors {result.errors},"
            f" added delay p50 {result.delay(50):.1f} ms p99 {result.delay(99):.1f} ms,"
            f" at most {result.peak_ollama_requests} Ollama requests at once"
        )
    finally:
        for client in https:
            await client.aclose()
        await channels.close()
        mochi.stop()
    result.store_writes = _store_writes(mochi.data_dir / "mochi.db")
    return result


def _store_writes(database: Path) -> list[int]:
    """The store writes of each turn, as the server counted them."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return [writes for (writes,) in db.execute("SELECT writes FROM turns")]


async def run(
    config: BenchConfig, fake: FakeOllama, log_dir: Path, *, progress: Callable[[str], None]
) -> ConcurrencyResult:
    result = ConcurrencyResult()
    for level in config.levels:
        stopping.check()
        started = time.monotonic()
        try:
            result.levels.append(await _level(level, fake, log_dir, progress))
        except Exception as exc:
            progress(f"  {level.label} failed: {exc!r}")
            result.failures.append(f"{level.label}: {type(exc).__name__}: {exc}")
        progress(f"  level took {time.monotonic() - started:.1f} s")
    return result
