"""Settings from MOCHI_* variables, with CLI flags winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from mochi_grpc.config import Settings, parse_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["MOCHI_HOST", "MOCHI_GRPC_PORT", "MOCHI_PORT", "MOCHI_OLLAMA_HOST"]:
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert (settings.host, settings.grpc_port, settings.port) == ("127.0.0.1", 50051, 8000)
    assert settings.ollama_host == "http://localhost:11434"
    assert settings.resolved_grpc_target == "127.0.0.1:50051"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOCHI_GRPC_PORT", "6000")
    monkeypatch.setenv("MOCHI_DATA_DIR", str(tmp_path))

    settings = parse_settings([])

    assert settings.grpc_port == 6000
    assert settings.database_path == tmp_path / "mochi.db"


def test_flags_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCHI_GRPC_PORT", "6000")
    monkeypatch.setenv("MOCHI_OLLAMA_HOST", "http://env:1")

    settings = parse_settings(["--grpc-port", "7000", "--log-level", "debug"])

    assert settings.grpc_port == 7000
    assert settings.log_level == "DEBUG"
    assert settings.ollama_host == "http://env:1"


def test_bad_port_in_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCHI_GRPC_PORT", "99999")

    with pytest.raises(ValueError, match="grpc_port"):
        Settings()
