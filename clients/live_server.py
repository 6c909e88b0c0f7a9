"""Runs a command against a live mochi-grpc server backed by the fake Ollama.

    python clients/live_server.py -- go test ./...

Starts the fake Ollama and the server on free loopback ports, exports
MOCHI_GRPC_TARGET (host:port of the server) and MOCHI_FAKE_OLLAMA_URL for the
command, waits until the server answers its health check, runs the command,
stops both and exits with the command's status. The fake echoes every message
("You said: ...") a word at a time, 20 ms apart, so a stream can be stopped
part-way.

It also exports MOCHI_DROPPABLE_TARGET, the address of a proxy to the same
server, and MOCHI_DROPPABLE_PID: `kill -USR1 $MOCHI_DROPPABLE_PID` cuts every
connection through that proxy, as a network that drops would (resume tests).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_serving(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stub.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=READY_SECONDS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    ollama_port, grpc_port, proxy_port = _free_port(), _free_port(), _free_port()
    ollama_url = f"http://127.0.0.1:{ollama_port}"
    target = f"127.0.0.1:{grpc_port}"
    with tempfile.TemporaryDirectory(prefix="mochi-clients-") as data:
        env = {
            **os.environ,
            "MOCHI_HOST": "127.0.0.1",
            "MOCHI_GRPC_PORT": str(grpc_port),
            "MOCHI_OLLAMA_HOST": ollama_url,
            "MOCHI_DATA_DIR": data,
            "MOCHI_LOG_LEVEL": "WARNING",
            # grpcio logs every client hang-up at info level otherwise.
            "GRPC_VERBOSITY": "ERROR",
        }
        fake = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes",
                "--port",
                str(ollama_port),
                "--chunk-delay",
                "0.02",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        server = subprocess.Popen([sys.executable, "-m", "mochi_grpc"], cwd=ROOT, env=env)
        proxy = subprocess.Popen(
            [sys.executable, str(ROOT / "clients" / "drop_proxy.py"), str(proxy_port), target],
            cwd=ROOT,
        )
        droppable = f"127.0.0.1:{proxy_port}"
        try:
            _wait_serving(target)
            _wait_serving(droppable)
            started = time.monotonic()
            code = subprocess.call(
                command,
                env={
                    **env,
                    "MOCHI_GRPC_TARGET": target,
                    "MOCHI_FAKE_OLLAMA_URL": ollama_url,
                    "MOCHI_DROPPABLE_TARGET": droppable,
                    "MOCHI_DROPPABLE_PID": str(proxy.pid),
                },
            )
            seconds = time.monotonic() - started
            print(f"live_server: {' '.join(command)} exited {code} after {seconds:.1f} s")
            return code
        finally:
            for process in (proxy, server, fake):
                process.terminate()
            for process in (proxy, server, fake):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    sys.exit(main())
