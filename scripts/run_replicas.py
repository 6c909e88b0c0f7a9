"""`make run-replicas`: a local PostgreSQL, N server replicas on it and one
bridge over all of them, to try several replicas on one machine.

PostgreSQL is a private server from the pgserver package (no system
packages), its data under MOCHI_DATA_DIR/pg (./data/pg), its database
"mochi". Replica i listens on MOCHI_GRPC_PORT + i (50051, 50052, ...) and
serves its metrics on MOCHI_METRICS_PORT + i (9464, 9465, ...; 0: none); the
bridge on MOCHI_PORT balances calls over them round-robin. A replica that
exits (kill -9 one to see the others take over its sessions) is reported and
the rest keep serving; Ctrl-C or SIGTERM stops the bridge, the replicas, then
PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

DATABASE = "mochi"


def _postgres_url(data_dir: Path) -> tuple[PostgresServer, str]:
    """Starts (or reuses) the private PostgreSQL; returns it and the URL of its database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        from pgserver.postgres_server import get_server

        server = get_server(data_dir / "pg", cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return server, server.get_uri(DATABASE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=".venv/bin", help="where mochi-grpc and mochi-bridge are")
    parser.add_argument("-n", "--replicas", type=int, default=int(os.environ.get("N", "3")))
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    data_dir = Path(os.environ.get("MOCHI_DATA_DIR", "data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("MOCHI_HOST", "127.0.0.1")
    first_port = int(os.environ.get("MOCHI_GRPC_PORT", "50051"))
    ports = [first_port + i for i in range(args.replicas)]
    first_metrics_port = int(os.environ.get("MOCHI_METRICS_PORT", "9464"))

    server, url = _postgres_url(data_dir)
    print(f"PostgreSQL {DATABASE} (data in {data_dir / 'pg'}) at {url}", flush=True)
    base = {**os.environ, "MOCHI_DATA_DIR": str(data_dir), "MOCHI_DATABASE_URL": url}
    replicas = {}
    for i, port in enumerate(ports):
        metrics_port = first_metrics_port + i if first_metrics_port else 0
        process = subprocess.Popen(
            [f"{args.bin}/mochi-grpc"],
            env={**base, "MOCHI_GRPC_PORT": str(port), "MOCHI_METRICS_PORT": str(metrics_port)},
        )
        replicas[process] = port
        metrics = f"http://{host}:{metrics_port}/metrics" if metrics_port else "off"
        print(f"replica pid {process.pid} on {host}:{port}, metrics {metrics}", flush=True)
    target = ",".join(f"{host}:{port}" for port in ports)
    bridge = subprocess.Popen(
        [f"{args.bin}/mochi-bridge"], env={**base, "MOCHI_GRPC_TARGET": target}
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    status = 0
    try:
        status = _watch(bridge, replicas)
    except KeyboardInterrupt:
        pass
    finally:
        for process in [bridge, *replicas]:
            if process.poll() is None:
                process.terminate()
        for process in [bridge, *replicas]:
            process.wait()
        server.cleanup()
    return status


def _watch(bridge: subprocess.Popen[bytes], replicas: dict[subprocess.Popen[bytes], int]) -> int:
    """Runs until the bridge or every replica has exited; returns a status."""
    running = dict(replicas)
    while running:
        pid, wait_status = os.wait()
        code = os.waitstatus_to_exitcode(wait_status)
        if pid == bridge.pid:
            bridge.returncode = code
            print(f"the bridge exited ({code}); stopping", file=sys.stderr, flush=True)
            return 1
        for process, port in list(running.items()):
            if process.pid == pid:
                process.returncode = code
                del running[process]
                print(
                    f"replica on port {port} (pid {pid}) exited; {len(running)} left",
                    file=sys.stderr,
                    flush=True,
                )
    print("every replica exited; stopping", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
