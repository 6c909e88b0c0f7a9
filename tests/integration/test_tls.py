"""TLS and mutual TLS on the gRPC port: whom the handshake lets in.

Certificates come from a throwaway CA made for each test (trustme); the
server is the real one on loopback, reached over real gRPC.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from pydantic import ValidationError

from mochi_grpc._gen.mochi.v1 import chat_service_pb2 as cpb
from mochi_grpc._gen.mochi.v1 import session_service_pb2 as pb
from mochi_grpc.config import Settings
from mochi_grpc.server import start
from mochi_grpc.stubs import ChatStub, SessionStub
from tests import certificates
from tests.fakes import FakeOllama, Reply
from tests.server_process import GUARD, free_port
from tests.support import case, collect, text_of

MODEL = "llama3.2:latest"


def _credentials(
    trusted: trustme.CA, certificate: trustme.LeafCert | None = None
) -> grpc.ChannelCredentials:
    """A client that trusts `trusted` and presents `certificate`, if any."""
    return grpc.ssl_channel_credentials(
        root_certificates=trusted.cert_pem.bytes(),
        private_key=None if certificate is None else certificate.private_key_pem.bytes(),
        certificate_chain=(
            None
            if certificate is None
            else b"".join(blob.bytes() for blob in certificate.cert_chain_pems)
        ),
    )


def _with(settings: Settings, **changes: Any) -> Settings:
    """`settings` with `changes`, validated like the settings of a start."""
    return Settings(**{**settings.model_dump(), **changes})


async def _refused(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    """The error of a call the handshake should not let through."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await SessionStub(channel).ListSessions(pb.ListSessionsRequest(), timeout=GUARD)
    return refused.value


@pytest.fixture
async def tls_server(settings: Settings, server_files: tuple[Path, Path]) -> AsyncIterator[str]:
    cert, key = server_files
    running = await start(_with(settings, tls_cert_file=cert, tls_key_file=key))
    yield f"127.0.0.1:{running.port}"
    await running.stop(0)


@pytest.fixture
async def mtls_server(
    settings: Settings, server_files: tuple[Path, Path], client_ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[str]:
    cert, key = server_files
    running = await start(
        _with(
            settings,
            tls_cert_file=cert,
            tls_key_file=key,
            tls_client_ca_file=certificates.ca_file(tmp_path, "client-ca", client_ca),
        )
    )
    yield f"127.0.0.1:{running.port}"
    await running.stop(0)


async def test_tls_refuses_a_plaintext_client(tls_server: str) -> None:
    async with grpc.aio.insecure_channel(tls_server) as channel:
        refused = await _refused(channel)

    assert refused.code() == grpc.StatusCode.UNAVAILABLE


async def test_tls_serves_a_client_that_trusts_the_ca(
    tls_server: str, ca: trustme.CA, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Reply(content=["Over", " TLS"]))

    async with grpc.aio.secure_channel(tls_server, _credentials(ca)) as channel:
        sessions = SessionStub(channel)
        created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL), timeout=GUARD)
        listed = await sessions.ListSessions(pb.ListSessionsRequest(), timeout=GUARD)
        session_id = created.session.session_id
        events = await collect(
            ChatStub(channel).ChatStream(
                cpb.ChatStreamRequest(session_id=session_id, message="hi"), timeout=GUARD
            )
        )

    assert [s.session_id for s in listed.sessions] == [session_id]
    assert text_of(events) == "Over TLS"
    assert case(events[-1]) == "done"


async def test_tls_refuses_a_client_that_trusts_another_ca(tls_server: str) -> None:
    async with grpc.aio.secure_channel(tls_server, _credentials(trustme.CA())) as channel:
        refused = await _refused(channel)

    assert refused.code() == grpc.StatusCode.UNAVAILABLE
    # The server did present a certificate: the client would not vouch for it.
    assert "CERTIFICATE_VERIFY_FAILED" in (refused.details() or "")


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    mtls_server: str, ca: trustme.CA
) -> None:
    async with grpc.aio.secure_channel(mtls_server, _credentials(ca)) as channel:
        refused = await _refused(channel)

    assert refused.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_serves_a_client_with_a_certificate_from_the_client_ca(
    mtls_server: str, ca: trustme.CA, client_ca: trustme.CA
) -> None:
    credentials = _credentials(ca, client_ca.issue_cert("bridge"))

    async with grpc.aio.secure_channel(mtls_server, credentials) as channel:
        sessions = SessionStub(channel)
        created = await sessions.CreateSession(pb.CreateSessionRequest(model=MODEL), timeout=GUARD)
        listed = await sessions.ListSessions(pb.ListSessionsRequest(), timeout=GUARD)

    assert [s.session_id for s in listed.sessions] == [created.session.session_id]


async def test_mutual_tls_refuses_a_client_certificate_from_another_ca(
    mtls_server: str, ca: trustme.CA
) -> None:
    credentials = _credentials(ca, trustme.CA().issue_cert("bridge"))

    async with grpc.aio.secure_channel(mtls_server, credentials) as channel:
        refused = await _refused(channel)

    assert refused.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["tls_cert_file"], "MOCHI_TLS_CERT_FILE is set but MOCHI_TLS_KEY_FILE is not"),
        (["tls_key_file"], "MOCHI_TLS_KEY_FILE is set but MOCHI_TLS_CERT_FILE is not"),
        (["tls_client_ca_file"], "MOCHI_TLS_CLIENT_CA_FILE (mutual TLS) needs MOCHI_TLS_CERT_FILE"),
    ],
)
def test_half_a_tls_setting_is_refused_with_what_is_missing(
    settings: Settings, server_files: tuple[Path, Path], given: list[str], message: str
) -> None:
    some_pem_file = server_files[0]

    with pytest.raises(ValidationError) as refused:
        _with(settings, **dict.fromkeys(given, some_pem_file))

    assert message in str(refused.value)


def _process_env(data_dir: Path, ollama_url: str, **settings: str) -> dict[str, str]:
    """The environment of a server process: only the MOCHI_* variables given."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MOCHI_")},
        "MOCHI_HOST": "127.0.0.1",
        "MOCHI_GRPC_PORT": str(free_port()),
        "MOCHI_OLLAMA_HOST": ollama_url,
        "MOCHI_DATA_DIR": str(data_dir),
        "MOCHI_METRICS_PORT": "0",
        **{f"MOCHI_{name.upper()}": value for name, value in settings.items()},
    }


async def _line_with(stream: asyncio.StreamReader, text: str) -> str:
    seen = []
    while line := (await stream.readline()).decode():
        if text in line:
            return line
        seen.append(line)
    raise AssertionError(f"the process ended without saying {text!r}:\n{''.join(seen)}")


async def test_server_process_with_a_certificate_but_no_key_exits_saying_so(
    tmp_path: Path, fake_ollama: FakeOllama, server_files: tuple[Path, Path]
) -> None:
    cert, _ = server_files
    env = _process_env(tmp_path, fake_ollama.url, tls_cert_file=str(cert))

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mochi_grpc", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), GUARD)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode != 0
    assert "MOCHI_TLS_CERT_FILE is set but MOCHI_TLS_KEY_FILE is not" in stderr.decode()


async def test_server_process_says_at_start_up_that_it_runs_mutual_tls(
    tmp_path: Path,
    fake_ollama: FakeOllama,
    server_files: tuple[Path, Path],
    client_ca: trustme.CA,
) -> None:
    cert, key = server_files
    env = _process_env(
        tmp_path,
        fake_ollama.url,
        tls_cert_file=str(cert),
        tls_key_file=str(key),
        tls_client_ca_file=str(certificates.ca_file(tmp_path, "client-ca", client_ca)),
    )

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mochi_grpc", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(_line_with(proc.stderr, "listening on"), GUARD)
    finally:
        proc.kill()
        await proc.wait()

    assert "mutual TLS" in line
