"""Scenario 5: the SQLite store, in-process on a temp file.

For each size n, a session holding n messages; then the cost of storing one
message after them (``replace_tail(session, keep=n, [message])``, the write a
turn makes) and of loading the whole history (``list_messages``, the read a
turn makes), each the median of many.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import stopping
from bench.config import BenchConfig
from bench.stats import median, percentile
from mochi_grpc.entities import Message, Role, Session
from mochi_grpc.store import SqliteStore

TEXT = "A message of ordinary length, about as long as one sentence of a chat reply. " * 3
WARMUP = 3


@dataclass
class SizeResult:
    messages: int
    append_us: list[float] = field(default_factory=list)
    load_ms: list[float] = field(default_factory=list)

    @property
    def append_median_us(self) -> float:
        return median(self.append_us)

    @property
    def append_p99_us(self) -> float:
        return percentile(self.append_us, 99)

    @property
    def load_median_ms(self) -> float:
        return median(self.load_ms)


@dataclass
class StoreResult:
    sizes: list[SizeResult]

    def ratio(self, attribute: str) -> float:
        first, last = self.sizes[0], self.sizes[-1]
        a: float = getattr(last, attribute)
        b: float = getattr(first, attribute)
        return a / b if b > 0 else float("nan")


def _history(n: int) -> list[Message]:
    roles = (Role.USER, Role.ASSISTANT)
    return [Message(roles[i % 2], f"{i}: {TEXT}") for i in range(n)]


async def run(
    config: BenchConfig, directory: Path, *, progress: Callable[[str], None]
) -> StoreResult:
    store = SqliteStore(directory / "store-bench.db")
    await store.open()
    sizes: list[SizeResult] = []
    try:
        for n in config.store_sizes:
            progress(f"store: session of {n} messages")
            session = Session(model="bench")
            await store.create_session(session, _history(n))
            size = SizeResult(n)
            for i in range(WARMUP + config.store_appends):
                stopping.check()
                message = Message(Role.USER if i % 2 else Role.ASSISTANT, TEXT)
                started = time.perf_counter()
                await store.replace_tail(session, n, [message])
                if i >= WARMUP:
                    size.append_us.append((time.perf_counter() - started) * 1e6)
            for i in range(1 + config.store_loads):
                started = time.perf_counter()
                page = await store.list_messages(session.session_id)
                if i >= 1:
                    size.load_ms.append((time.perf_counter() - started) * 1e3)
                if len(page.messages) != n + 1:
                    raise RuntimeError(f"expected {n + 1} messages, got {len(page.messages)}")
            sizes.append(size)
    finally:
        await store.close()
    return StoreResult(sizes)
