"""MOCHI_GRPC_TARGET read as one server or several replicas, refused when gRPC could not use it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.config import BridgeSettings, parse_settings
from bridge.targets import TargetError, channel_target


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("mochi.internal:50051", "mochi.internal:50051"),
        ("[::1]:50051", "[::1]:50051"),
        (" localhost:50051 ", "localhost:50051"),
        ("127.0.0.1:50051,127.0.0.1:50052", "ipv4:127.0.0.1:50051,127.0.0.1:50052"),
        ("localhost:50051, localhost:50052", "ipv4:127.0.0.1:50051,127.0.0.1:50052"),
        ("10.0.0.1:1,LOCALHOST:2,10.0.0.3:3", "ipv4:10.0.0.1:1,127.0.0.1:2,10.0.0.3:3"),
        ("[::1]:50051,[fd00::2]:50052", "ipv6:[::1]:50051,[fd00::2]:50052"),
    ],
)
def test_plain_targets_become_grpc_targets(value: str, target: str) -> None:
    assert channel_target(value) == target


@pytest.mark.parametrize(
    "value",
    [
        "ipv4:127.0.0.1:50051,127.0.0.1:50052",
        "ipv6:[::1]:50051,[::1]:50052",
        "dns:///mochi:50051",
        "dns:mochi:50051",
        "unix:/run/mochi.sock",
        "unix:///run/mochi.sock",
        "xds:///mochi",
    ],
)
def test_a_target_with_a_scheme_goes_to_grpc_unchanged(value: str) -> None:
    assert channel_target(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1:50051,", "has an empty entry"),
        ("127.0.0.1:50051,,127.0.0.1:50052", "has an empty entry"),
        ("mochi", "'mochi' is not a server address (it has no port"),
        ("127.0.0.1,127.0.0.1:50052", "'127.0.0.1' is not a server address (it has no port"),
        (":50051", "it has no host"),
        ("mochi:http", "it needs a port from 1 to 65535"),
        ("mochi:0", "it needs a port from 1 to 65535"),
        ("127.0.0.1:65536,127.0.0.1:1", "it needs a port from 1 to 65535"),
        ("::1:50051", "write an IPv6 address as [ipv6]:port"),
        ("[::1]50051", "write it as [ipv6]:port"),
        ("mochi-a:50051,mochi-b:50051", "lists the host name 'mochi-a'"),
        ("127.0.0.1:50051,[::1]:50052", "mixes IPv4 and IPv6 addresses"),
    ],
)
def test_a_target_naming_no_server_is_refused_with_why(value: str, message: str) -> None:
    with pytest.raises(TargetError) as refused:
        channel_target(value)

    assert message in str(refused.value)


def test_a_list_of_host_names_is_refused_with_the_dns_form_suggested() -> None:
    with pytest.raises(TargetError, match="dns:///name:port"):
        channel_target("mochi-a:50051,mochi-b:50051")


def test_the_environment_s_list_of_replicas_is_the_channel_s_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOCHI_GRPC_TARGET", "127.0.0.1:50051,127.0.0.1:50052")

    settings = BridgeSettings()

    assert settings.resolved_grpc_target == "ipv4:127.0.0.1:50051,127.0.0.1:50052"


def test_the_flag_takes_a_list_of_replicas_too() -> None:
    settings = parse_settings(["--grpc-target", "localhost:7001,localhost:7002"])

    assert settings.resolved_grpc_target == "ipv4:127.0.0.1:7001,127.0.0.1:7002"


def test_an_empty_target_means_the_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCHI_GRPC_TARGET", "")

    settings = BridgeSettings(grpc_port=6000)

    assert settings.resolved_grpc_target == "127.0.0.1:6000"


def test_a_bad_target_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCHI_GRPC_TARGET", "mochi-a:50051,mochi-b:50051")

    with pytest.raises(ValidationError) as refused:
        BridgeSettings()

    assert "lists the host name 'mochi-a'" in str(refused.value)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("a CA certificate (never read by these tests)\n")
    return path


def test_tls_to_several_addresses_needs_the_certificate_s_host_name(ca_file: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        BridgeSettings(grpc_target="127.0.0.1:50051,127.0.0.1:50052", grpc_tls_ca_file=ca_file)

    assert "set MOCHI_GRPC_TLS_SERVER_NAME" in str(refused.value)


@pytest.mark.parametrize(
    ("target", "server_name"),
    [
        ("127.0.0.1:50051,127.0.0.1:50052", "mochi.internal"),
        ("dns:///mochi.internal:50051", None),
        ("ipv4:127.0.0.1:50051", None),
    ],
)
def test_tls_to_replicas_with_a_host_to_check_is_accepted(
    ca_file: Path, target: str, server_name: str | None
) -> None:
    settings = BridgeSettings(
        grpc_target=target, grpc_tls_ca_file=ca_file, grpc_tls_server_name=server_name
    )

    assert settings.grpc_tls is not None
    assert settings.grpc_tls.server_name == server_name
