"""API key and TLS settings: from the constructor or the environment, half a
setting refused before any connection, the key sent with every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import CREDENTIALS_ENV
from grpclib.events import SendRequest, listen

from mochi_client import MochiClient, MochiError, sync_channel

MISSING = "0123456789"


@pytest.fixture
def no_credentials_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without MOCHI_API_KEY and MOCHI_GRPC_TLS_*."""
    for name in CREDENTIALS_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.usefixtures("no_credentials_env")
async def test_without_settings_the_connection_is_plaintext() -> None:
    async with MochiClient("localhost:1") as client:
        assert not client.secure


@pytest.mark.usefixtures("no_credentials_env")
@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"cert_file": "client.pem"}, "cert_file .* is set but key_file .* is not"),
        ({"key_file": "client.key"}, "key_file .* is set but cert_file .* is not"),
        ({"ca_file": "ca.pem", "cert_file": "client.pem"}, "key_file"),
        ({"cert_file": "client.pem", "key_file": "client.key"}, "cert_file .* needs ca_file"),
        ({"server_name": "mochi.example.org"}, "server_name .* needs ca_file"),
    ],
)
async def test_half_a_tls_setting_is_refused(files: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MochiClient("localhost:1", **files)


async def test_half_a_tls_setting_in_the_environment_is_refused(
    no_credentials_env: pytest.MonkeyPatch,
) -> None:
    no_credentials_env.setenv("MOCHI_GRPC_TLS_CERT_FILE", "client.pem")
    with pytest.raises(ValueError, match="MOCHI_GRPC_TLS_KEY_FILE"):
        MochiClient("localhost:1")


@pytest.mark.usefixtures("no_credentials_env")
async def test_an_unreadable_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the CA file"):
        MochiClient("localhost:1", ca_file=tmp_path / "missing.pem")


@pytest.mark.usefixtures("no_credentials_env")
def test_a_sync_channel_refuses_the_same(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs its key"):
        sync_channel("localhost:1", ca_file="ca.pem", cert_file="client.pem")
    with pytest.raises(ValueError, match="cannot read the CA file"):
        sync_channel("localhost:1", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValueError, match="target"):
        sync_channel("host:port")


@pytest.mark.usefixtures("no_credentials_env")
async def test_tls_files_with_ssl_false_are_refused() -> None:
    with pytest.raises(ValueError, match="ssl=False"):
        MochiClient("localhost:1", ca_file="ca.pem", ssl=False)


async def test_ssl_false_leaves_the_environment_s_tls_unused(
    no_credentials_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_credentials_env.setenv("MOCHI_GRPC_TLS_CA_FILE", str(tmp_path / "missing.pem"))
    async with MochiClient("localhost:1", ssl=False) as client:
        assert not client.secure


async def test_empty_settings_override_the_environment(
    no_credentials_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_credentials_env.setenv("MOCHI_GRPC_TLS_CA_FILE", str(tmp_path / "missing.pem"))
    async with MochiClient("localhost:1", ca_file="") as client:
        assert not client.secure


@pytest.mark.usefixtures("no_credentials_env")
async def test_tls_over_a_unix_socket_needs_a_server_name() -> None:
    with pytest.raises(ValueError, match="server_name"):
        MochiClient("unix:/tmp/mochi.sock", ssl=True)


@pytest.mark.usefixtures("no_credentials_env")
@pytest.mark.parametrize("key", ["two words", "line\nbreak", "caf\u00e9"])
async def test_a_key_no_header_can_carry_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="API key"):
        MochiClient("localhost:1", api_key=key)


def sent_authorization(client: MochiClient) -> list[str | None]:
    """The `authorization` metadata of each call the client makes from now on."""
    sent: list[str | None] = []

    async def record(event: SendRequest) -> None:
        value = event.metadata.get("authorization")
        sent.append(value if isinstance(value, str) else None)

    listen(client._channel, SendRequest, record)
    return sent


async def test_the_key_goes_with_every_call(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("MOCHI_API_KEY", " token-from-env\n")
    async with MochiClient(target) as client:
        sent = sent_authorization(client)
        # NOT_FOUND, or UNAUTHENTICATED from a server that wants a real key
        with pytest.raises(MochiError):
            await client.get_session(MISSING, timeout=5)
        with pytest.raises(MochiError):
            async for _ in client.watch_turn(MISSING, timeout=5):
                pytest.fail("no event expected")
    assert sent == ["Bearer token-from-env", "Bearer token-from-env"]


async def test_an_empty_key_sends_none(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("MOCHI_API_KEY", "token-from-env")
    async with MochiClient(target, api_key="") as client:
        sent = sent_authorization(client)
        with pytest.raises(MochiError):
            await client.get_session(MISSING, timeout=5)
    assert sent == [None]
