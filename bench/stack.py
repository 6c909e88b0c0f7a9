"""Starting the fake Ollama, the mochi server and bridge, and the bare servers."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import LOOPBACK, Child, free_port, spawn, wait_grpc, wait_http
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as session_pb
from mochi_grpc.stubs import ChatStub, SessionStub

ROUND_ROBIN = '{"loadBalancingConfig": [{"round_robin": {}}]}'


@dataclass
class FakeOllama:
    child: Child
    url: str

    async def reset_stats(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            (await client.post(f"{self.url}/bench/stats/reset")).raise_for_status()

    async def stats(self) -> dict[str, int]:
        """Chat requests: ``active``, ``peak`` since the reset, ``total``."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(f"{self.url}/bench/stats")
            response.raise_for_status()
            stats: dict[str, int] = response.json()
            return stats


async def start_fake(log_dir: Path, models: Sequence[str], loop: str) -> FakeOllama:
    port = free_port()
    args = ["-m", "bench.fast_ollama", "--host", LOOPBACK, "--port", str(port), "--loop", loop]
    for model in models:
        args += ["--model", model]
    child = spawn("fast_ollama", args, {}, log_dir)
    url = f"http://{LOOPBACK}:{port}"
    await wait_http(child, f"{url}/api/version")
    return FakeOllama(child, url)


@dataclass(frozen=True)
class Runtime:
    """The event loops and HTTP implementation the server and bridge run on."""

    server_loop: str
    bridge_loop: str
    bridge_http: str


@dataclass
class Mochi:
    """The mochi gRPC server and the bridge in front of it."""

    label: str
    server: Child
    bridge: Child
    grpc_target: str
    http_url: str
    data_dir: Path
    metrics_port: int  # the server's /metrics (0: its metrics are off)

    def runtime(self) -> Runtime:
        """What the processes actually loaded (their mapped libraries)."""
        return Runtime(
            server_loop="uvloop" if self.server.loaded("uvloop") else "asyncio",
            bridge_loop="uvloop" if self.bridge.loaded("uvloop") else "asyncio",
            bridge_http="httptools" if self.bridge.loaded("httptools") else "h11",
        )

    def stop(self) -> None:
        self.bridge.stop()
        self.server.stop()

    def stream_url(self, session_id: str) -> str:
        return f"{self.http_url}/api/v1/chat/{session_id}/stream"

    async def turns_counted(self) -> float | None:
        """mochi_turns_started_total as the server's /metrics shows it (None:
        metrics off, or no such series): a check that metrics were on."""
        if not self.metrics_port:
            return None
        url = f"http://{LOOPBACK}:{self.metrics_port}/metrics"
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(url)
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "mochi_turns_started_total":
                    return float(sample.value)
        return None


@dataclass
class Server:
    """One mochi gRPC server process."""

    label: str
    child: Child
    grpc_target: str
    data_dir: Path
    metrics_port: int

    def stop(self) -> None:
        self.child.stop()


def spawn_server(
    label: str, fake_url: str, log_dir: Path, env: Mapping[str, str] | None = None
) -> Server:
    """Starts a server (``python -m mochi_grpc``) on a free port and a data
    directory of its own, its metrics on (as by default) on another free port;
    `env` adds to or overrides its MOCHI_* settings (MOCHI_METRICS_PORT=0: off)."""
    grpc_port = free_port()
    data_dir = tempfile.mkdtemp(prefix=f"mochi-bench-{label}-", dir=log_dir)
    settings = {"MOCHI_METRICS_PORT": str(free_port()), **(env or {})}
    child = spawn(
        f"{label}-server",
        ["-m", "mochi_grpc"],
        {
            "MOCHI_HOST": LOOPBACK,
            "MOCHI_GRPC_PORT": str(grpc_port),
            "MOCHI_OLLAMA_HOST": fake_url,
            "MOCHI_DATA_DIR": data_dir,
            "MOCHI_LOG_LEVEL": "WARNING",
            "MOCHI_MAX_CONCURRENT_TURNS": "2000",
            **settings,
        },
        log_dir,
    )
    metrics_port = int(settings["MOCHI_METRICS_PORT"])
    return Server(label, child, f"{LOOPBACK}:{grpc_port}", Path(data_dir), metrics_port)


async def start_servers(
    labels: Sequence[str], fake_url: str, log_dir: Path, env: Mapping[str, str] | None = None
) -> list[Server]:
    """Several servers started together, each SERVING before this returns."""
    servers = [spawn_server(label, fake_url, log_dir, env) for label in labels]
    try:
        await asyncio.gather(*(wait_grpc(s.child, s.grpc_target) for s in servers))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


async def start_mochi(
    label: str,
    fake_url: str,
    log_dir: Path,
    *,
    coalesce: bool | None = None,
    server_metrics: bool = True,
) -> Mochi:
    """Server and bridge as two processes; ``coalesce=False`` sets
    MOCHI_STREAM_COALESCE=false on both, ``server_metrics=False``
    MOCHI_METRICS_PORT=0 on the server (the bridge has no such switch)."""
    http_port = free_port()
    extra = {} if coalesce is None else {"MOCHI_STREAM_COALESCE": str(coalesce).lower()}
    server_env = extra if server_metrics else {**extra, "MOCHI_METRICS_PORT": "0"}
    server = spawn_server(label, fake_url, log_dir, server_env)
    bridge = spawn(
        f"{label}-bridge",
        ["-m", "bridge"],
        {
            "MOCHI_HOST": LOOPBACK,
            "MOCHI_PORT": str(http_port),
            "MOCHI_GRPC_TARGET": server.grpc_target,
            "MOCHI_LOG_LEVEL": "WARNING",
            **extra,
        },
        log_dir,
    )
    url = f"http://{LOOPBACK}:{http_port}"
    try:
        await wait_grpc(server.child, server.grpc_target)
        await wait_http(bridge, f"{url}/api/v1/health")
    except BaseException:
        bridge.stop()
        server.stop()
        raise
    return Mochi(
        label, server.child, bridge, server.grpc_target, url, server.data_dir, server.metrics_port
    )


@dataclass
class Bare:
    """The bare gRPC server and the bare Starlette app in front of it."""

    grpc_server: Child
    http_server: Child
    grpc_target: str
    http_url: str

    def stop(self) -> None:
        self.http_server.stop()
        self.grpc_server.stop()


async def start_bare(
    log_dir: Path, runtime: Runtime, *, relay: tuple[str, str] | None = None
) -> Bare:
    """The bare servers, on the event loops and HTTP implementation of ours;
    with `relay` (Ollama's URL, a model) the gRPC one relays that model's
    replies (see bench.bare_grpc)."""
    grpc_port, http_port = free_port(), free_port()
    target = f"{LOOPBACK}:{grpc_port}"
    label = "bare" if relay is None else "relay"
    relaying = [] if relay is None else ["--ollama", relay[0], "--model", relay[1]]
    grpc_server = spawn(
        f"{label}-grpc",
        [
            "-m",
            "bench.bare_grpc",
            "--port",
            str(grpc_port),
            "--loop",
            runtime.server_loop,
            *relaying,
        ],
        {},
        log_dir,
    )
    http_server = spawn(
        f"{label}-http",
        [
            "-m",
            "bench.bare_http",
            "--port",
            str(http_port),
            "--grpc-target",
            target,
            "--loop",
            runtime.bridge_loop,
            "--http",
            runtime.bridge_http,
        ],
        {},
        log_dir,
    )
    url = f"http://{LOOPBACK}:{http_port}"
    try:
        await wait_grpc(grpc_server, target)
        await wait_http(http_server, f"{url}/health")
    except BaseException:
        http_server.stop()
        grpc_server.stop()
        raise
    return Bare(grpc_server, http_server, target, url)


async def create_session(stub: SessionStub, model: str, rpc_timeout: float = 30.0) -> str:
    reply = await stub.CreateSession(
        session_pb.CreateSessionRequest(model=model), timeout=rpc_timeout
    )
    return reply.session.session_id


async def create_sessions(
    stub: SessionStub, model: str, count: int, concurrency: int = 32
) -> list[str]:
    """`count` sessions, at most `concurrency` requests at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate:
            return await create_session(stub, model)

    return list(await asyncio.gather(*(one() for _ in range(count))))


@dataclass
class Channels:
    """One client channel to a gRPC server and its stubs."""

    channel: grpc.aio.Channel
    chat: ChatStub
    sessions: SessionStub

    @classmethod
    def open(cls, target: str) -> Channels:
        channel = grpc.aio.insecure_channel(target)
        return cls(channel, ChatStub(channel), SessionStub(channel))

    @classmethod
    def round_robin(cls, targets: Sequence[str]) -> Channels:
        """One channel over several servers (``host:port``), each call to the
        next one: gRPC's own client-side round_robin load balancing."""
        channel = grpc.aio.insecure_channel(
            "ipv4:" + ",".join(targets), options=[("grpc.service_config", ROUND_ROBIN)]
        )
        return cls(channel, ChatStub(channel), SessionStub(channel))

    async def close(self) -> None:
        await self.channel.close()
