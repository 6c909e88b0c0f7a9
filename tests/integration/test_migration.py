"""The mochi-grpc command as a real process: import-sessions, export-sessions, serve."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from grpc_health.v1 import health_pb2

from tests.fakes import FakeOllama
from tests.server_process import GUARD, free_port, serving

FIXTURES = Path(__file__).parent.parent / "fixtures"
SESSIONS = FIXTURES / "mochi_server_sessions"
EXPORTED = FIXTURES / "mochi_server_exported"
GOOD = ["a1b2c3d4e5.json", "b13b13b13b.json", "c10c10c10c.json"]


def _env(data_dir: Path) -> dict[str, str]:
    """This environment without MOCHI_* settings, and the data directory given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCHI_")}
    return {**env, "MOCHI_DATA_DIR": str(data_dir)}


def _mochi(data_dir: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mochi_grpc", *map(str, args)],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=GUARD,
        check=False,
    )


def test_import_sessions_reports_each_file_and_fails_when_one_is_rejected(tmp_path: Path) -> None:
    data = tmp_path / "data"

    first = _mochi(data, "import-sessions", SESSIONS)
    again = _mochi(data, "import-sessions", SESSIONS)

    assert first.returncode == 1, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("Session-7.json: rejected: the file name 'Session-7'")
    assert "a1b2c3d4e5.json: imported: 6 messages" in lines
    assert "bad0000002.json: rejected: messages[1]: unknown role 'robot'" in lines
    assert lines[-1] == "10 files: 3 imported, 0 skipped, 7 rejected"
    assert (data / "mochi.db").is_file()  # where the server keeps its sessions
    assert again.returncode == 1
    assert "a1b2c3d4e5.json: skipped: already present" in again.stdout.splitlines()
    assert again.stdout.splitlines()[-1] == "10 files: 0 imported, 3 skipped, 7 rejected"


def test_import_of_good_files_only_succeeds(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for name in GOOD:
        shutil.copy(SESSIONS / name, sessions)

    done = _mochi(tmp_path / "data", "import-sessions", sessions)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "3 files: 3 imported, 0 skipped, 0 rejected"


def test_export_sessions_writes_the_files_and_skips_existing_ones(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    _mochi(data, "import-sessions", SESSIONS)

    exported = _mochi(data, "export-sessions", out)
    skipped = _mochi(data, "export-sessions", out)
    overwritten = _mochi(data, "export-sessions", out, "--overwrite")

    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines() == [
        "a1b2c3d4e5.json: exported: 6 messages",
        "b13b13b13b.json: exported: 3 messages",
        "c10c10c10c.json: exported: 2 messages",
        "3 files: 3 exported, 0 skipped, 0 failed",
    ]
    assert (out / "a1b2c3d4e5.json").read_bytes() == (SESSIONS / "a1b2c3d4e5.json").read_bytes()
    assert (out / "c10c10c10c.json").read_bytes() == (EXPORTED / "c10c10c10c.json").read_bytes()
    assert skipped.returncode == 0
    assert skipped.stdout.splitlines()[-1] == "3 files: 0 exported, 3 skipped, 0 failed"
    assert overwritten.stdout.splitlines()[-1] == "3 files: 3 exported, 0 skipped, 0 failed"


def test_the_data_dir_flag_wins_over_the_environment(tmp_path: Path) -> None:
    flagged = tmp_path / "flagged"

    done = _mochi(tmp_path / "env", "import-sessions", SESSIONS, "--data-dir", flagged)

    assert done.returncode == 1
    assert (flagged / "mochi.db").is_file()
    assert not (tmp_path / "env").exists()


def test_usage_errors_exit_with_2_and_change_nothing(tmp_path: Path) -> None:
    missing = _mochi(tmp_path / "data", "import-sessions", tmp_path / "nowhere")
    no_database = _mochi(tmp_path / "data", "export-sessions", tmp_path / "out")
    unknown = _mochi(tmp_path / "data", "import-session", SESSIONS)

    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr
    assert no_database.returncode == 2
    assert "there is no database at" in no_database.stderr
    assert unknown.returncode == 2
    assert "invalid choice: 'import-session'" in unknown.stderr
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "out").exists()


def test_help_lists_the_commands_and_the_exit_status(tmp_path: Path) -> None:
    top = _mochi(tmp_path, "--help")
    import_help = _mochi(tmp_path, "import-sessions", "--help")
    serve_help = _mochi(tmp_path, "serve", "--help")

    assert top.returncode == 0
    assert all(c in top.stdout for c in ["serve", "import-sessions", "export-sessions"])
    assert "exit status: 0 when every file was imported or skipped, 1 when any file was" in (
        import_help.stdout
    )
    assert "--grpc-port" in serve_help.stdout


async def test_serve_starts_the_server_with_its_flags(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    port = free_port()
    env = {
        **_env(tmp_path),
        "MOCHI_OLLAMA_HOST": fake_ollama.url,
        "MOCHI_GRPC_PORT": "1",
        "MOCHI_METRICS_PORT": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mochi_grpc", "serve", "--grpc-port", str(port), env=env
    )
    try:
        health = await serving(f"127.0.0.1:{port}")  # the flag won over MOCHI_GRPC_PORT

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), GUARD)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert code == 0
