"""Scenario 6: the same concurrent streams through 1 and through 2 server replicas.

Every configuration runs on PostgreSQL: one private server (pgserver), a
fresh database per configuration, shared by its replicas
(MOCHI_DATABASE_URL; each replica also gets a data directory of its own).
The client is one gRPC channel over all the replicas with gRPC's client-side
round_robin load balancing, so consecutive calls go to different replicas:
a session is created through one replica and usually streamed through
another. Sessions are created first; then every stream starts at once (as in
the concurrency scenario, whose measurement this reuses, but over gRPC rather
than the bridge).

On a 2-core machine a second replica brings no speed-up (the offered load is
fixed: streams x rate tokens/s, and all processes share the same cores);
what this shows is that nothing breaks and that the cost per stream stays
flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import psycopg

from bench import postgres, stopping
from bench.clients import grpc_stream
from bench.config import BenchConfig, Level
from bench.scenarios.concurrency import GRACE_SECONDS, SETTLE_SECONDS, LevelResult, measure_streams
from bench.stack import Channels, FakeOllama, Server, create_sessions, start_servers

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


@dataclass
class ReplicaRun:
    """One configuration: `replicas` servers sharing one database."""

    replicas: int
    streams: LevelResult
    # CPU time of the whole PostgreSQL server while the streams ran.
    database_cpu_seconds: float = math.nan
    # What the database held afterwards (None: it could not be read).
    sessions_in_database: int | None = None
    # Turns each replica ran, as the database records them, most first.
    turns_per_replica: list[int] = field(default_factory=list)

    @property
    def level(self) -> Level:
        return self.streams.level

    @property
    def server_names(self) -> list[str]:
        return [name for name in self.streams.usage if name.startswith("server")]

    @property
    def server_cpu_seconds(self) -> float:
        names = self.server_names
        if len(names) != self.replicas:
            return math.nan
        return sum(self.streams.usage[name].cpu_seconds for name in names)

    @property
    def server_cpu_ms_per_stream(self) -> float:
        return self.server_cpu_seconds * 1e3 / self.level.streams

    @property
    def server_cpu_us_per_token(self) -> float:
        tokens = self.streams.tokens
        return self.server_cpu_seconds * 1e6 / tokens if tokens else math.nan

    @property
    def database_cpu_ms_per_stream(self) -> float:
        return self.database_cpu_seconds * 1e3 / self.level.streams

    @property
    def tokens_per_second(self) -> float:
        wall = self.streams.wall_seconds
        return self.streams.tokens / wall if wall > 0 else math.nan

    @property
    def stored_in_postgres(self) -> bool | None:
        """Whether the replicas kept their sessions in the shared database
        (a server that ignores MOCHI_DATABASE_URL uses SQLite in its data dir)."""
        if self.sessions_in_database is None:
            return None
        return self.sessions_in_database >= self.level.streams


@dataclass
class ReplicasResult:
    level: Level
    runs: list[ReplicaRun] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def run_with(self, replicas: int) -> ReplicaRun | None:
        return next((r for r in self.runs if r.replicas == replicas), None)


async def _database_counts(url: str) -> tuple[int | None, list[int]]:
    """Sessions in the database, and the turns of each replica."""
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT count(*) FROM sessions")
            row = await cursor.fetchone()
            sessions = int(row[0]) if row else 0
            turns: list[int] = []
            with contextlib.suppress(psycopg.Error):
                cursor = await conn.execute(
                    "SELECT count(*) FROM turns GROUP BY replica_id ORDER BY 1 DESC"
                )
                turns = [int(r[0]) for r in await cursor.fetchall()]
            return sessions, turns
    except psycopg.Error:
        # No sessions table: nothing was ever stored there.
        return 0, []


async def _configuration(
    replicas: int,
    level: Level,
    fake: FakeOllama,
    database: PostgresServer,
    log_dir: Path,
    progress: Callable[[str], None],
) -> ReplicaRun:
    url = await postgres.create_database(database, f"replicas{replicas}")
    progress(f"replicas: starting {replicas} server(s) on one PostgreSQL database")
    servers: list[Server] = await start_servers(
        [f"r{replicas}-{i + 1}" for i in range(replicas)],
        fake.url,
        log_dir,
        {"MOCHI_DATABASE_URL": url},
    )
    run = ReplicaRun(replicas, LevelResult(level))
    channels = Channels.round_robin([s.grpc_target for s in servers])
    try:
        await asyncio.wait_for(channels.channel.channel_ready(), 30.0)
        progress(f"replicas ({replicas}): creating {level.streams} sessions")
        sessions = await create_sessions(channels.sessions, level.model, level.streams)
        # Also lets every replica's connection come up before the streams start.
        await asyncio.sleep(SETTLE_SECONDS)
        await fake.reset_stats()
        processes: dict[str, psutil.Process] = {
            f"server {i + 1}": s.child.process for i, s in enumerate(servers)
        }
        processes |= {"fake": fake.child.process, "driver": psutil.Process()}
        progress(f"replicas ({replicas}): {level.streams} streams of {level.tokens} tokens")
        database_cpu = postgres.cpu_seconds(database)
        await measure_streams(
            run.streams,
            sessions,
            lambda _, s: grpc_stream(
                channels.chat, s, timed=True, rpc_timeout=level.seconds + GRACE_SECONDS
            ),
            processes,
        )
        run.database_cpu_seconds = postgres.cpu_seconds(database) - database_cpu
        run.streams.peak_ollama_requests = (await fake.stats())["peak"]
    finally:
        await channels.close()
        for server in servers:
            server.stop()
    run.sessions_in_database, run.turns_per_replica = await _database_counts(url)
    s = run.streams
    progress(
        f"  completed {s.completed}/{level.streams}, errors {s.errors}"
        + (f" {s.error_kinds}" if s.error_kinds else "")
        + f", {run.tokens_per_second:,.0f} tok/s, added delay"
        f" p50 {s.delay(50):.1f} ms p99 {s.delay(99):.1f} ms, server CPU"
        f" {run.server_cpu_ms_per_stream:.2f} ms/stream, turns per replica"
        f" {run.turns_per_replica}"
    )
    return run


async def run(
    config: BenchConfig, fake: FakeOllama, log_dir: Path, *, progress: Callable[[str], None]
) -> ReplicasResult:
    level = config.replica_level
    result = ReplicasResult(level)
    progress("replicas: starting a private PostgreSQL (pgserver)")
    async with postgres.postgres_server(log_dir / "replicas-pg") as database:
        for replicas in config.replica_counts:
            stopping.check()
            try:
                result.runs.append(
                    await _configuration(replicas, level, fake, database, log_dir, progress)
                )
            except Exception as exc:
                progress(f"  {replicas} replica(s) failed: {exc!r}")
                result.failures.append(f"{replicas} replica(s): {type(exc).__name__}: {exc}")
    return result
