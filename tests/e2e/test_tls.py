"""The bridge over TLS and mutual TLS to the server, and serving HTTPS itself.

Certificates come from throwaway CAs made for each test (trustme). The bridge
runs on a real uvicorn in the test's loop, or as a real process where its own
start-up (settings to uvicorn) is what is tested.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from pydantic import ValidationError

from bridge.app import create_app
from bridge.config import BridgeSettings
from mochi_grpc.config import Settings
from mochi_grpc.server import start
from tests import certificates
from tests.embedded import EmbeddedServer
from tests.fakes import FakeOllama, Reply
from tests.server_process import GUARD, free_port

MODEL = "llama3.2:latest"


@asynccontextmanager
async def _server(settings: Settings, **tls: Any) -> AsyncIterator[str]:
    """The gRPC server with the TLS settings given; yields its target."""
    running = await start(Settings(**{**settings.model_dump(), **tls}))
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        await running.stop(0)


@asynccontextmanager
async def _bridge(settings: BridgeSettings) -> AsyncIterator[httpx.AsyncClient]:
    bridge = await EmbeddedServer.start(create_app(settings), lifespan="on")
    try:
        async with httpx.AsyncClient(base_url=bridge.url + "/api/v1", timeout=GUARD) as http:
            yield http
    finally:
        await bridge.stop()


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


@pytest.fixture
def ca_file(tmp_path: Path, ca: trustme.CA) -> Path:
    return certificates.ca_file(tmp_path, "ca", ca)


@pytest.fixture
async def tls_target(settings: Settings, server_files: tuple[Path, Path]) -> AsyncIterator[str]:
    cert, key = server_files
    async with _server(settings, tls_cert_file=cert, tls_key_file=key) as target:
        yield target


@pytest.fixture
async def mtls_target(
    settings: Settings, server_files: tuple[Path, Path], client_ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[str]:
    cert, key = server_files
    client_ca_file = certificates.ca_file(tmp_path, "client-ca", client_ca)
    async with _server(
        settings, tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=client_ca_file
    ) as target:
        yield target


async def test_bridge_trusting_the_ca_works_over_tls(
    tls_target: str, ca_file: Path, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Reply(content=["Over", " TLS"]))
    settings = BridgeSettings(grpc_target=tls_target, grpc_tls_ca_file=ca_file)

    async with _bridge(settings) as http:
        created = await http.post("/sessions", json={"model": MODEL})
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]
        answered = await http.post(f"/chat/{session_id}", json={"message": "hi"})
        listed = await http.get("/sessions")

    assert answered.status_code == 200, answered.text
    assert answered.json()["message"]["content"] == "Over TLS"
    assert [s["session_id"] for s in listed.json()["sessions"]] == [session_id]


async def test_bridge_without_the_ca_setting_cannot_reach_a_tls_server(tls_target: str) -> None:
    async with _bridge(BridgeSettings(grpc_target=tls_target)) as http:
        response = await http.get("/health")

    _unavailable(response)


async def test_bridge_with_its_client_certificate_works_over_mutual_tls(
    mtls_target: str, ca_file: Path, client_ca: trustme.CA, tmp_path: Path
) -> None:
    cert, key = certificates.pem_files(tmp_path, "bridge", client_ca.issue_cert("mochi-bridge"))
    settings = BridgeSettings(
        grpc_target=mtls_target,
        grpc_tls_ca_file=ca_file,
        grpc_tls_cert_file=cert,
        grpc_tls_key_file=key,
    )

    async with _bridge(settings) as http:
        created = await http.post("/sessions", json={"model": MODEL})
        listed = await http.get("/sessions")

    assert created.status_code == 201, created.text
    assert [s["session_id"] for s in listed.json()["sessions"]] == [created.json()["session_id"]]


async def test_bridge_without_a_client_certificate_cannot_reach_a_mutual_tls_server(
    mtls_target: str, ca_file: Path
) -> None:
    settings = BridgeSettings(grpc_target=mtls_target, grpc_tls_ca_file=ca_file)

    async with _bridge(settings) as http:
        response = await http.get("/health")

    _unavailable(response)


@pytest.fixture
async def named_target(settings: Settings, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[str]:
    """A server whose certificate names a host only, reached by its IP."""
    cert, key = certificates.pem_files(tmp_path, "named", ca.issue_cert("mochi.internal"))
    async with _server(settings, tls_cert_file=cert, tls_key_file=key) as target:
        yield target


async def test_server_name_setting_checks_the_certificate_for_that_name(
    named_target: str, ca_file: Path
) -> None:
    settings = BridgeSettings(
        grpc_target=named_target, grpc_tls_ca_file=ca_file, grpc_tls_server_name="mochi.internal"
    )

    async with _bridge(settings) as http:
        response = await http.get("/health")

    assert response.status_code == 200, response.text


async def test_certificate_not_naming_the_target_is_refused(
    named_target: str, ca_file: Path
) -> None:
    settings = BridgeSettings(grpc_target=named_target, grpc_tls_ca_file=ca_file)

    async with _bridge(settings) as http:
        response = await http.get("/health")

    _unavailable(response)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["https_cert_file"], "MOCHI_HTTPS_CERT_FILE is set but MOCHI_HTTPS_KEY_FILE is not"),
        (["https_key_file"], "MOCHI_HTTPS_KEY_FILE is set but MOCHI_HTTPS_CERT_FILE is not"),
        (
            ["grpc_tls_ca_file", "grpc_tls_cert_file"],
            "MOCHI_GRPC_TLS_CERT_FILE is set but MOCHI_GRPC_TLS_KEY_FILE is not",
        ),
        (
            ["grpc_tls_cert_file", "grpc_tls_key_file"],
            "MOCHI_GRPC_TLS_CERT_FILE needs MOCHI_GRPC_TLS_CA_FILE",
        ),
        (["grpc_tls_server_name"], "MOCHI_GRPC_TLS_SERVER_NAME needs MOCHI_GRPC_TLS_CA_FILE"),
    ],
)
def test_half_a_tls_setting_is_refused_with_what_is_missing(
    ca_file: Path, given: list[str], message: str
) -> None:
    values: dict[str, Any] = {
        name: "mochi.internal" if name.endswith("_name") else ca_file for name in given
    }

    with pytest.raises(ValidationError) as refused:
        BridgeSettings(**values)

    assert message in str(refused.value)


@pytest.fixture
async def https_bridge(
    tls_target: str, ca_file: Path, ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[str]:
    """`python -m bridge` serving HTTPS with a certificate from `ca`, over TLS
    to the server; yields the host:port it serves on."""
    cert, key = certificates.pem_files(tmp_path, "https", ca.issue_cert("127.0.0.1"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MOCHI_")},
        "MOCHI_HOST": "127.0.0.1",
        "MOCHI_PORT": str(port),
        "MOCHI_GRPC_TARGET": tls_target,
        "MOCHI_GRPC_TLS_CA_FILE": str(ca_file),
        "MOCHI_HTTPS_CERT_FILE": str(cert),
        "MOCHI_HTTPS_KEY_FILE": str(key),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        running = await asyncio.wait_for(_line_with(proc.stderr, "Uvicorn running on"), GUARD)
        assert f"https://127.0.0.1:{port}" in running, running
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        await proc.wait()


async def _line_with(stream: asyncio.StreamReader, text: str) -> str:
    seen = []
    while line := (await stream.readline()).decode():
        if text in line:
            return line
        seen.append(line)
    raise AssertionError(f"the process ended without saying {text!r}:\n{''.join(seen)}")


async def test_bridge_serves_https_to_a_client_trusting_the_ca(
    https_bridge: str, ca: trustme.CA
) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async with httpx.AsyncClient(verify=trusting, timeout=GUARD) as client:
        response = await client.get(f"https://{https_bridge}/api/v1/health")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


async def test_bridge_serving_https_answers_no_plain_http(https_bridge: str) -> None:
    async with httpx.AsyncClient(timeout=GUARD) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"http://{https_bridge}/api/v1/health")
