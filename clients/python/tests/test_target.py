"""Reading gRPC targets."""

from __future__ import annotations

import pytest

from mochi_client._target import Address, parse_target


@pytest.mark.parametrize(
    ("target", "address"),
    [
        ("localhost:50051", Address(host="localhost", port=50051)),
        ("127.0.0.1:9", Address(host="127.0.0.1", port=9)),
        ("example.org", Address(host="example.org", port=50051)),
        ("dns:///example.org:443", Address(host="example.org", port=443)),
        ("[::1]:8080", Address(host="::1", port=8080)),
        ("[::1]", Address(host="::1", port=50051)),
        ("unix:/tmp/mochi.sock", Address(path="/tmp/mochi.sock")),
        ("unix:///tmp/mochi.sock", Address(path="/tmp/mochi.sock")),
    ],
)
def test_parse_target(target: str, address: Address) -> None:
    assert parse_target(target) == address


@pytest.mark.parametrize("target", ["::1", "host:port", "host:0", "[::1]x", ":50051"])
def test_bad_target(target: str) -> None:
    with pytest.raises(ValueError, match="target"):
        parse_target(target)
