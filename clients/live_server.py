"""Runs a command against a live mochi-grpc server backed by the fake Ollama.

    python clients/live_server.py -- go test ./...

Starts the fake Ollama and the server on free loopback ports, exports
MOCHI_GRPC_TARGET (host:port of the server) and MOCHI_FAKE_OLLAMA_URL for the
command, waits until the server answers its health check, runs the command,
stops both and exits with the command's status. The fake echoes every message
("You said: ...") a word at a time, 20 ms apart, so a stream can be stopped
part-way.

With --secure the server requires API keys and speaks mutual TLS: the
command gets an admin key in MOCHI_API_KEY and the CA, a client certificate
and its key in MOCHI_GRPC_TLS_CA_FILE, MOCHI_GRPC_TLS_CERT_FILE and
MOCHI_GRPC_TLS_KEY_FILE (certificates made for the run by trustme).

Its agents are those of tests/fixtures/agents: wordsmith, which can run, and
two that cannot (broken, faulty).

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


def _wait_serving(target: str, tls: dict[str, str]) -> None:
    credentials = (
        grpc.ssl_channel_credentials(
            Path(tls["MOCHI_GRPC_TLS_CA_FILE"]).read_bytes(),
            Path(tls["MOCHI_GRPC_TLS_KEY_FILE"]).read_bytes(),
            Path(tls["MOCHI_GRPC_TLS_CERT_FILE"]).read_bytes(),
        )
        if tls
        else None
    )
    channel = (
        grpc.insecure_channel(target)
        if credentials is None
        else grpc.secure_channel(target, credentials)
    )
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stub.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=READY_SECONDS)


def _certificates(directory: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A CA, the server's certificate and a client's; the server's settings
    and the client's."""
    import trustme  # a dev dependency, made for test certificates

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("mochi-client@example.org")
    files = {
        "ca.pem": ca.cert_pem.bytes(),
        "server.pem": b"".join(blob.bytes() for blob in server.cert_chain_pems),
        "server.key": server.private_key_pem.bytes(),
        "client.pem": b"".join(blob.bytes() for blob in client.cert_chain_pems),
        "client.key": client.private_key_pem.bytes(),
    }
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return (
        {
            "MOCHI_TLS_CERT_FILE": str(directory / "server.pem"),
            "MOCHI_TLS_KEY_FILE": str(directory / "server.key"),
            "MOCHI_TLS_CLIENT_CA_FILE": str(directory / "ca.pem"),
        },
        {
            "MOCHI_GRPC_TLS_CA_FILE": str(directory / "ca.pem"),
            "MOCHI_GRPC_TLS_CERT_FILE": str(directory / "client.pem"),
            "MOCHI_GRPC_TLS_KEY_FILE": str(directory / "client.key"),
        },
    )


def _admin_key(env: dict[str, str]) -> str:
    """A new admin key in the server's store; its token."""
    made = subprocess.run(
        [sys.executable, "-m", "mochi_grpc", "keys", "create", "clients", "--admin"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--secure", action="store_true", help="API keys required and mutual TLS on the server"
    )
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
            "MOCHI_AGENTS_DIR": str(ROOT / "tests" / "fixtures" / "agents"),
            "MOCHI_LOG_LEVEL": "WARNING",
            # Off: the clients' tests read none, and the default port may be taken.
            "MOCHI_METRICS_PORT": "0",
            # grpcio logs every client hang-up at info level otherwise.
            "GRPC_VERBOSITY": "ERROR",
        }
        client_env: dict[str, str] = {}
        if args.secure:
            server_tls, client_env = _certificates(Path(data))
            env.update(server_tls, MOCHI_AUTH="required")
            client_env["MOCHI_API_KEY"] = _admin_key(env)
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
            tls = {k: v for k, v in client_env.items() if k.startswith("MOCHI_GRPC_TLS")}
            _wait_serving(target, tls)
            _wait_serving(droppable, tls)
            started = time.monotonic()
            code = subprocess.call(
                command,
                env={
                    **env,
                    "MOCHI_GRPC_TARGET": target,
                    "MOCHI_FAKE_OLLAMA_URL": ollama_url,
                    "MOCHI_DROPPABLE_TARGET": droppable,
                    "MOCHI_DROPPABLE_PID": str(proxy.pid),
                    **client_env,
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
