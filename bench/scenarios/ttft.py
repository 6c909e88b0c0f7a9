"""Scenario 3: time to first token of short turns, direct, over gRPC, via the bridge.

Turns run one at a time, the three paths in turn, each on a fresh session
created beforehand (a session holds one turn at a time, and a fresh one keeps
the history the same for every turn).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import ollama

from bench import stopping
from bench.clients import StreamResult, direct_stream, grpc_stream, sse_stream
from bench.config import BenchConfig
from bench.stack import Channels, FakeOllama, Mochi, create_sessions
from bench.stats import percentile

WARMUP_TURNS = 5


@dataclass
class TtftResult:
    turns: int
    model: str
    first_token_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def p(self, path: str, q: float) -> float:
        return percentile(self.first_token_ms.get(path, []), q)

    def added(self, path: str, q: float) -> float:
        value = self.p(path, q) - self.p("direct", q)
        return value if not math.isnan(value) else math.nan


def _first_token_ms(result: StreamResult) -> float | None:
    if result.error is not None or result.first_token_s is None:
        return None
    return result.first_token_s * 1000


async def run(
    config: BenchConfig, fake: FakeOllama, mochi: Mochi, *, progress: Callable[[str], None]
) -> TtftResult:
    model = config.ttft_model
    turns = config.ttft_turns
    result = TtftResult(turns, model, {"direct": [], "grpc": [], "bridge": []})
    result.errors = {k: [] for k in result.first_token_ms}
    direct_client = ollama.AsyncClient(host=fake.url, timeout=httpx.Timeout(60.0))
    channels = Channels.open(mochi.grpc_target)
    http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
    try:
        progress(f"ttft: creating {2 * (turns + WARMUP_TURNS)} sessions")
        grpc_sessions = await create_sessions(channels.sessions, model, turns + WARMUP_TURNS)
        sse_sessions = await create_sessions(channels.sessions, model, turns + WARMUP_TURNS)
        for i in range(WARMUP_TURNS):
            await direct_stream(direct_client, model)
            await grpc_stream(channels.chat, grpc_sessions[turns + i])
            await sse_stream(http, mochi.stream_url(sse_sessions[turns + i]))
        progress(f"ttft: {turns} turns on each path")
        for i in range(turns):
            stopping.check()
            for path, outcome in (
                ("direct", await direct_stream(direct_client, model)),
                ("grpc", await grpc_stream(channels.chat, grpc_sessions[i])),
                ("bridge", await sse_stream(http, mochi.stream_url(sse_sessions[i]))),
            ):
                ms = _first_token_ms(outcome)
                if ms is None:
                    result.errors[path].append(outcome.error or "no content")
                else:
                    result.first_token_ms[path].append(ms)
    finally:
        await http.aclose()
        await direct_client.close()  # type: ignore[no-untyped-call]
        await channels.close()
    return result
