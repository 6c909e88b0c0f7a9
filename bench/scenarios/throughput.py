"""Scenarios 1 and 2: one long stream, flat out, through every path.

Every path runs once per repeat, one after the other, so all figures come from
the same stretch of time on the same machine:

- direct: the fake Ollama read with the official client (the path's limit)
- grpc, bridge: the mochi server (ChatStream) and the bridge (SSE), the
  server's metrics on (as by default)
- grpc_off, bridge_off: the same with the server's metrics off
  (MOCHI_METRICS_PORT=0: no interceptor, observer or timed store), so the
  one-stream ratios can be compared on ÷ off; on and off run back to back,
  in turns first, and are compared repeat by repeat
- grpc_nc, bridge_nc: the same with coalescing disabled (one message per token)
- bare_grpc, bare_sse, bare_pass: the bare building blocks
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx
import ollama
import psutil

from bench import stopping
from bench.clients import StreamResult, direct_stream, grpc_stream, sse_stream
from bench.config import BenchConfig
from bench.processes import Meter
from bench.stack import Bare, Channels, FakeOllama, Mochi, create_session
from bench.stats import median

PATHS: dict[str, str] = {
    "direct": "(a) direct: ollama client ← fake",
    "grpc": "(b) gRPC ChatStream",
    "bridge": "(c) bridge SSE",
    "grpc_off": "(b₀) gRPC ChatStream, server metrics off",
    "bridge_off": "(c₀) bridge SSE, server metrics off",
    "grpc_nc": "(b') gRPC ChatStream, coalescing off",
    "bridge_nc": "(c') bridge SSE, coalescing off",
    "bare_grpc": "(i) bare grpc.aio stream",
    "bare_sse": "(ii) bare Starlette SSE",
    "bare_pass": "(iii) bare gRPC → Starlette SSE",
}


Reader = Callable[[], Awaitable[StreamResult]]


@dataclass
class Run:
    tokens: int
    events: int
    seconds: float
    cpu_us_per_token: dict[str, float]
    busy_percent: dict[str, float]
    error: str | None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class PathResult:
    key: str
    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.error is None]

    @property
    def tokens_per_second(self) -> float:
        return median([r.tokens_per_second for r in self.ok_runs])

    @property
    def events(self) -> float:
        return median([float(r.events) for r in self.ok_runs])

    @property
    def tokens(self) -> float:
        return median([float(r.tokens) for r in self.ok_runs])

    def busy_percent(self, process: str) -> float:
        """CPU time over wall time of the run, in % of one core (median)."""
        return median([r.busy_percent[process] for r in self.ok_runs if process in r.busy_percent])

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.runs if r.error is not None]

    def cpu_us_per_token(self, process: str) -> float:
        values = [
            r.cpu_us_per_token[process] for r in self.ok_runs if process in r.cpu_us_per_token
        ]
        return median(values)


@dataclass
class ThroughputResult:
    tokens: int
    repeats: int
    paths: dict[str, PathResult]
    # Turns the metrics-on server counted in mochi_turns_started_total by the
    # end (None: not read): proof that its metrics were on.
    turns_counted: float | None = None

    def ratio(self, key: str, over: str) -> float:
        a, b = self.paths[key].tokens_per_second, self.paths[over].tokens_per_second
        return a / b if b > 0 and not math.isnan(a) else math.nan

    def metrics_on_off(self, key: str) -> float:
        """The one-stream ratio of a path (÷ direct) with the server's metrics
        on, over the same with them off: the median over the repeats of each
        repeat's own (on ÷ a) ÷ (off ÷ a), that is on ÷ off, so the two runs
        compared are always neighbours in time."""
        on, off = self.paths[key].runs, self.paths[f"{key}_off"].runs
        return median(
            [
                a.tokens_per_second / b.tokens_per_second
                for a, b in zip(on, off, strict=True)
                if a.error is None and b.error is None and b.tokens_per_second > 0
            ]
        )

    def no_coalescing(self, key: str) -> bool:
        """True when every run sent one content event per token."""
        path = self.paths[key]
        return bool(path.ok_runs) and all(
            r.events >= r.tokens for r in path.ok_runs if r.tokens == self.tokens
        )


async def _measured(processes: Mapping[str, psutil.Process], read: Reader) -> Run:
    async with Meter(processes) as meter:
        result = await read()
    tokens = max(result.tokens, 1)
    cpu = {name: u.cpu_seconds * 1e6 / tokens for name, u in meter.usage.items()}
    wall = max(meter.wall_seconds, 1e-9)
    busy = {name: 100 * u.cpu_seconds / wall for name, u in meter.usage.items()}
    error = result.error
    if error is None and not result.completed:
        error = "stream ended without done"
    return Run(result.tokens, result.content_events, result.elapsed_s, cpu, busy, error)


async def run(
    config: BenchConfig,
    fake: FakeOllama,
    mochi: Mochi,
    mochi_nc: Mochi,
    mochi_off: Mochi,
    bare: Bare,
    *,
    progress: Callable[[str], None],
) -> ThroughputResult:
    model = config.throughput_model
    n = config.tokens
    driver = psutil.Process()
    fake_p = fake.child.process
    result = ThroughputResult(n, config.repeats, {k: PathResult(k, v) for k, v in PATHS.items()})
    direct_client = ollama.AsyncClient(host=fake.url, timeout=httpx.Timeout(120.0))
    ours = Channels.open(mochi.grpc_target)
    ours_nc = Channels.open(mochi_nc.grpc_target)
    ours_off = Channels.open(mochi_off.grpc_target)
    bare_ch = Channels.open(bare.grpc_target)
    http = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0))
    try:

        async def direct() -> StreamResult:
            return await direct_stream(direct_client, model)

        def over_grpc(channels: Channels, session_id: str) -> Reader:
            async def read() -> StreamResult:
                return await grpc_stream(channels.chat, session_id)

            return read

        def over_sse(url: str) -> Reader:
            async def read() -> StreamResult:
                return await sse_stream(http, url)

            return read

        async def bare_grpc() -> StreamResult:
            return await grpc_stream(bare_ch.chat, "bare", message=str(n))

        bare_sse_url = f"{bare.http_url}/sse/{n}"
        bare_pass_url = f"{bare.http_url}/pass/{n}"
        server, bridge = mochi.server.process, mochi.bridge.process
        server_nc, bridge_nc = mochi_nc.server.process, mochi_nc.bridge.process
        server_off, bridge_off = mochi_off.server.process, mochi_off.bridge.process
        bare_g, bare_h = bare.grpc_server.process, bare.http_server.process

        # Connections up and code paths warm before anything is timed.
        await direct_stream(direct_client, config.ttft_model)
        for channels, stack in ((ours, mochi), (ours_nc, mochi_nc), (ours_off, mochi_off)):
            sid = await create_session(channels.sessions, config.ttft_model)
            await grpc_stream(channels.chat, sid)
            sid = await create_session(channels.sessions, config.ttft_model)
            await sse_stream(http, stack.stream_url(sid))
        await grpc_stream(bare_ch.chat, "bare", message="100")
        await sse_stream(http, f"{bare.http_url}/sse/100")
        await sse_stream(http, f"{bare.http_url}/pass/100")

        for rep in range(config.repeats):
            stopping.check()
            progress(f"throughput: repeat {rep + 1}/{config.repeats}")
            runs: list[tuple[str, dict[str, psutil.Process], Reader]] = [
                ("direct", {"fake": fake_p, "driver": driver}, direct)
            ]
            # Metrics on and off run back to back, each first in every other repeat.
            on_off = [
                ("", ours, mochi, server, bridge),
                ("_off", ours_off, mochi_off, server_off, bridge_off),
            ]
            for key, channels, stack, srv, brg in (
                *(on_off[::-1] if rep % 2 else on_off),
                ("_nc", ours_nc, mochi_nc, server_nc, bridge_nc),
            ):
                grpc_session = await create_session(channels.sessions, model)
                sse_session = await create_session(channels.sessions, model)
                runs.append(
                    (
                        f"grpc{key}",
                        {"fake": fake_p, "server": srv, "driver": driver},
                        over_grpc(channels, grpc_session),
                    )
                )
                runs.append(
                    (
                        f"bridge{key}",
                        {"fake": fake_p, "server": srv, "bridge": brg, "driver": driver},
                        over_sse(stack.stream_url(sse_session)),
                    )
                )
            runs += [
                ("bare_grpc", {"server": bare_g, "driver": driver}, bare_grpc),
                ("bare_sse", {"bridge": bare_h, "driver": driver}, over_sse(bare_sse_url)),
                (
                    "bare_pass",
                    {"server": bare_g, "bridge": bare_h, "driver": driver},
                    over_sse(bare_pass_url),
                ),
            ]
            for key, processes, read in runs:
                stopping.check()
                outcome = await _measured(processes, read)
                result.paths[key].runs.append(outcome)
                progress(
                    f"  {key:<10} {outcome.tokens_per_second:>9,.0f} tok/s"
                    f" {outcome.events:>6} events"
                    + (f"  ERROR {outcome.error}" if outcome.error else "")
                )
        result.turns_counted = await mochi.turns_counted()
    finally:
        await http.aclose()
        await direct_client.close()  # type: ignore[no-untyped-call]
        for channels in (ours, ours_nc, ours_off, bare_ch):
            await channels.close()
    return result
