"""The machine and software a run measured, for the report's header."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

PACKAGES = ("grpcio", "protobuf", "ollama", "httpx", "starlette", "sse-starlette", "uvicorn")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class Machine:
    date: str
    logical_cores: int
    physical_cores: int
    cpu_model: str
    memory_gb: float
    system: str
    python: str
    uvloop: bool
    httptools: bool
    versions: dict[str, str]
    commit: str
    dirty: bool

    @classmethod
    def describe(cls, root: Path) -> Machine:
        versions = {}
        for name in PACKAGES:
            try:
                versions[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "-"
        return cls(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            logical_cores=os.cpu_count() or 0,
            physical_cores=psutil.cpu_count(logical=False) or 0,
            cpu_model=_cpu_model(),
            memory_gb=psutil.virtual_memory().total / 2**30,
            system=f"{platform.system()} {platform.release()}",
            python=platform.python_version(),
            uvloop=_installed("uvloop"),
            httptools=_installed("httptools"),
            versions=versions,
            commit=_git(root, "rev-parse", "--short", "HEAD"),
            dirty=bool(_git(root, "status", "--porcelain", "--untracked-files=no")),
        )
