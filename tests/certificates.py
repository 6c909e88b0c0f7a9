"""Certificates for the TLS tests, as the PEM files an operator has; made
by a throwaway CA (trustme) for each test, never checked in."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


def pem_files(directory: Path, name: str, cert: trustme.LeafCert) -> tuple[Path, Path]:
    """`cert`'s chain and private key as PEM files."""
    chain, key = directory / f"{name}.crt", directory / f"{name}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    return chain, key


def ca_file(directory: Path, name: str, ca: trustme.CA) -> Path:
    path = directory / f"{name}.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return path


# Fixtures of the TLS tests (pulled into them by tests/conftest.py).


@pytest.fixture
def ca() -> trustme.CA:
    """The CA that signed the server's certificate (and the bridge's HTTPS one)."""
    return trustme.CA()


@pytest.fixture
def client_ca() -> trustme.CA:
    """The CA whose client certificates a mutual-TLS server accepts."""
    return trustme.CA()


@pytest.fixture
def server_files(tmp_path: Path, ca: trustme.CA) -> tuple[Path, Path]:
    """The server's certificate chain and key, for 127.0.0.1 and localhost."""
    return pem_files(tmp_path, "server", ca.issue_cert("127.0.0.1", "localhost"))
