"""Scenario 5: the stores, SQLite and PostgreSQL, in-process.

SQLite on a temp file; PostgreSQL on a private server (pgserver, a Unix
socket), each on a fresh database. For each size n, a session holding n
messages; then the cost of storing one message after them
(``replace_tail(session, keep=n, [message])``, the write a turn makes) and of
loading the whole history (``list_messages``, the read a turn makes), each the
median of many (the stores of all sizes taking turns). The same sizes and
counts for both stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import stopping
from bench.config import BenchConfig
from bench.postgres import create_database, postgres_server
from bench.stats import median, percentile
from mochi_grpc.entities import Message, Role, Session
from mochi_grpc.store import PostgresStore, SqliteStore

TEXT = "A message of ordinary length, about as long as one sentence of a chat reply. " * 3
WARMUP = 3
# The stores, in the order they run and appear in the report.
STORES: dict[str, str] = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


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
    # Per store (a key of STORES): one result per session size.
    backends: dict[str, list[SizeResult]] = field(default_factory=dict)
    # A store that could not be measured: why.
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def sizes(self) -> list[SizeResult]:
        """SQLite's, the figures the earlier reports had."""
        return self.backends.get("sqlite", [])

    def ratio(self, attribute: str, store: str = "sqlite") -> float:
        """Largest size ÷ smallest size of `attribute`, for one store."""
        sizes = self.backends.get(store, [])
        if not sizes:
            return float("nan")
        a: float = getattr(sizes[-1], attribute)
        b: float = getattr(sizes[0], attribute)
        return a / b if b > 0 else float("nan")


def _history(n: int) -> list[Message]:
    roles = (Role.USER, Role.ASSISTANT)
    return [Message(roles[i % 2], f"{i}: {TEXT}") for i in range(n)]


async def _measure(
    store: SqliteStore | PostgresStore,
    label: str,
    config: BenchConfig,
    progress: Callable[[str], None],
) -> list[SizeResult]:
    """Every size's session first; then the stores, one per size in turn: a
    change in the machine's load (other processes, the disk) then touches
    every size alike, and the ratio stays fair."""
    progress(f"store ({label}): sessions of {', '.join(map(str, config.store_sizes))} messages")
    sessions: list[tuple[Session, SizeResult]] = []
    for n in config.store_sizes:
        session = Session(model="bench")
        await store.create_session(session, _history(n))
        sessions.append((session, SizeResult(n)))
    progress(f"store ({label}): {config.store_appends} stores and {config.store_loads} loads each")
    for i in range(WARMUP + config.store_appends):
        stopping.check()
        message = Message(Role.USER if i % 2 else Role.ASSISTANT, TEXT)
        for session, size in sessions:
            started = time.perf_counter()
            await store.replace_tail(session, size.messages, [message])
            if i >= WARMUP:
                size.append_us.append((time.perf_counter() - started) * 1e6)
    # Loads size by size: after loading 10,000 messages, the garbage they
    # leave would be collected during the next, small load.
    for session, size in sessions:
        for i in range(1 + config.store_loads):
            stopping.check()
            started = time.perf_counter()
            page = await store.list_messages(session.session_id)
            if i >= 1:
                size.load_ms.append((time.perf_counter() - started) * 1e3)
            if len(page.messages) != size.messages + 1:
                raise RuntimeError(
                    f"expected {size.messages + 1} messages, got {len(page.messages)}"
                )
    return [size for _, size in sessions]


async def _sqlite(
    config: BenchConfig, directory: Path, progress: Callable[[str], None]
) -> list[SizeResult]:
    store = SqliteStore(directory / "store-bench.db")
    await store.open()
    try:
        return await _measure(store, STORES["sqlite"], config, progress)
    finally:
        await store.close()


async def _postgres(
    config: BenchConfig, directory: Path, progress: Callable[[str], None]
) -> list[SizeResult]:
    progress("store: starting a private PostgreSQL (pgserver)")
    async with postgres_server(directory / "store-bench-pg") as server:
        store = PostgresStore(await create_database(server, "store_bench"))
        await store.open()
        try:
            return await _measure(store, STORES["postgres"], config, progress)
        finally:
            await store.close()


async def run(
    config: BenchConfig, directory: Path, *, progress: Callable[[str], None]
) -> StoreResult:
    result = StoreResult()
    for key, measure in (("sqlite", _sqlite), ("postgres", _postgres)):
        stopping.check()
        try:
            result.backends[key] = await measure(config, directory, progress)
        except Exception as exc:
            progress(f"  store ({STORES[key]}) failed: {exc!r}")
            result.failures[key] = f"{type(exc).__name__}: {exc}"
    if not result.backends:
        raise RuntimeError("; ".join(f"{STORES[k]}: {v}" for k, v in result.failures.items()))
    return result
