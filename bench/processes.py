"""The processes under test: started as children, measured, always stopped."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 8.0
WANTED_OPEN_FILES = 65536


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def raise_open_file_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raises this process's soft RLIMIT_NOFILE (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# Linux's CPU-time clock of another process (what clock_getcpuclockid gives):
# nanosecond resolution, where /proc's user + system times come in 10 ms ticks.
_CPUCLOCK_SCHED = 2


def _process_clock(pid: int) -> int:
    return ((~pid) << 3) | _CPUCLOCK_SCHED


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of a process, all its threads included (dead ones too)."""
    try:
        return time.clock_gettime(_process_clock(process.pid))
    except (OSError, OverflowError):
        t = process.cpu_times()
        return float(t.user + t.system)


_LIVE: set[Child] = set()


@dataclass(eq=False)
class Child:
    """A child process with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    process: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.process = psutil.Process(self.popen.pid)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def open_file_limit(self) -> int:
        soft, _ = self.process.rlimit(psutil.RLIMIT_NOFILE)
        return int(soft)

    def loaded(self, name: str) -> bool:
        """Whether a shared library whose path contains `name` is mapped
        (e.g. "uvloop": the process runs on uvloop)."""
        with contextlib.suppress(psutil.Error):
            return any(name in m.path for m in self.process.memory_maps())
        return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if not self.alive:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go in time."""
        _LIVE.discard(self)
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT)


def spawn(name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [PYTHON, *args],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    child = Child(name, popen, log_path)
    _LIVE.add(child)
    return child


def stop_all() -> None:
    """Signals every live child first, then waits for each."""
    live = list(_LIVE)
    for child in live:
        with contextlib.suppress(Exception):
            if child.alive:
                child.popen.terminate()
    for child in live:
        with contextlib.suppress(Exception):
            child.stop()


_PROBLEM_MARKS = ("WARNING", "ERROR", "CRITICAL", "Traceback", "Exception")


def log_problems(log_dir: Path) -> dict[str, list[str]]:
    """Per child log: the lines that look like warnings, errors or tracebacks."""
    problems: dict[str, list[str]] = {}
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        problems[log.stem] = [line for line in lines if any(k in line for k in _PROBLEM_MARKS)]
    return problems


atexit.register(stop_all)


@contextlib.contextmanager
def children() -> Iterator[None]:
    """Every child started inside is stopped on the way out, whatever happens."""
    try:
        yield
    finally:
        stop_all()


async def wait_http(child: Child, url: str, within: float = READY_TIMEOUT) -> None:
    """Polls `url` until it answers 200."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            child.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name} did not answer {url} in {within:.0f} s")
            await asyncio.sleep(0.05)


async def wait_grpc(child: Child, target: str, within: float = READY_TIMEOUT) -> None:
    """The standard gRPC health check, waiting for the server to come up."""
    deadline = time.monotonic() + within
    async with grpc.aio.insecure_channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
        while True:
            child.check_alive()
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service=""), wait_for_ready=True, timeout=1.0
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name} was not SERVING in {within:.0f} s")
            await asyncio.sleep(0.05)


@dataclass
class Usage:
    """CPU time and memory of one process over a stretch of work."""

    cpu_seconds: float
    rss_before: int
    rss_peak: int
    rss_after: int


class Meter:
    """Measures CPU time (before/after) and samples RSS of some processes
    while a block runs: ``async with Meter({"server": child}) as m: ...``."""

    def __init__(self, processes: Mapping[str, psutil.Process], interval: float = 0.05) -> None:
        self._processes = dict(processes)
        self._interval = interval
        self._cpu: dict[str, float] = {}
        self._before: dict[str, int] = {}
        self._peak: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.usage: dict[str, Usage] = {}
        self.wall_seconds = 0.0
        self._started = 0.0

    def _sample(self) -> None:
        for name, p in self._processes.items():
            with contextlib.suppress(psutil.Error):
                rss = int(p.memory_info().rss)
                self._peak[name] = max(self._peak.get(name, 0), rss)

    async def _sampler(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self._interval)

    async def __aenter__(self) -> Meter:
        for name, p in self._processes.items():
            self._cpu[name] = cpu_seconds(p)
            self._before[name] = int(p.memory_info().rss)
            self._peak[name] = self._before[name]
        self._started = time.perf_counter()
        self._task = asyncio.create_task(self._sampler())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.wall_seconds = time.perf_counter() - self._started
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample()
        for name, p in self._processes.items():
            with contextlib.suppress(psutil.Error):
                self.usage[name] = Usage(
                    cpu_seconds=cpu_seconds(p) - self._cpu[name],
                    rss_before=self._before[name],
                    rss_peak=self._peak[name],
                    rss_after=int(p.memory_info().rss),
                )
